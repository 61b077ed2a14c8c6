"""GET /api/health: 200 while the database answers, 503 soon after it stops.

GET /api/ready: 200 while this node should get traffic; 503 while a part it needs
does not answer, or while a sysadmin drains it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import config
from app import create_app
from app.extensions import db, limiter
from tests.helpers import redis_up, skip_or_fail
from tests.smtp_server import free_port

pytestmark = pytest.mark.db

# A load balancer gives up on a check after a few seconds; the answer must come first.
HEALTH_DEADLINE_SECONDS = 5.0


def test_health_is_200_healthy_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/api/health")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"status": "healthy", "database": "ok"}


def test_health_needs_no_credentials_and_ignores_bad_ones(client: FlaskClient) -> None:
    response = client.get("/api/health", headers={"Authorization": "Bearer not-a-token"})

    assert response.status_code == 200
    assert response.get_json()["status"] == "healthy"


def _health_with_database(monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[int, dict, float]:
    """Ask /api/health of an app whose database is ``url``: (status, body, seconds)."""
    monkeypatch.setenv("TEST_DATABASE_URL", url)
    app = create_app("testing")
    try:
        client = app.test_client()
        started = time.monotonic()
        response = client.get("/api/health")
        elapsed = time.monotonic() - started
        return response.status_code, response.get_json(), elapsed
    finally:
        with app.app_context():
            db.engine.dispose()


def test_health_is_503_unhealthy_quickly_when_mariadb_refuses_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Port 1 is closed: the connection is refused, as when the server is down.
    status, body, elapsed = _health_with_database(
        monkeypatch, "mysql+pymysql://root@127.0.0.1:1/none"
    )

    assert status == 503
    assert body == {"status": "unhealthy", "database": "unavailable"}
    assert elapsed < HEALTH_DEADLINE_SECONDS


def test_health_is_503_unhealthy_quickly_when_the_sqlite_file_cannot_be_opened(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-directory" / "app.db"

    status, body, elapsed = _health_with_database(monkeypatch, f"sqlite:///{missing}")

    assert status == 503
    assert body == {"status": "unhealthy", "database": "unavailable"}
    assert elapsed < HEALTH_DEADLINE_SECONDS
    assert not missing.parent.exists()


def test_health_turns_healthy_again_once_the_database_is_reachable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A failed check must not leave a broken session or connection behind.
    directory = tmp_path / "created-later"
    monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{directory / 'app.db'}")
    app = create_app("testing")
    client = app.test_client()
    try:
        assert client.get("/api/health").status_code == 503

        directory.mkdir()

        response = client.get("/api/health")
        assert response.status_code == 200
        assert response.get_json() == {"status": "healthy", "database": "ok"}
    finally:
        with app.app_context():
            db.engine.dispose()


# --- GET /api/ready: what a load balancer asks ---------------------------------------------


@pytest.fixture
def drain_file(app: Flask, tmp_path: Path) -> Path:
    """Where this test's app looks for the drain file (not the checkout's instance/)."""
    path = tmp_path / "drain"
    app.config["DRAIN_FILE"] = str(path)
    return path


def test_ready_is_200_when_the_database_answers_and_no_redis_is_used(
    client: FlaskClient, drain_file: Path
) -> None:
    response = client.get("/api/ready")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "database": "ok", "redis": "not used"}
    assert "Retry-After" not in response.headers


def test_ready_and_health_are_never_cached(client: FlaskClient, drain_file: Path) -> None:
    for path in ("/api/ready", "/api/health"):
        assert client.get(path).headers["Cache-Control"] == "no-store", path


def test_a_drain_file_makes_ready_503_draining_while_health_stays_200(
    client: FlaskClient, drain_file: Path
) -> None:
    drain_file.touch()

    draining = client.get("/api/ready")
    assert draining.status_code == 503
    assert draining.get_json() == {"status": "draining", "database": "ok", "redis": "not used"}
    assert int(draining.headers["Retry-After"]) >= 1
    assert draining.headers["Cache-Control"] == "no-store"
    assert client.get("/api/health").status_code == 200

    drain_file.unlink()

    assert client.get("/api/ready").status_code == 200


def test_ready_and_health_are_exempt_from_rate_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A limit on every route that has none of its own: a balancer asks far more often.
    monkeypatch.setattr(config.TestingConfig, "RATELIMIT_DEFAULT", "2 per minute", raising=False)
    # The limiter object outlives the app, and Flask-Limiter keeps the first default
    # limits it is given: give it back the (empty) ones the other tests' apps have.
    monkeypatch.setattr(limiter.limit_manager, "_default_limits", [])
    monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    app = create_app("testing")
    app.config["DRAIN_FILE"] = str(tmp_path / "drain")
    client = app.test_client()
    try:
        with app.app_context():
            db.create_all()
        statuses = [client.get("/api/users").status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        for path in ("/api/ready", "/api/health"):
            assert {client.get(path).status_code for _ in range(20)} == {200}, path
    finally:
        with app.app_context():
            db.engine.dispose()


def _ready_with(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> tuple[Flask, Any]:
    """An app on a fresh SQLite file with ``env`` set, and its test client."""
    monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = create_app("testing")
    app.config["DRAIN_FILE"] = str(tmp_path / "drain")
    return app, app.test_client()


def test_ready_is_503_unavailable_quickly_when_mariadb_refuses_connections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Port 1 is closed: the connection is refused, as when the server is down.
    monkeypatch.setenv("TEST_DATABASE_URL", "mysql+pymysql://root@127.0.0.1:1/none")
    app = create_app("testing")
    app.config["DRAIN_FILE"] = str(tmp_path / "drain")
    try:
        started = time.monotonic()
        response = app.test_client().get("/api/ready")
        elapsed = time.monotonic() - started
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "unavailable",
        "redis": "not used",
    }
    assert int(response.headers["Retry-After"]) >= 1
    assert elapsed < HEALTH_DEADLINE_SECONDS


def test_ready_is_503_quickly_when_the_redis_in_use_refuses_connections(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    app, client = _ready_with(
        monkeypatch, tmp_path, CACHE_REDIS_URL=nowhere, TEST_RATELIMIT_STORAGE_URI=nowhere
    )
    try:
        with app.app_context():
            db.create_all()
        started = time.monotonic()
        response = client.get("/api/ready")
        elapsed = time.monotonic() - started
        # The rest of the site keeps working without Redis, and so does liveness.
        assert client.get("/api/users").status_code == 200
        assert client.get("/api/health").status_code == 200
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 503
    assert response.get_json() == {
        "status": "unavailable",
        "database": "ok",
        "redis": "unavailable",
    }
    assert elapsed < HEALTH_DEADLINE_SECONDS


def test_a_node_told_not_to_need_redis_stays_ready_and_says_redis_is_down(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    app, client = _ready_with(
        monkeypatch, tmp_path, CACHE_REDIS_URL=nowhere, READY_NEEDS_REDIS="false"
    )
    try:
        with app.app_context():
            db.create_all()
        response = client.get("/api/ready")
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "database": "ok", "redis": "unavailable"}


def test_ready_asks_a_running_redis(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not redis_up():
        skip_or_fail("no Redis on 127.0.0.1:6379 (run: sudo make test-deps)")
    app, client = _ready_with(
        monkeypatch,
        tmp_path,
        CACHE_REDIS_URL="redis://127.0.0.1:6379/0",
        CACHE_KEY_PREFIX=f"ready-{free_port()}:",
        TEST_RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
    )
    try:
        with app.app_context():
            db.create_all()
        response = client.get("/api/ready")
    finally:
        with app.app_context():
            db.engine.dispose()

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "database": "ok", "redis": "ok"}
