"""Helpers the tests share: clients, users, forms and credentials.

Imported by test modules; the fixtures built on them live in conftest.py.
"""

from __future__ import annotations

import base64
import contextvars
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, delete, event, inspect
from sqlalchemy import text as sql

from app import autocommit_reads
from app.extensions import db
from app.models import User
from tests.smtp_server import Inbox, free_port

PROJECT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery"


NAV_USER = re.compile(r'<a class="nav-user" href="[^"]*">([^<]*)</a>')


REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip a suite whose service is missing, or fail when REQUIRE_SERVICES=1 (CI)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(reason)


class RequestIsolatedClient(FlaskClient):
    """A test client whose every request gets its own app context, as on a real server.

    The ``app`` fixture keeps an app context pushed for the whole test, and Flask
    reuses a pushed context for test requests, so ``g`` (where Flask-Login keeps
    the current user and Flask-WTF the CSRF token) would carry one request's
    state into the next, even from another client. Running each request in an
    empty ``contextvars.Context`` makes Flask push a fresh app context (and
    database session) per request.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


def empty_tables() -> None:
    """Empty every table rather than drop it: far cheaper on MariaDB.

    On MariaDB, TRUNCATE also restarts the ids at 1, as a new SQLite database does.
    """
    with db.engine.begin() as connection:
        mysql = connection.dialect.name == "mysql"
        if mysql:
            connection.execute(sql("SET FOREIGN_KEY_CHECKS = 0"))
        for table in reversed(db.metadata.sorted_tables):
            if mysql:
                connection.execute(sql(f"TRUNCATE TABLE {table.name}"))
            else:
                connection.execute(delete(table))
        if mysql:
            connection.execute(sql("SET FOREIGN_KEY_CHECKS = 1"))


def drop_every_table(url: str) -> None:
    """Drop every table the database at ``url`` holds, whatever made it."""
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            mysql = connection.dialect.name == "mysql"
            if mysql:
                connection.execute(sql("SET FOREIGN_KEY_CHECKS = 0"))
            # Sorted by name, so SQLite's FTS5 table comes before the tables it
            # keeps its index in (posts_search, posts_search_data...), which
            # dropping it has already dropped.
            for table in sorted(inspect(connection).get_table_names()):
                connection.execute(sql(f"DROP TABLE IF EXISTS {table}"))
            if mysql:
                connection.execute(sql("SET FOREIGN_KEY_CHECKS = 1"))
    finally:
        engine.dispose()


def fresh() -> None:
    """End the test's own transaction, so it sees what requests have committed since.

    Requests use their own sessions; on MariaDB (REPEATABLE READ) a transaction the
    test left open would keep showing the snapshot taken when it started.
    """
    db.session.rollback()


def text(response) -> str:
    """A response's body as text."""
    return response.get_data(as_text=True)


def make_user(username: str = "alice", email: str | None = None, password: str = PASSWORD) -> User:
    """Create and commit a user (inside an app context)."""
    user = User(
        username=username, email=email or f"{username.lower()}@example.com", password=password
    )
    db.session.add(user)
    db.session.commit()
    return user


CSRF_FIELD = re.compile(
    r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"'
)


def csrf_token_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF token field"
    return match.group(1) or match.group(2)


class SiteSession:
    """Drives the HTML site like a person would: GET the form, POST it with its token."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def csrf_token(self, path: str = "/auth/login") -> str:
        return csrf_token_from(self.client.get(path).get_data(as_text=True))

    def post_form(self, path: str, data: dict[str, object], form_page: str | None = None):
        token = self.csrf_token(form_page or path)
        return self.client.post(path, data={**data, "csrf_token": token})

    def register(self, username: str = "alice", password: str = PASSWORD, email: str | None = None):
        return self.post_form(
            "/auth/register",
            {
                "username": username,
                "email": email or f"{username.lower()}@example.com",
                "password": password,
                "confirm": password,
            },
        )

    def login(self, login: str = "alice", password: str = PASSWORD, remember: bool = False):
        data: dict[str, object] = {"login": login, "password": password}
        if remember:
            data["remember"] = "y"
        return self.post_form("/auth/login", data)

    def logout(self):
        return self.post_form("/auth/logout", {}, form_page="/")


def basic_auth(login: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def copy_of_checkout(folder: Path) -> Path:
    """The code, migrations and entry points copied into ``folder``/project, with an
    empty ``instance/``: a test can give the copy a .env of its own."""
    copy = folder / "project"
    copy.mkdir()
    for name in ("app", "migrations", "config.py", "wsgi.py", "wsgi_app.wsgi"):
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / "instance").mkdir()
    return copy


def redis_up() -> bool:
    """Does the shared Redis on 127.0.0.1:6379 answer a connection?"""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
    except OSError:
        return False
    return True


def wait_for_mail(inbox, count: int = 1, timeout: float = 10.0) -> list:
    """The messages ``inbox`` (tests/smtp_server.py) holds once it has ``count`` of them."""
    deadline = time.monotonic() + timeout
    while len(inbox.messages()) < count:
        assert time.monotonic() < deadline, f"{len(inbox.messages())} of {count} mails arrived"
        time.sleep(0.02)
    return inbox.messages()


def mail_text(message: EmailMessage) -> str:
    """The plain-text part of a mail."""
    part = message.get_body(("plain",))
    assert part is not None, "the mail has no text part"
    return str(part.get_content())


def mails_to(inbox: Inbox, address: str) -> list[EmailMessage]:
    """The messages ``inbox`` received for ``address``, oldest first."""
    return [received.message for received in inbox.messages() if received.rcpt_tos == [address]]


def link_in(message: EmailMessage, public_url: str, path_prefix: str) -> str:
    """The site path of the one link under ``path_prefix`` in a mail, as a test client wants it.

    The text and the HTML part must carry the same link.
    """
    html = message.get_body(("html",))
    assert html is not None, "the mail has no HTML part"
    links = set()
    for content in (mail_text(message), str(html.get_content())):
        links |= {
            link.removeprefix(public_url)
            for link in re.findall(r"https?://[^\s\"<>]+", content)
            if link.removeprefix(public_url).startswith(path_prefix)
        }
    assert len(links) == 1, f"expected one link under {path_prefix}, found {links}"
    return links.pop()


def refuse_mail(app: Flask) -> None:
    """Point ``app`` at a port where nothing listens: every send fails at once."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_USE_TLS=False)


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """The SQL statements the app's engines run inside the block (autocommit reads too)."""
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engines = [db.engine, autocommit_reads.engine_of(current_app)]
    engines = [engine for engine in engines if engine is not None]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)
