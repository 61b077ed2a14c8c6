"""GET /api/health: 200 while the database answers, 503 soon after it stops."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app import create_app
from app.extensions import db

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
