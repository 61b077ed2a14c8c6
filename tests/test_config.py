"""Configuration: selection by FLASK_CONFIG, overrides, and production's refusals."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from config import ConfigError

PROJECT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 16 + "9f3b2c7d1e8a4f60"


def test_flask_config_selects_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "testing")
    assert create_app().config["TESTING"] is True


def test_development_is_the_default_and_does_not_enable_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_CONFIG", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    app = create_app()
    assert app.config["CONFIG_NAME"] == "development"
    assert app.debug is False
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_unknown_config_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="FLASK_CONFIG='staging' is not one of"):
        create_app("staging")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "SECRET_KEY is not set"),
        ("changeme", "SECRET_KEY is a published example value"),
        ("short-but-not-empty", "SECRET_KEY is 19 characters"),
    ],
)
def test_production_refuses_a_missing_or_weak_secret_key(
    monkeypatch: pytest.MonkeyPatch, secret: str | None, message: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", "sqlite://")
    if secret is None:
        monkeypatch.delenv("SECRET_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRET_KEY", secret)
    with pytest.raises(ConfigError, match=message):
        create_app("production")


def test_production_refuses_a_missing_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        create_app("production")


def test_production_starts_with_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://app:pw@127.0.0.1/app")
    app = create_app("production")
    assert app.debug is False
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_pre_ping"] is True
    assert options["pool_recycle"] < 3600
    assert options["connect_args"]["connect_timeout"] <= 5


def _flask(
    args: list[str], env: dict[str, str], cwd: Path = PROJECT
) -> subprocess.CompletedProcess[str]:
    flask = Path(sys.executable).with_name("flask")
    return subprocess.run(
        [str(flask), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def _clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FLASK_", "SECRET_KEY", "DATABASE_URL"))
    }
    env.update(extra)
    return env


def test_production_refusal_is_one_line_without_a_traceback() -> None:
    result = _flask(["routes"], _clean_env(FLASK_CONFIG="production", DATABASE_URL="sqlite://"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "Configuration error: SECRET_KEY is not set; generate one with: "
        "python3 -c 'import secrets; print(secrets.token_hex(32))'"
    ]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A copy of the code, so tests can give it a .env or instance/config.py of its own."""
    copy = tmp_path / "project"
    copy.mkdir()
    for name in ("app", "config.py", "wsgi.py", "wsgi_app.wsgi"):
        source = PROJECT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, copy / name)
    (copy / "instance").mkdir()
    return copy


def _python_in(project: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**_clean_env(), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dotenv_in_the_project_folder_is_loaded_without_the_flask_command(
    project_copy: Path, tmp_path: Path
) -> None:
    """mod_wsgi imports the app like this, from another folder: the project's .env counts."""
    (project_copy / ".env").write_text("FLASK_CONFIG=testing\nPOSTS_PER_PAGE=7\n")
    result = _python_in(
        project_copy,
        "from wsgi import app; print(app.config['POSTS_PER_PAGE'], app.testing)",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["7", "True"]


def test_instance_config_overrides_the_class(project_copy: Path, tmp_path: Path) -> None:
    (project_copy / "instance" / "config.py").write_text("POSTS_PER_PAGE = 3\n")
    result = _python_in(
        project_copy,
        "from app import create_app; print(create_app('testing').config['POSTS_PER_PAGE'])",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3"]


def test_the_mod_wsgi_entry_point_defaults_to_production(
    project_copy: Path, tmp_path: Path
) -> None:
    """Without FLASK_CONFIG, Apache must not serve development's published secret key."""
    result = _python_in(
        project_copy,
        "import runpy; runpy.run_path('" + str(project_copy / "wsgi_app.wsgi") + "')",
        tmp_path,
    )
    assert result.returncode != 0
    assert "flaskapp: configuration error: SECRET_KEY is not set" in result.stderr


def test_env_example_documents_every_variable_the_app_reads() -> None:
    import re

    read = set(
        re.findall(r'_env(?:_int|_bool)?\(\s*"([A-Z_]+)"', (PROJECT / "config.py").read_text())
    )
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (PROJECT / ".env.example").read_text(), re.M))
    assert read, "no variables found in config.py"
    assert read - documented == set()


def test_production_shares_its_cache_between_processes_without_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Two processes (two apps) on one machine: a write in one is seen by the other."""
    from app.extensions import cache, db
    from app.listings import latest_posts
    from app.models import Post, User

    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    monkeypatch.setenv("CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    first, second = create_app("production"), create_app("production")
    assert first.config["CACHE_TYPE"] == "FileSystemCache"
    with first.app_context():
        db.create_all()
        assert latest_posts(1, 10).total == 0
    with second.app_context():
        user = User(username="writer", email="writer@example.com", password="x" * 12)
        db.session.add(Post(title="New", body="b", author=user))
        db.session.commit()
    with first.app_context():
        assert [post.title for post in latest_posts(1, 10).items] == ["New"]
        cache.clear()
        db.engine.dispose()
    with second.app_context():
        db.engine.dispose()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("POSTS_PER_PAGE", "0", "POSTS_PER_PAGE must be between 1 and 100"),
        ("API_TOKEN_LIFETIME_SECONDS", "9" * 30, "API_TOKEN_LIFETIME_SECONDS must be between"),
        ("MAX_CONTENT_LENGTH", "lots", "MAX_CONTENT_LENGTH must be a whole number"),
    ],
)
def test_out_of_range_numbers_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app("testing")


def test_database_waits_are_bounded_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import engine_options

    url = "mysql+pymysql://app@127.0.0.1/app"
    defaults = engine_options(url)
    assert defaults["pool_timeout"] == 5
    assert defaults["connect_args"] == {
        "connect_timeout": 3,
        "read_timeout": 5,
        "write_timeout": 5,
    }
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT", "2")
    monkeypatch.setenv("DATABASE_READ_TIMEOUT", "600")
    monkeypatch.setenv("DATABASE_POOL_TIMEOUT", "1")
    options = engine_options(url)
    assert options["pool_timeout"] == 1
    assert options["connect_args"] == {
        "connect_timeout": 2,
        "read_timeout": 600,
        "write_timeout": 600,
    }
    monkeypatch.setenv("DATABASE_READ_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="DATABASE_READ_TIMEOUT"):
        engine_options(url)


def test_the_database_retry_interval_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert create_app("testing").config["DATABASE_RETRY_INTERVAL"] == 2
    monkeypatch.setenv("DATABASE_RETRY_INTERVAL", "7")
    assert create_app("testing").config["DATABASE_RETRY_INTERVAL"] == 7
