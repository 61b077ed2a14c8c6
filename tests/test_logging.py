"""Request logging: one line per request with a request id, correct under several processes."""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.cli_helpers import PROJECT

LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[pid (\d+)\] \[([\w.:@-]+)\] app\.request: "
    r"(GET|POST|PATCH|DELETE) (\S+) (\d{3}) (\d+\.\d)ms$"
)

# Serves requests through the test client in a child process, as a mod_wsgi daemon would.
CHILD = """
import sys
from app import create_app
app = create_app("testing")
client = app.test_client()
for i in range(int(sys.argv[1])):
    client.get(f"/api/health?n={i}", headers={"X-Request-ID": f"{sys.argv[2]}-{i}"})
client.get("/no-such-page")
"""


def _run_child(count: int, tag: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(count), tag],
        cwd=PROJECT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_request_id_is_echoed_when_the_client_sends_a_plain_one(client: FlaskClient) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": "abc-123.x"})
    assert response.headers["X-Request-ID"] == "abc-123.x"


@pytest.mark.parametrize(
    "sent", [None, "", "has space", "line\\nbreak", "x" * 129, 'quote"s', "<script>"]
)
def test_request_id_is_generated_when_missing_or_unsafe(
    client: FlaskClient, sent: str | None
) -> None:
    headers = {"X-Request-ID": sent} if sent is not None else {}
    response = client.get("/", headers=headers)
    generated = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert generated != sent


def test_error_responses_carry_the_request_id_too(client: FlaskClient) -> None:
    assert client.get("/missing", headers={"X-Request-ID": "r1"}).headers["X-Request-ID"] == "r1"
    assert (
        client.get("/api/missing", headers={"X-Request-ID": "r2"}).headers["X-Request-ID"] == "r2"
    )


@pytest.mark.slow
def test_each_request_writes_one_line_to_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOG_FILE", raising=False)
    child = _run_child(2, "stderr", env=_env())
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    lines = [LINE.match(line) for line in stderr.splitlines() if "app.request" in line]
    assert all(lines), stderr
    assert [(m[3], m[4], m[5], m[2]) for m in lines] == [
        ("GET", "/api/health", "200", "stderr-0"),
        ("GET", "/api/health", "200", "stderr-1"),
        ("GET", "/no-such-page", "404", lines[2][2]),
    ]


@pytest.mark.slow
def test_several_processes_writing_one_log_file_produce_whole_lines(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    env = _env(LOG_FILE=str(log_file))
    children = [_run_child(150, f"proc{n}", env) for n in range(4)]
    for child in children:
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 0, stderr
    lines = log_file.read_text().splitlines()
    request_lines = [line for line in lines if "app.request" in line]
    assert len(request_lines) == 4 * 151
    matches = [LINE.match(line) for line in request_lines]
    assert all(matches), [line for line, m in zip(request_lines, matches, strict=True) if not m][:3]
    ids = {m[2] for m in matches if m}
    for n in range(4):
        assert {f"proc{n}-{i}" for i in range(150)} <= ids
    assert len({m[1] for m in matches if m}) == 4


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(PYTHONPATH=str(PROJECT), **extra)
    return env


@pytest.mark.slow
def test_a_newline_in_the_path_cannot_forge_a_log_line(tmp_path: Path) -> None:
    log_file = tmp_path / "app.log"
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from app import create_app\n"
            "c = create_app('testing').test_client()\n"
            "c.get('/x%0A2026-01-01 00:00:00,000 INFO app.request: GET /admin 200 1.0ms')\n",
        ],
        cwd=PROJECT,
        env=_env(LOG_FILE=str(log_file)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    lines = [line for line in log_file.read_text().splitlines() if "app.request" in line]
    assert len(lines) == 1
    assert "/x%0A2026-01-01" in lines[0]


def test_a_request_id_ending_in_a_newline_is_replaced(client: FlaskClient) -> None:
    response = client.get("/", environ_overrides={"HTTP_X_REQUEST_ID": "abc\n"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_production_logs_warnings_and_errors_only_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from app import create_app

    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.setenv("SECRET_KEY", secrets.token_hex(32))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.setenv("MAIL_ENABLED", "false")
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))
    app = create_app("production")
    assert app.config["LOG_LEVEL"] == "WARNING"

    with caplog.at_level(logging.DEBUG):
        response = app.test_client().get("/api/health", base_url="https://localhost")

    # Apache's access log has the request, with the id the response carries.
    assert response.headers["X-Request-ID"]
    assert not [r for r in caplog.records if r.name == "app.request"]


@pytest.mark.parametrize(("given", "kept"), [("info", "INFO"), ("ERROR", "ERROR")])
def test_log_level_is_read_in_any_case(
    monkeypatch: pytest.MonkeyPatch, given: str, kept: str
) -> None:
    from app import create_app

    monkeypatch.setenv("LOG_LEVEL", given)
    assert create_app("testing").config["LOG_LEVEL"] == kept


def test_an_unknown_log_level_is_refused_naming_the_levels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from app import create_app
    from config import ConfigError

    monkeypatch.setenv("LOG_LEVEL", "verbose")
    with pytest.raises(ConfigError, match="LOG_LEVEL='VERBOSE' is not a level; use one of DEBUG"):
        create_app("testing")
