"""``flask check-deploy``: each planted problem is reported with its id, severity and fix."""

from __future__ import annotations

import getpass
import json
import os
import secrets
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from app.apache_config import SYSTEM_PYTHON, python_version_of
from app.deploy_check import (
    certificate_expiry,
    check_apache,
    check_shared_state,
    production_app,
    read_apache,
)
from scripts.private_apache import make_certificate
from tests.helpers import copy_of_checkout

PROJECT = Path(__file__).resolve().parent.parent
# Made per run: a key written in the repository is one production must refuse.
GOOD_KEY = secrets.token_hex(32)
# Whoever runs the tests owns the files they make.
RUNNER = getpass.getuser()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def certificate(folder: Path, days: int) -> Path:
    return make_certificate(folder, days)[0]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the checkout, so the test can give it a .env of its own."""
    return copy_of_checkout(tmp_path)


@pytest.fixture
def weak_apache(tmp_path: Path, project: Path) -> Path:
    """An /etc/apache2 look-alike whose enabled site and server config have every weakness."""
    root = tmp_path / "apache2"
    (root / "sites-enabled").mkdir(parents=True)
    (root / "apache2.conf").write_text("ServerTokens OS\nTraceEnable On\n")
    cert = certificate(tmp_path, days=10)
    (root / "sites-enabled" / "flaskapp.conf").write_text(
        "<VirtualHost *:443>\n"
        "    SSLEngine on\n"
        f"    SSLCertificateFile {cert}\n"
        f"    WSGIDaemonProcess flaskapp processes=4 threads=5 \\\n"
        f"        python-home={sys.prefix}\n"
        f"    WSGIScriptAlias / {project}/wsgi_app.wsgi\n"
        "</VirtualHost>\n"
    )
    return root


def run_check(project: Path, apache_root: Path, venv: Path, *args: str, **env: str):
    environment = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("FLASK_", "SECRET_KEY", "DATABASE_URL", "RATELIMIT", "CACHE_", "REDIS_URL", "TRUSTED_")
        )
    }
    environment.update(PYTHONPATH=str(project), **env)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "app.deploy_check",
            "--apache-root",
            str(apache_root),
            "--venv",
            str(venv),
            *args,
        ],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def foreign_venv(tmp_path: Path) -> Path:
    """A venv made by a Python that mod_wsgi does not embed."""
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /opt/python/bin\nversion = 3.9.2\n")
    return venv


@pytest.mark.slow
def test_every_planted_problem_is_reported_with_a_fix(
    tmp_path: Path, project: Path, weak_apache: Path
) -> None:
    env_file = project / ".env"
    env_file.write_text("LOG_LEVEL=INFO\n")
    env_file.chmod(0o644)
    # Drained for a deploy, and never put back.
    (project / "instance" / "drain").touch()
    result = run_check(
        project,
        weak_apache,
        foreign_venv(tmp_path),
        "--json",
        FLASK_CONFIG="production",
        FLASK_DEBUG="1",
        SECRET_KEY=GOOD_KEY,
        SESSION_COOKIE_SECURE="false",
        DATABASE_URL=f"sqlite:///{tmp_path / 'app.db'}",
        MAIL_ENABLED="false",
        CACHE_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
        # Set on purpose, as for one process; the site runs four.
        RATELIMIT_STORAGE_URI="memory://",
        TRUSTED_PROXIES="10.0.0.5, 10.0.0.0/8",
    )

    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)
    severities = {finding["id"]: finding["severity"] for finding in findings}
    assert severities == {
        "config.debug": "error",
        "config.cookies_secure": "error",
        "config.sqlite": "warning",
        "node.draining": "warning",
        "limits.memory": "warning",
        "proxies.too_wide": "warning",
        "redis.password": "warning",
        "redis.unreachable": "error",
        "database.migrations": "error",
        "files.env_mode": "error",
        "python.venv": "error",
        "apache.hsts": "error",
        "apache.trace": "error",
        "apache.server_tokens": "warning",
        "apache.request_read_timeout": "warning",
        "apache.certificate_expiring": "warning",
        # The runner, not the site's user www-data, made the SQLite file and instance/
        # (instance/ may belong to root, who installs the checkout).
        **({"files.data_owner": "error"} if RUNNER != "www-data" else {}),
        **({"files.instance_owner": "warning"} if RUNNER not in {"www-data", "root"} else {}),
    }
    assert all(finding["message"] and finding["fix"] for finding in findings)
    memory = next(f for f in findings if f["id"] == "limits.memory")
    assert "4 processes" in memory["message"]


@pytest.mark.slow
def test_a_guessable_key_is_reported_even_though_the_app_refuses_to_load(
    tmp_path: Path, project: Path, weak_apache: Path
) -> None:
    result = run_check(
        project,
        weak_apache,
        foreign_venv(tmp_path),
        FLASK_CONFIG="production",
        SECRET_KEY="a" * 40,
        DATABASE_URL="sqlite://",
    )

    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(
        line.startswith("ERROR   config.refused: ") and "guessable" in line for line in lines
    )
    assert all(" Fix: " in line for line in lines)
    assert "errors" in result.stderr.splitlines()[-1]


@pytest.mark.slow
def test_warnings_fail_only_when_asked(tmp_path: Path, project: Path) -> None:
    apache_root = tmp_path / "empty-apache"
    apache_root.mkdir()
    database = f"sqlite:///{tmp_path / 'app.db'}"
    common = dict(
        FLASK_CONFIG="production",
        SECRET_KEY=GOOD_KEY,
        DATABASE_URL=database,
        MAIL_ENABLED="false",
        RATELIMIT_STORAGE_URI="memory://",
    )
    flask = Path(sys.executable).with_name("flask")
    subprocess.run(
        [str(flask), "--app", "wsgi", "db", "upgrade"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project), **common},
        check=True,
        capture_output=True,
    )
    venv = tmp_path / "venv"
    venv.mkdir()
    system_version = python_version_of(SYSTEM_PYTHON)
    assert system_version, "/usr/bin/python3 is needed"
    (venv / "pyvenv.cfg").write_text(f"version = {system_version}\n")

    # This test's files belong to the runner: make the runner the site's user.
    relaxed = run_check(project, apache_root, venv, "--json", "--user", RUNNER, **common)
    strict = run_check(
        project, apache_root, venv, "--fail-on", "warning", "--user", RUNNER, **common
    )

    severities = {f["id"]: f["severity"] for f in json.loads(relaxed.stdout)}
    assert severities == {
        "apache.site_missing": "warning",
        "config.sqlite": "warning",
        "limits.memory": "warning",
        "cache.per_machine": "info",
    }
    assert relaxed.returncode == 0, relaxed.stderr
    assert strict.returncode == 1
    assert len(strict.stdout.splitlines()) == 4


def test_an_expired_certificate_is_an_error(tmp_path: Path) -> None:
    cert = certificate(tmp_path, days=30)
    site = tmp_path / "site.conf"
    site.write_text(f"SSLCertificateFile {cert}\n")
    expiry = certificate_expiry(cert)
    assert expiry is not None

    later = expiry + timedelta(days=1)
    findings = {f.id: f for f in check_apache(read_apache(tmp_path, site), later)}
    now = {f.id for f in check_apache(read_apache(tmp_path, site), datetime.now(UTC))}

    assert findings["apache.certificate_expired"].severity == "error"
    assert "apache.certificate_expiring" not in now
    assert "apache.certificate_expired" not in now


@pytest.fixture
def production_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "production")
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'app.db'}")
    monkeypatch.setenv("MAIL_ENABLED", "false")
    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)


def test_production_without_a_shared_store_is_refused_naming_redis_url(
    production_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RATELIMIT_STORAGE_URI")

    app, findings = production_app()

    assert app is None
    [refused] = findings
    assert refused.id == "config.refused"
    assert "REDIS_URL is not set" in refused.message


def test_one_redis_url_leaves_nothing_per_process_or_per_machine(
    production_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RATELIMIT_STORAGE_URI")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    app, _ = production_app()
    assert app is not None

    findings = list(check_shared_state(app, processes=2))

    # Named once, as the setting to fix, though the cache and the limits both use it.
    assert [(f.id, f.severity) for f in findings] == [("redis.password", "warning")]
    assert findings[0].message.startswith("REDIS_URL gives no Redis password")


def test_memory_limits_set_on_purpose_are_still_reported(production_settings: None) -> None:
    app, _ = production_app()
    assert app is not None
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"  # conftest sets it on purpose

    several = {f.id: f for f in check_shared_state(app, processes=2)}
    one = {f.id: f.severity for f in check_shared_state(app, processes=1)}

    assert several["limits.memory"].severity == "warning"
    assert "2 times each limit" in several["limits.memory"].message
    assert "REDIS_URL" in several["limits.memory"].fix
    assert several["cache.per_machine"].severity == "info"
    assert one == {"limits.memory": "info", "cache.per_machine": "info"}


@pytest.mark.parametrize(
    ("mode_options", "trusted_proxies", "expected"),
    [
        # A backend node: no HSTS of its own (the front sends it) is right.
        (["--mode", "backend", "--trusted-proxy", "10.0.0.5"], ["10.0.0.5"], set()),
        # The same plain-HTTP site while the app trusts no front: every client
        # would look like the peer, and nothing terminates TLS in front of it.
        (["--mode", "backend", "--trusted-proxy", "10.0.0.5"], [], {"apache.plain_http"}),
        # Whether the app loaded is unknown: the site alone cannot be judged.
        (["--mode", "backend", "--trusted-proxy", "10.0.0.5"], None, set()),
        # The one-server site terminates TLS itself and must send HSTS.
        ([], [], set()),
    ],
)
def test_a_backend_site_is_judged_as_one_behind_a_front(
    app: Flask,
    tmp_path: Path,
    mode_options: list[str],
    trusted_proxies: list[str] | None,
    expected: set[str],
) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text(f"version = {python_version_of(SYSTEM_PYTHON)}\n")
    result = app.test_cli_runner().invoke(
        args=[
            "apache-config",
            "--server-name",
            "example.com",
            "--venv",
            str(venv),
            "--cert",
            str(tmp_path / "missing-cert.pem"),
            *mode_options,
        ]
    )
    assert result.exit_code == 0, result.output
    site = tmp_path / "site.conf"
    site.write_text(result.stdout)

    findings = check_apache(read_apache(tmp_path, site), datetime.now(UTC), trusted_proxies)

    found = {f.id for f in findings} & {"apache.plain_http", "apache.hsts"}
    assert found == expected


def test_a_single_site_without_hsts_is_still_an_error(tmp_path: Path) -> None:
    site = tmp_path / "site.conf"
    site.write_text("<VirtualHost *:443>\n    SSLEngine on\n</VirtualHost>\n")

    findings = {f.id for f in check_apache(read_apache(tmp_path, site), datetime.now(UTC), [])}

    assert "apache.hsts" in findings
