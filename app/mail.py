"""Outgoing mail: one message, rendered from templates, delivered within MAIL_TIMEOUT.

``send()`` is what the account features call. Each message has a plain-text and
an HTML part, rendered from ``templates/email/<name>.txt`` and ``.html``; both
extend a base that names the site. Links in them come from ``external_url()``
(``url_for`` in a mail template is the same function): built from PUBLIC_URL,
never from the request's Host header, which the client chooses.

Delivery is SMTP through the standard library's ``smtplib``, with STARTTLS or
TLS checked against the system's certificate authorities (``SSL_CERT_FILE``
adds a private one). Flask-Mail is not used: its connection has no timeout, so
a hung mail server would hang the request, and its STARTTLS does not check the
server's certificate. Without MAIL_SERVER, development and the tests write each
message whole into MAIL_FOLDER (``instance/mail``) instead; production then
sends nothing (its start-up check requires a server while MAIL_ENABLED is on).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import current_app, render_template

from config import single_address

from .public_urls import PublicUrlMissing, absolute_url

logger = logging.getLogger(__name__)

# What a page says when send() returned False: the message is not lost in a
# queue, so the person should know to try again rather than wait for it.
FAILURE_MESSAGE = (
    "We could not send the email just now. Nothing was sent; please try again in a few minutes."
)


class MailError(Exception):
    """A message could not be composed or delivered; the text says why, in one line."""


def send(to: str, subject: str, template: str, **context: Any) -> bool:
    """Send the ``email/<template>`` pair to ``to``; True once it is delivered.

    Delivered means the mail server accepted it (or, without MAIL_SERVER outside
    production, it was written to MAIL_FOLDER). Waits at most MAIL_TIMEOUT. A
    failure (refused connection, timeout, TLS, authentication, a refused
    address) is one warning in the log, tagged with the request id, and False:
    the view tells the person (``FAILURE_MESSAGE``). A template that cannot be
    rendered is a bug and raises. MAIL_ENABLED is for the callers to check (it
    switches the features that need mail); this function sends whenever it can.
    """
    try:
        message = compose(to, subject, template, **context)
        where = deliver(message)
    except MailError as error:
        logger.warning("mail %r to %s not sent: %s", subject, _one_line(to), error)
        return False
    logger.info("mail %r to %s %s", subject, message["To"], where)
    return True


def compose(to: str, subject: str, template: str, **context: Any) -> EmailMessage:
    """The message ``send()`` delivers: headers, a text part and an HTML part."""
    config = current_app.config
    _check_transport(config)
    recipient = single_address(to)
    if recipient is None:
        raise MailError(f"{_one_line(to)!r} is not one mail address")
    sender = config.get("MAIL_DEFAULT_SENDER")
    sender_address = single_address(sender or "")
    if sender_address is None:
        raise MailError("MAIL_DEFAULT_SENDER is not set")
    values = {
        "site_name": config["SITE_NAME"],
        "subject": subject,
        "external_url": external_url,
        # A mail is read far from any request: a link must be absolute and public.
        "url_for": external_url,
        **context,
    }
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender_address
    message["To"] = recipient
    message["Date"] = format_datetime(datetime.now(UTC))
    # With no domain, make_msgid asks the resolver for this machine's name, which may hang.
    message["Message-ID"] = make_msgid(domain=sender_address.domain)
    # RFC 3834: vacation responders and the like do not answer it.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(render_template(f"email/{template}.txt", **values))
    message.add_alternative(render_template(f"email/{template}.html", **values), subtype="html")
    return message


def deliver(message: EmailMessage) -> str:
    """Hand ``message`` to the mail server, or write it to MAIL_FOLDER without one.

    Returns where it went, for a log line ("sent through HOST:PORT"); raises
    MailError with the reason when it went nowhere.
    """
    config = current_app.config
    _check_transport(config)
    if config.get("MAIL_SERVER"):
        _send_smtp(message, config)
        return f"sent through {config['MAIL_SERVER']}:{config['MAIL_PORT']}"
    path = _write_to_folder(message, Path(config["MAIL_FOLDER"]))
    return f"written to {path} (no MAIL_SERVER is set)"


def _check_transport(config: Mapping[str, Any]) -> None:
    # Production never falls back to the folder: mail written there reaches nobody.
    if not config.get("MAIL_SERVER") and config.get("CONFIG_NAME") == "production":
        raise MailError("MAIL_SERVER is not set")


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute address of ``endpoint`` for a mail: PUBLIC_URL and the app's own path.

    Works with or without a request, and ignores the request's host and script
    root alike: PUBLIC_URL carries the prefix the app is mounted under.
    ``_anchor`` adds a fragment, as with ``url_for``.
    """
    anchor = values.pop("_anchor", None)
    try:
        url = absolute_url(endpoint, **values)
    except PublicUrlMissing:
        raise MailError("PUBLIC_URL is not set, so a mail cannot link to the site") from None
    if anchor is not None:
        url += "#" + quote(str(anchor), safe="")
    return url


