"""Shared fixtures: a fresh app and database per test, clients, a user and a token.

The database is SQLite in memory unless TEST_DATABASE_URL names another one
(``make test`` sets it to MariaDB for the tests marked ``db``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

import config
from app import autocommit_reads, create_app, password_reset
from app.extensions import db
from app.models import User
from tests.helpers import (
    RequestIsolatedClient,
    SiteSession,
    basic_auth,
    drop_every_table,
    empty_tables,
    make_user,
)
from tests.smtp_server import Inbox, SmtpServer


@pytest.fixture(autouse=True)
def private_instance_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built in this process keep their generated key, cache and mail files in tmp_path,
    and count rate limits in memory unless the test says otherwise.

    Without it a development app writes ``instance/secret_key`` and ``instance/mail``
    and a production app ``instance/cache`` into the checkout, where they outlive
    the test (and, made by root, lock the site's user out of them).
    """
    monkeypatch.setattr(config, "GENERATED_KEY_FILE", tmp_path / "instance" / "secret_key")
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MAIL_FOLDER", str(tmp_path / "mail"))
    # A production app built by a test counts its limits in memory, set on purpose
    # as for a one-process site (production refuses to count there by default);
    # tests of the shared store set REDIS_URL themselves.
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    for name in ("REDIS_URL", "TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session", autouse=True)
def current_schema_on_a_server_database() -> None:
    """A server database (TEST_DATABASE_URL) starts the run without tables left by earlier runs.

    Tests create missing tables and only empty them afterwards, so a run that was
    stopped half-way, or one made before a migration added a column, would leave
    tables of an older shape that ``create_all`` does not change.
    """
    if os.environ.get("TEST_DATABASE_URL", "sqlite").startswith("sqlite"):
        return
    drop_every_table(os.environ["TEST_DATABASE_URL"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave tests marked ``mariadb_only`` out of runs on SQLite.

    Deselected, not skipped: on SQLite they test nothing, and a skip in CI
    would read as a suite that did not run. The MariaDB pass runs them.
    """
    if _server_database():
        return
    kept = [item for item in items if item.get_closest_marker("mariadb_only") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def _server_database() -> bool:
    return not os.environ.get("TEST_DATABASE_URL", "sqlite").startswith("sqlite")


@pytest.fixture
def app() -> Iterator[Flask]:
    app = create_app("testing")
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        db.create_all()
        yield app
        # Mail a request handed to the background must not outlive the tables.
        password_reset.wait_for_outbox(10)
        db.session.remove()
        empty_tables()
        db.engine.dispose()
        autocommit_reads.dispose(app)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def user(app: Flask) -> User:
    return make_user()


@pytest.fixture
def site(client: FlaskClient) -> SiteSession:
    return SiteSession(client)


@pytest.fixture
def token(client: FlaskClient, user: User) -> str:
    """A bearer token for ``user`` (alice)."""
    response = client.post("/api/tokens", headers=basic_auth("alice"))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1 for the whole run (aiosmtpd)."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def inbox(smtp_server: SmtpServer) -> Inbox:
    """What ``smtp_server`` received during this test."""
    smtp_server.inbox.clear()
    return smtp_server.inbox


@pytest.fixture
def mailbox(app: Flask, smtp_server: SmtpServer, inbox: Inbox) -> Inbox:
    """``app`` sends its mail to ``smtp_server``; what it sent during this test."""
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_server.port, MAIL_USE_TLS=False)
    return inbox
