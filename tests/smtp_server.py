"""A real SMTP server for the tests: aiosmtpd on 127.0.0.1, keeping what it receives.

Also a listener that accepts connections and never answers (a hung mail server),
and a self-signed certificate for 127.0.0.1 made with the ``openssl`` command.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    """One message as the server got it: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    over_tls: bool
    login: str | None


@dataclass
class Inbox:
    """aiosmtpd's handler: stores every message it accepts."""

    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=default)
        assert isinstance(message, EmailMessage)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        with self.lock:
            self.received.append(
                Received(
                    mail_from=envelope.mail_from,
                    rcpt_tos=list(envelope.rcpt_tos),
                    message=message,
                    over_tls=session.ssl is not None,
                    login=login,
                )
            )
        return "250 Message accepted for delivery"

    def clear(self) -> None:
        with self.lock:
            self.received.clear()

    def messages(self) -> list[Received]:
        with self.lock:
            return list(self.received)


class SmtpServer:
    """aiosmtpd's Controller on 127.0.0.1 and a free port; ``inbox`` has what arrived.

    ``tls`` makes it offer STARTTLS and require it; ``implicit_tls`` makes it
    speak TLS from the first byte (as on port 465); ``credentials`` (user,
    password) makes it require a log-in, which aiosmtpd allows only over TLS.
    """

    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.inbox = Inbox()
        self.credentials = credentials
        options: dict[str, Any] = {}
        if tls is not None:
            options.update(tls_context=tls, require_starttls=True)
        if credentials is not None:
            options.update(authenticator=self._authenticate, auth_required=True)
        self.port = free_port()
        self.controller = Controller(
            self.inbox,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=implicit_tls,
            **options,
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        expected = tuple(part.encode() for part in self.credentials or ())
        accepted = isinstance(data, LoginPassword) and (data.login, data.password) == expected
        return AuthResult(success=accepted, handled=False, auth_data=data)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the moment of asking)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_server() -> Iterator[int]:
    """A port whose listener completes every TCP connection and then never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        # The kernel accepts connections into the backlog; nobody ever reads them.
        listener.listen(16)
        yield int(listener.getsockname()[1])


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