def _send_smtp(message: EmailMessage, config: Mapping[str, Any]) -> None:
    host, port, timeout = config["MAIL_SERVER"], config["MAIL_PORT"], config["MAIL_TIMEOUT"]
    # One deadline for the whole conversation: smtplib's timeout bounds each
    # wait, and a server that answers slowly step after step must not add them up.
    deadline = time.monotonic() + timeout

    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    tls = ssl.create_default_context()
    helo = _helo_name(config.get("PUBLIC_URL"))
    try:
        client: smtplib.SMTP
        if config["MAIL_USE_SSL"]:
            client = smtplib.SMTP_SSL(
                host, port, local_hostname=helo, timeout=remaining(), context=tls
            )
        else:
            client = smtplib.SMTP(host, port, local_hostname=helo, timeout=remaining())
        try:
            steps: list[Callable[[], object]] = []
            if config["MAIL_USE_TLS"]:
                steps.append(lambda: client.starttls(context=tls))
            if config.get("MAIL_USERNAME"):
                username, password = config["MAIL_USERNAME"], config.get("MAIL_PASSWORD") or ""
                steps.append(lambda: client.login(username, password))
            steps.append(lambda: client.send_message(message))
            for step in steps:
                _wait_at_most(client, remaining())
                step()
            # Delivered: a failed goodbye changes nothing.
            try:
                _wait_at_most(client, remaining())
                client.quit()
            except (OSError, smtplib.SMTPException):
                pass
        finally:
            client.close()
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(_smtp_failure(error, host, port, timeout)) from None


def _wait_at_most(client: smtplib.SMTP, seconds: float) -> None:
    """Bound the next wait on the server (the socket is None only once it is closed)."""
    if client.sock is not None:
        client.sock.settimeout(seconds)


def _helo_name(public_url: str | None) -> str:
    """How this site names itself to the mail server (EHLO).

    smtplib asks the resolver for the machine's name by default, a wait that no
    timeout bounds; the site's public host name is the better answer anyway.
    """
    host = urlsplit(public_url).hostname if public_url else None
    if not host:
        return socket.gethostname()
    try:
        ip_address(host)
    except ValueError:
        return host
    # An address is written in brackets (RFC 5321, address literal).
    return f"[{host}]"


def _smtp_failure(error: BaseException, host: str, port: int, timeout: float) -> str:
    """One line saying why the mail server did not take the message, and what to check."""
    where = f"{host}:{port}"
    # smtplib reports a read that timed out as a lost connection; the timeout is the news.
    if isinstance(error, TimeoutError) or isinstance(error.__context__, TimeoutError):
        return f"{where} did not answer within {timeout:g} s (MAIL_TIMEOUT)"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"{where} refused MAIL_USERNAME and MAIL_PASSWORD ({_reply(error)})"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(f"{code} {_one_line(text)}" for code, text in _refusals(error))
        return f"{where} refused the recipient ({replies})"
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"{where} refused the sender MAIL_DEFAULT_SENDER ({_reply(error)})"
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return f"{where}: {_one_line(str(error))} (check MAIL_USE_TLS, MAIL_USE_SSL and MAIL_PORT)"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{where} answered {_reply(error)}"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return (
            f"{where} closed the connection ({_one_line(str(error))}); check MAIL_USE_SSL and "
            "MAIL_PORT"
        )
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"the certificate of {where} is not trusted ({error.verify_message})"
    if isinstance(error, ssl.SSLError):
        return (
            f"TLS with {where} failed ({error.reason or error}); check MAIL_USE_SSL, "
            "MAIL_USE_TLS and MAIL_PORT"
        )
    if isinstance(error, ConnectionRefusedError):
        return f"{where} refused the connection; check MAIL_SERVER and MAIL_PORT"
    if isinstance(error, socket.gaierror):
        return f"MAIL_SERVER {host} cannot be resolved ({error.strerror})"
    return f"{where}: {_one_line(str(error)) or type(error).__name__}"


def _refusals(error: smtplib.SMTPRecipientsRefused) -> list[tuple[int, str]]:
    return [(code, _text(reply)) for code, reply in error.recipients.values()]


def _reply(error: smtplib.SMTPResponseException) -> str:
    return f"{error.smtp_code} {_one_line(_text(error.smtp_error))}"


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _one_line(text: str) -> str:
    """``text`` with line breaks and other controls as spaces: it cannot forge a log line."""
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", text).strip()


def _write_to_folder(message: EmailMessage, folder: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:12]}.eml"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Complete under a temporary name first, so whoever watches the folder
        # never opens half a message. mkstemp makes it private (0600): the links
        # in a reset mail let whoever reads them into the account.
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".mail-", suffix=".tmp")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(message.as_bytes(policy=SMTP))
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise MailError(f"MAIL_FOLDER {folder} cannot be written ({error.strerror})") from None
    return path
