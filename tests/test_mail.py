"""Outgoing mail against a real SMTP server on 127.0.0.1 (aiosmtpd), and its settings."""

from __future__ import annotations

import io
import logging
import re
import secrets
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from flask import Flask, request

from app import create_app, mail
from app.logs import LOG_FORMAT, RequestIdFilter
from config import ConfigError
from scripts.private_apache import make_certificate
from tests.smtp_server import (
    Inbox,
    SmtpServer,
    free_port,
    server_tls_context,
    silent_server,
)

SENDER = "Example Site <noreply@example.org>"
PUBLIC_URL = "https://www.example.org/app"
CREDENTIALS = ("mailer", "a mail server password")
# Made per run: a key written in the repository is one production must refuse.
GOOD_KEY = secrets.token_hex(32)
MAIL_VARIABLES = (
    "MAIL_ENABLED",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_DEFAULT_SENDER",
    "MAIL_TIMEOUT",
    "PUBLIC_URL",
    "SITE_NAME",
    "SSL_CERT_FILE",
)


@pytest.fixture(autouse=True)
def no_mail_settings_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MAIL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(scope="session")
def starttls_server(certificate: tuple[Path, Path]) -> Iterator[SmtpServer]:
    server = SmtpServer(tls=server_tls_context(*certificate), credentials=CREDENTIALS).start()
    yield server
    server.stop()


