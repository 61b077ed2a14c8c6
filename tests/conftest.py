"""Shared fixtures: a fresh app and database per test, clients, and helpers.

The database is SQLite in memory unless TEST_DATABASE_URL names another one
(``make test`` sets it to MariaDB for the tests marked ``db``).
"""

from __future__ import annotations

import base64
import contextvars
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import delete
from sqlalchemy import text as sql

import config
from app import create_app
from app.extensions import db
from app.models import User

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


@pytest.fixture(autouse=True)
def private_instance_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built in this process keep their generated key and cache files in tmp_path.

    Without it a development app writes ``instance/secret_key`` and a production app
    ``instance/cache`` into the checkout, where they outlive the test (and, made by
    root, lock the site's user out of them).
    """
    monkeypatch.setattr(config, "GENERATED_KEY_FILE", tmp_path / "instance" / "secret_key")
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app("testing")
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        empty_tables()
        db.engine.dispose()


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


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


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


@pytest.fixture
def user(app: Flask) -> User:
    return make_user()


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


@pytest.fixture
def site(client: FlaskClient) -> SiteSession:
    return SiteSession(client)


def basic_auth(login: str, password: str = PASSWORD) -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def token(client: FlaskClient, user: User) -> str:
    """A bearer token for ``user`` (alice)."""
    response = client.post("/api/tokens", headers=basic_auth("alice"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]
