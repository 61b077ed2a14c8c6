"""A private Apache + mod_wsgi per test session, serving this checkout over HTTPS."""

from __future__ import annotations

import http.client
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.private_apache import (
    ApacheUnavailable,
    PrivateApache,
    Reply,
    missing_prerequisites,
    system_venv,
)
from tests.helpers import skip_or_fail
from tests.smtp_server import SmtpServer


class Client:
    """Plain HTTP(S) requests that trust the instance's certificate and follow no redirect."""

    def __init__(self, apache: PrivateApache) -> None:
        self.apache = apache
        self.tls = ssl.create_default_context(cafile=str(apache.cert))

    def request(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        https: bool = True,
    ) -> Reply:
        if https:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                "localhost", self.apache.https_port, context=self.tls, timeout=30
            )
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.apache.http_port, timeout=30)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            connection.close()


def start_instance(mount: str, **options: object) -> Iterator[PrivateApache]:
    problem = missing_prerequisites()
    if problem:
        skip_or_fail(f"Apache suite: {problem}")
    apache = PrivateApache(venv=system_venv(), mount=mount, **options)  # type: ignore[arg-type]
    try:
        apache.start()
    except ApacheUnavailable as error:
        apache.cleanup()
        pytest.fail(str(error))
    try:
        yield apache
    finally:
        apache.stop()
        apache.cleanup()


@pytest.fixture(scope="session")
def apache(smtp_server: SmtpServer) -> Iterator[PrivateApache]:
    """The Flask-only vhost: the app at /, sending its mail to ``smtp_server``.

    Logging at INFO: a test finds the process that served a request by the
    app's line for it (production's default, WARNING, leaves it out).
    """
    yield from start_instance("", mail_port=smtp_server.port, environment={"LOG_LEVEL": "INFO"})


@pytest.fixture(scope="session")
def mixed_apache() -> Iterator[PrivateApache]:
    """The mixed vhost: a static site at /, the app at /app."""
    yield from start_instance("/app")


@pytest.fixture
def web(apache: PrivateApache) -> Client:
    return Client(apache)


@pytest.fixture
def mixed_web(mixed_apache: PrivateApache) -> Client:
    return Client(mixed_apache)


# Apache's own records at error level or worse. mod_wsgi logs everything the app
# writes to stderr as [wsgi:error], so the app's records are judged by their own level.
_APACHE_ERROR = re.compile(r"\] \[[a-z_0-9]+:(error|crit|alert|emerg)\] ")
_APP_RECORD = re.compile(
    r"\] \d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) "
)


def error_lines(apache: PrivateApache) -> list[str]:
    """Every line of the instance's error logs that reports an error."""
    found = []
    for log in sorted((apache.root / "logs").glob("*error*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if not _APACHE_ERROR.search(line):
                continue
            record = _APP_RECORD.search(line)
            if record and record[1] in ("DEBUG", "INFO", "WARNING"):
                continue
            found.append(f"{log.name}: {line}")
    return found


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