@pytest.fixture
def app_log() -> Iterator[io.StringIO]:
    """What the app's log handlers write (format and request id included), as text."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)


def mail_app(monkeypatch: pytest.MonkeyPatch, **settings: str) -> Flask:
    """An app that mails through 127.0.0.1 with ``settings``, and a page that sends one mail."""
    defaults = {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_USE_TLS": "false",
        "MAIL_DEFAULT_SENDER": SENDER,
        "PUBLIC_URL": PUBLIC_URL,
        "SITE_NAME": "Example Site",
    }
    for name, value in {**defaults, **settings}.items():
        monkeypatch.setenv(name, value)
    app = create_app("testing")

    def send_welcome() -> tuple[str, int]:
        if mail.send(request.args["to"], "Welcome", "test_message"):
            return "sent", 200
        return mail.FAILURE_MESSAGE, 503

    app.add_url_rule("/send-welcome", view_func=send_welcome)
    return app


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    return str(text.get_content()), str(html.get_content())


def warnings_in(log: io.StringIO) -> list[str]:
    return [line for line in log.getvalue().splitlines() if " WARNING " in line]


def test_a_mail_has_a_text_and_an_html_part_naming_the_site(
    inbox: Inbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = mail_app(monkeypatch, MAIL_PORT=str(smtp_server.port))

    response = app.test_client().get("/send-welcome?to=bob@example.com")

    assert response.status_code == 200
    [received] = inbox.messages()
    assert received.mail_from == "noreply@example.org"
    assert received.rcpt_tos == ["bob@example.com"]
    message = received.message
    assert message["Subject"] == "Welcome"
    assert message["From"] == SENDER
    assert message["To"] == "bob@example.com"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"]
    assert message["Message-ID"].endswith("@example.org>")
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    assert "This is a test message from Example Site." in text
    assert "<p>This is a test message from Example Site.</p>" in html
    assert f'<a href="{PUBLIC_URL}/">Example Site</a>' in html


def test_links_come_from_public_url_whatever_host_and_prefix_the_request_names(
    inbox: Inbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = mail_app(monkeypatch, MAIL_PORT=str(smtp_server.port))

    response = app.test_client().get(
        "/send-welcome?to=bob@example.com", base_url="http://evil.example/mounted"
    )

    assert response.status_code == 200
    [received] = inbox.messages()
    text, html = parts(received.message)
    links = set(re.findall(r"https?://[^\s\"<>]+", text + html))
    assert links == {f"{PUBLIC_URL}/", f"{PUBLIC_URL}/about"}
    raw = received.message.as_string()
    assert "evil.example" not in raw
    assert "mounted" not in raw


def test_external_url_needs_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    app = mail_app(monkeypatch, PUBLIC_URL="https://example.org/app/")
    with app.app_context():
        link = mail.external_url("site.user_profile", username="ann lee", page=2, _anchor="posts")
    assert link == "https://example.org/app/users/ann%20lee?page=2#posts"


def test_a_refused_connection_fails_at_once_with_one_warning_naming_the_request(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch, app_log: io.StringIO
) -> None:
    port = free_port()
    app = mail_app(monkeypatch, MAIL_PORT=str(port))

    started = time.monotonic()
    response = app.test_client().get(
        "/send-welcome?to=bob@example.com", headers={"X-Request-ID": "mail-refused-1"}
    )
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.get_data(as_text=True) == mail.FAILURE_MESSAGE
    assert elapsed < 1.0
    [warning] = warnings_in(app_log)
    assert re.fullmatch(
        r"\S+ \S+ WARNING \[pid \d+\] \[mail-refused-1\] app\.mail: mail 'Welcome' to "
        rf"bob@example\.com not sent: 127\.0\.0\.1:{port} refused the connection; check "
        r"MAIL_SERVER and MAIL_PORT",
        warning,
    )
    assert "Traceback" not in app_log.getvalue()
    assert inbox.messages() == []


def test_a_mail_server_that_never_answers_costs_at_most_mail_timeout(
    monkeypatch: pytest.MonkeyPatch, app_log: io.StringIO
) -> None:
    with silent_server() as port:
        app = mail_app(monkeypatch, MAIL_PORT=str(port), MAIL_TIMEOUT="0.5")
        started = time.monotonic()
        response = app.test_client().get(
            "/send-welcome?to=bob@example.com", headers={"X-Request-ID": "mail-hung-1"}
        )
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    # A behaviour bound: the timeout, plus the rest of the request, well under a second.
    assert 0.45 <= elapsed < 1.5
    [warning] = warnings_in(app_log)
    assert "[mail-hung-1] app.mail: mail 'Welcome' to bob@example.com not sent: " in warning
    assert warning.endswith(f"127.0.0.1:{port} did not answer within 0.5 s (MAIL_TIMEOUT)")


def test_starttls_and_a_log_in_deliver_over_a_checked_certificate(
    starttls_server: SmtpServer, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    starttls_server.inbox.clear()
    # The server's self-signed certificate, trusted the way a private CA would be.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    app = mail_app(
        monkeypatch,
        MAIL_PORT=str(starttls_server.port),
        MAIL_USE_TLS="true",
        MAIL_USERNAME=CREDENTIALS[0],
        MAIL_PASSWORD=CREDENTIALS[1],
    )

    assert app.test_client().get("/send-welcome?to=bob@example.com").status_code == 200

    [received] = starttls_server.inbox.messages()
    assert received.over_tls
    assert received.login == "mailer"
    assert received.message["Subject"] == "Welcome"


def test_starttls_refuses_a_certificate_nobody_vouches_for(
    starttls_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, app_log: io.StringIO
) -> None:
    starttls_server.inbox.clear()
    app = mail_app(
        monkeypatch,
        MAIL_PORT=str(starttls_server.port),
        MAIL_USE_TLS="true",
        MAIL_USERNAME=CREDENTIALS[0],
        MAIL_PASSWORD=CREDENTIALS[1],
    )

    assert app.test_client().get("/send-welcome?to=bob@example.com").status_code == 503

    [warning] = warnings_in(app_log)
    assert f"the certificate of 127.0.0.1:{starttls_server.port} is not trusted (" in warning
    assert starttls_server.inbox.messages() == []


def test_a_wrong_mail_password_is_named(
    starttls_server: SmtpServer,
    certificate: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    app_log: io.StringIO,
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    app = mail_app(
        monkeypatch,
        MAIL_PORT=str(starttls_server.port),
        MAIL_USE_TLS="true",
        MAIL_USERNAME=CREDENTIALS[0],
        MAIL_PASSWORD="not the password",
    )

    assert app.test_client().get("/send-welcome?to=bob@example.com").status_code == 503

    [warning] = warnings_in(app_log)
    assert f"127.0.0.1:{starttls_server.port} refused MAIL_USERNAME and MAIL_PASSWORD (535 " in (
        warning
    )
    assert "not the password" not in app_log.getvalue()


def test_tls_from_the_first_byte_with_mail_use_ssl(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = SmtpServer(implicit_tls=server_tls_context(*certificate)).start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
        app = mail_app(
            monkeypatch, MAIL_PORT=str(server.port), MAIL_USE_SSL="true", MAIL_USE_TLS=""
        )
        assert app.config["MAIL_USE_TLS"] is False
        assert app.test_client().get("/send-welcome?to=bob@example.com").status_code == 200
        [received] = server.inbox.messages()
    finally:
        server.stop()
    assert received.message["Subject"] == "Welcome"


def test_a_recipient_that_would_add_a_header_is_refused_before_anything_is_sent(
    inbox: Inbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch, app_log: io.StringIO
) -> None:
    app = mail_app(monkeypatch, MAIL_PORT=str(smtp_server.port))
    with app.app_context():
        assert not mail.send("bob@example.com\r\nBcc: eve@example.com", "Welcome", "test_message")
    [warning] = warnings_in(app_log)
    assert "'bob@example.com Bcc: eve@example.com' is not one mail address" in warning
    assert len(app_log.getvalue().splitlines()) == 1
    assert inbox.messages() == []


def test_development_without_a_mail_server_writes_each_mail_to_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_log: io.StringIO
) -> None:
    app = create_app("development")
    with app.app_context():
        assert mail.send("bob@example.com", "Welcome", "test_message")

    [path] = (tmp_path / "mail").glob("*.eml")
    assert path.stat().st_mode & 0o777 == 0o600
    message = message_from_bytes(path.read_bytes(), policy=default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == "bob@example.com"
    assert message["From"] == "Flask Site <noreply@localhost>"
    text, html = parts(message)
    assert "http://127.0.0.1:5000/about" in text
    assert "Flask Site" in html
    [line] = app_log.getvalue().splitlines()
    assert " INFO [pid " in line
    assert f"mail 'Welcome' to bob@example.com written to {path} (no MAIL_SERVER is set)" in line


def test_production_refuses_to_start_without_what_mail_needs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    with pytest.raises(ConfigError) as refused:
        create_app("production")
    assert str(refused.value) == (
        "MAIL_SERVER, MAIL_DEFAULT_SENDER, PUBLIC_URL are not set, and password reset and "
        "email change confirmation need mail (MAIL_ENABLED is true); set them (see "
        ".env.example), or set MAIL_ENABLED=false to turn those features off"
    )

    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("MAIL_DEFAULT_SENDER", SENDER)
    with pytest.raises(ConfigError, match=r"^PUBLIC_URL is not set, and password reset"):
        create_app("production")


def test_production_starts_without_mail_when_the_features_are_off(
    monkeypatch: pytest.MonkeyPatch, app_log: io.StringIO
) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("MAIL_ENABLED", "false")
    app = create_app("production")
    assert app.config["MAIL_ENABLED"] is False
    with app.app_context():
        assert not mail.send("bob@example.com", "Welcome", "test_message")
    [warning] = warnings_in(app_log)
    assert warning.endswith("not sent: MAIL_SERVER is not set")


def test_production_links_must_be_https(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    monkeypatch.setenv("MAIL_ENABLED", "false")
    monkeypatch.setenv("PUBLIC_URL", "http://www.example.org")
    with pytest.raises(ConfigError, match=r"^PUBLIC_URL must be an absolute https URL"):
        create_app("production")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"PUBLIC_URL": "www.example.org"}, "PUBLIC_URL must be an absolute http(s) URL"),
        ({"PUBLIC_URL": "https://example.org/?next=x"}, "PUBLIC_URL must be the site's address"),
        ({"PUBLIC_URL": "https://user:pw@example.org"}, "PUBLIC_URL must be the site's address"),
        ({"MAIL_USE_SSL": "true", "MAIL_USE_TLS": "true"}, "MAIL_USE_TLS and MAIL_USE_SSL are"),
        ({"MAIL_USE_TLS": "ture"}, "MAIL_USE_TLS must be true or false"),
        ({"MAIL_DEFAULT_SENDER": "noreply"}, "MAIL_DEFAULT_SENDER must be one address"),
        ({"MAIL_DEFAULT_SENDER": "a@example.org, b@example.org"}, "MAIL_DEFAULT_SENDER must"),
        ({"MAIL_TIMEOUT": "0"}, "MAIL_TIMEOUT must be between 0.1 and 30 seconds"),
        ({"MAIL_TIMEOUT": "300"}, "MAIL_TIMEOUT must be between 0.1 and 30 seconds"),
        ({"MAIL_PORT": "70000"}, "MAIL_PORT must be between 1 and 65535"),
    ],
)
def test_mail_settings_that_cannot_work_stop_the_start_by_name(
    monkeypatch: pytest.MonkeyPatch, settings: dict[str, str], message: str
) -> None:
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as refused:
        create_app("testing")
    assert str(refused.value).startswith(message)


def test_the_ports_follow_the_kind_of_tls(monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_app("testing").config["MAIL_PORT"] == 587
    assert create_app("testing").config["MAIL_USE_TLS"] is True
    monkeypatch.setenv("MAIL_USE_SSL", "true")
    app = create_app("testing")
    assert (app.config["MAIL_PORT"], app.config["MAIL_USE_TLS"]) == (465, False)


def test_send_test_mail_sends_through_the_configured_server(
    inbox: Inbox, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = mail_app(monkeypatch, MAIL_PORT=str(smtp_server.port))

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["send-test-mail", "ops@example.org"])

    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Test message to ops@example.org sent through 127.0.0.1:{smtp_server.port}.\n"
    )
    [received] = inbox.messages()
    assert received.rcpt_tos == ["ops@example.org"]
    assert received.message["Subject"] == "Test message from Example Site"


def test_send_test_mail_says_in_one_line_why_it_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    app = mail_app(monkeypatch, MAIL_PORT=str(port))

    with app.app_context():
        result = app.test_cli_runner().invoke(args=["send-test-mail", "ops@example.org"])

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: the test message was not sent: 127.0.0.1:{port} refused the connection; "
        "check MAIL_SERVER and MAIL_PORT"
    ]
