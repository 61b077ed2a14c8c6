"""Configuration: selection by FLASK_CONFIG, overrides, and production's refusals."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from app import create_app
from config import (
    PUBLISHED_SECRET_KEYS,
    ConfigError,
    default_config_name,
    generated_secret_key,
    load_config,
    secret_key_problem,
)
from tests.helpers import PASSWORD, basic_auth, bearer, copy_of_checkout, redis_up, skip_or_fail

PROJECT = Path(__file__).resolve().parent.parent
# Made per run: a key written in the repository is one production must refuse.
GOOD_KEY = secrets.token_hex(32)


def test_flask_config_selects_the_class(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_CONFIG", "testing")
    assert create_app().config["TESTING"] is True


def test_the_flask_command_defaults_to_development_without_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_CONFIG", raising=False)
    monkeypatch.delenv("FLASK_DEBUG", raising=False)
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    app = create_app()
    assert app.config["CONFIG_NAME"] == "development"
    assert app.debug is False
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def test_anything_else_that_imports_the_app_defaults_to_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_CONFIG", raising=False)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    assert default_config_name() == "production"
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app()


def test_unknown_config_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="FLASK_CONFIG='staging' is not one of"):
        create_app("staging")


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (None, "SECRET_KEY is not set"),
        ("changeme", "SECRET_KEY is a published example value"),
        ("short-but-not-empty", "SECRET_KEY is 19 characters"),
        ("a" * 32, "SECRET_KEY is guessable"),
        ("1234567890" * 3 + "12", "SECRET_KEY is guessable"),
        ("0123456789abcdef" * 2, "SECRET_KEY is guessable"),
        ("abcdefghijklmnopqrstuvwxyz012345", "SECRET_KEY is guessable"),
        ("dev-secret-key-change-in-production ", "published example"),
        (" dev-secret-key-change-in-production-", "published example"),
        ("Dev Secret Key Change In Production 2", "published example"),
        ("your-very-secret-key-generate-with-python-secrets", "published example"),
        ("your-very-secret-key-generate-with-python-secrets!", "published example"),
        ("development-only-secret-key-change-me", "published example"),
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


def test_random_keys_are_accepted() -> None:
    """The check must not refuse what the README tells people to generate."""
    for _ in range(500):
        assert secret_key_problem(secrets.token_hex(32)) is None
        assert secret_key_problem(secrets.token_urlsafe(32)) is None
    assert secret_key_problem(GOOD_KEY) is None


# SECRET_KEY=..., SECRET_KEY: ... and "SECRET_KEY": "..." (dicts, env strings, YAML).
SECRET_KEY_EXAMPLE = re.compile(r"""SECRET_KEY["']?\s*[=:]\s*["']?([^\s"'$\\]{3,})""")


def test_every_key_written_in_the_repository_is_refused() -> None:
    """An example key anywhere in the project is public: no config may sign with it."""
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT, capture_output=True, text=True, check=True
    ).stdout.split()
    examples = set()
    for name in tracked:
        path = PROJECT / name
        if path.suffix not in {".py", ".md", ".example", ".j2", ".sh", ".txt", ".cfg", ""}:
            continue
        examples.update(SECRET_KEY_EXAMPLE.findall(path.read_text(errors="replace")))
    # Code that computes or interpolates a key is not an example of one.
    examples = {e for e in examples if not set("({") & set(e) and not e.startswith("self.")}
    for example in examples | PUBLISHED_SECRET_KEYS:
        assert secret_key_problem(example) is not None, example


def test_development_generates_its_key_once_and_keeps_it_private(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "secret_key"
    first = generated_secret_key(path)
    assert generated_secret_key(path) == first
    assert secret_key_problem(first) is None
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]


def test_processes_starting_together_share_one_complete_key(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "secret_key"
    start = threading.Barrier(8)

    def first_start() -> str:
        start.wait()
        return generated_secret_key(path)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: first_start(), range(8)))
    assert keys == {path.read_text().strip()}
    assert secret_key_problem(keys.pop()) is None


def test_an_unreadable_generated_key_is_one_line_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "instance" / "secret_key"
    path.mkdir(parents=True)  # Reading it fails with an OSError, even as root.
    with pytest.raises(ConfigError, match=r"secret_key cannot be read .*set SECRET_KEY in \.env"):
        generated_secret_key(path)


def test_production_refuses_a_missing_database_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="DATABASE_URL is not set"):
        create_app("production")


def test_production_starts_with_what_it_needs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", "mysql+pymysql://app:pw@127.0.0.1/app")
    monkeypatch.setenv("MAIL_SERVER", "smtp.example.org")
    monkeypatch.setenv("MAIL_DEFAULT_SENDER", "Example <noreply@example.org>")
    monkeypatch.setenv("PUBLIC_URL", "https://www.example.org/")
    app = create_app("production")
    assert app.debug is False
    assert app.config["MAIL_ENABLED"] is True
    assert app.config["PUBLIC_URL"] == "https://www.example.org"
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


@pytest.mark.slow
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
    return copy_of_checkout(tmp_path)


def _python_in(project: Path, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env={**_clean_env(), "PYTHONPATH": str(project)},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.slow
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


@pytest.mark.slow
def test_instance_config_overrides_the_class(project_copy: Path, tmp_path: Path) -> None:
    (project_copy / "instance" / "config.py").write_text("POSTS_PER_PAGE = 3\n")
    result = _python_in(
        project_copy,
        "from app import create_app; print(create_app('testing').config['POSTS_PER_PAGE'])",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3"]


@pytest.mark.slow
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


@pytest.mark.slow
def test_an_unsupported_database_is_one_line_in_apaches_log_at_start(
    project_copy: Path, tmp_path: Path
) -> None:
    """mod_wsgi loading the app with a PostgreSQL URL: the reason, not an ImportError."""
    (project_copy / ".env").write_text(
        f"SECRET_KEY={GOOD_KEY}\nDATABASE_URL=postgresql://app:pw@127.0.0.1/app\n"
    )
    result = _python_in(
        project_copy,
        "import runpy; runpy.run_path('" + str(project_copy / "wsgi_app.wsgi") + "')",
        tmp_path,
    )
    assert result.returncode != 0
    assert (
        "flaskapp: configuration error: DATABASE_URL names postgresql, which this app does "
        "not support" in result.stderr
    )


@pytest.mark.slow
def test_a_wsgi_server_importing_wsgi_py_gets_production(
    project_copy: Path, tmp_path: Path
) -> None:
    """gunicorn wsgi:app with no settings must refuse, not serve development's defaults."""
    result = _python_in(project_copy, "import wsgi", tmp_path)
    assert result.returncode != 0
    assert "Configuration error: SECRET_KEY is not set" in result.stderr


@pytest.mark.slow
def test_the_flask_command_uses_a_key_generated_into_instance(
    project_copy: Path, tmp_path: Path
) -> None:
    code = (
        "import os; os.environ['FLASK_RUN_FROM_CLI'] = 'true'\n"
        "from wsgi import app; print(app.config['CONFIG_NAME'], app.secret_key)"
    )
    first = _python_in(project_copy, code, tmp_path)
    second = _python_in(project_copy, code, tmp_path)
    assert first.returncode == 0, first.stderr
    name, key = first.stdout.split()
    assert name == "development"
    assert second.stdout.split() == [name, key]
    assert (project_copy / "instance" / "secret_key").read_text().strip() == key


def test_env_example_documents_every_variable_the_app_reads() -> None:
    source = (PROJECT / "config.py").read_text()
    read = set(re.findall(r'_env(?:_int|_bool|_seconds|_networks)?\(\s*"([A-Z_]+)"', source))
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
    monkeypatch.setenv("MAIL_ENABLED", "false")
    monkeypatch.delenv("CACHE_REDIS_URL", raising=False)
    first, second = create_app("production"), create_app("production")
    assert first.config["CACHE_TYPE"] == "app.folder_cache.FolderCache"
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
        ("SESSION_COOKIE_SECURE", "treu", "SESSION_COOKIE_SECURE must be true or false"),
    ],
)
def test_unusable_settings_are_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        create_app("testing")


@pytest.mark.parametrize(("value", "expected"), [("yes", True), (" ON", True), ("0", False)])
def test_booleans_take_the_usual_words_in_any_case(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("SESSION_COOKIE_SECURE", value)
    assert create_app("testing").config["SESSION_COOKIE_SECURE"] is expected


def test_database_waits_are_bounded_and_configurable(monkeypatch: pytest.MonkeyPatch) -> None:
    from config import engine_options

    url = "mysql+pymysql://app@127.0.0.1/app"
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    defaults = engine_options(url)
    assert defaults["pool_timeout"] == 5
    # A request waits no longer for a reply than for a connection.
    assert defaults["connect_args"] == {
        "connect_timeout": 3,
        "read_timeout": 3,
        "write_timeout": 3,
    }
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    assert engine_options(url)["connect_args"]["read_timeout"] == 600
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


def test_a_search_time_limit_must_stay_below_the_read_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FLASK_RUN_FROM_CLI", raising=False)
    monkeypatch.setenv("TEST_DATABASE_URL", "mysql+pymysql://app@127.0.0.1/app")
    assert create_app("testing").config["SEARCH_TIME_LIMIT"] == 2
    monkeypatch.setenv("SEARCH_TIME_LIMIT", "3")
    with pytest.raises(ConfigError, match="SEARCH_TIME_LIMIT=3.0 must be below DATABASE_READ_T"):
        create_app("testing")
    monkeypatch.setenv("DATABASE_READ_TIMEOUT", "10")
    assert create_app("testing").config["SEARCH_TIME_LIMIT"] == 3
    # Left to its default, the limit follows a shorter read timeout down.
    monkeypatch.delenv("SEARCH_TIME_LIMIT")
    monkeypatch.setenv("DATABASE_READ_TIMEOUT", "2")
    assert create_app("testing").config["SEARCH_TIME_LIMIT"] == pytest.approx(4 / 3)


def test_the_database_retry_interval_is_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert create_app("testing").config["DATABASE_RETRY_INTERVAL"] == 2
    monkeypatch.setenv("DATABASE_RETRY_INTERVAL", "7")
    assert create_app("testing").config["DATABASE_RETRY_INTERVAL"] == 7


def test_a_malformed_rate_limit_is_refused_at_start_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RATELIMIT_LOGIN_ACCOUNT", "ten a minute")
    with pytest.raises(ConfigError, match="RATELIMIT_LOGIN_ACCOUNT='ten a minute' is not a rate"):
        create_app("testing")


@pytest.mark.slow
def test_a_configuration_named_in_code_still_reads_dotenv(
    project_copy: Path, tmp_path: Path
) -> None:
    """create_app("production") (check-deploy, a script) sees .env like mod_wsgi does."""
    (project_copy / ".env").write_text(
        f"SECRET_KEY={GOOD_KEY}\nDATABASE_URL=sqlite://\nMAIL_ENABLED=false\n"
    )
    result = _python_in(
        project_copy,
        "from app import create_app; print(create_app('production').config['CONFIG_NAME'])",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["production"]


def _production_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECRET_KEY", GOOD_KEY)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'nodes.db'}")
    monkeypatch.setenv("MAIL_ENABLED", "false")
    for name in ("RATELIMIT_STORAGE_URI", "CACHE_REDIS_URL", "REDIS_URL"):
        monkeypatch.delenv(name, raising=False)


def test_production_refuses_to_count_rate_limits_per_process_unless_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path)
    with pytest.raises(ConfigError, match="^REDIS_URL is not set") as refused:
        create_app("production")
    assert "RATELIMIT_STORAGE_URI=memory:// on purpose" in str(refused.value)

    # Set on purpose, for a site served by one process: it starts.
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    assert create_app("production").config["RATELIMIT_STORAGE_URI"] == "memory://"
    # With no limits at all there is nothing to count.
    monkeypatch.delenv("RATELIMIT_STORAGE_URI")
    monkeypatch.setenv("RATELIMIT_ENABLED", "false")
    assert create_app("production").config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_one_redis_url_serves_the_rate_limits_and_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path)
    monkeypatch.setenv("REDIS_URL", "redis://:pw@redis.internal:6379/0")
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "0.3")

    config = create_app("production").config

    assert config["RATELIMIT_STORAGE_URI"] == "redis://:pw@redis.internal:6379/0"
    assert config["CACHE_REDIS_URL"] == "redis://:pw@redis.internal:6379/0"
    assert config["CACHE_TYPE"] == "app.resilient_cache.ResilientRedisCache"
    for options in (config["RATELIMIT_STORAGE_OPTIONS"], config["CACHE_OPTIONS"]):
        assert options["socket_timeout"] == 0.3
    # One database, apart by key: the cache's prefix is never empty, and the
    # limits' keys start with LIMITS: (the limits library's own prefix).
    assert config["CACHE_KEY_PREFIX"] == "flaskapp:"


def test_explicit_stores_win_over_redis_url(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _production_env(monkeypatch, tmp_path)
    monkeypatch.setenv("REDIS_URL", "redis://:pw@redis.internal:6379/0")
    monkeypatch.setenv("RATELIMIT_STORAGE_URI", "memory://")
    monkeypatch.setenv("CACHE_REDIS_URL", "redis://:pw@cache.internal:6379/2")

    config = create_app("production").config

    assert config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert "RATELIMIT_STORAGE_OPTIONS" not in config
    assert config["CACHE_REDIS_URL"] == "redis://:pw@cache.internal:6379/2"


def test_a_redis_cache_needs_a_key_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flask-Caching's clear() without a prefix empties the database, rate limits included."""
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = load_config("testing")
    final = {name: getattr(settings, name) for name in dir(settings) if name.isupper()}

    with pytest.raises(ConfigError, match="^CACHE_KEY_PREFIX is empty"):
        settings.validate({**final, "CACHE_KEY_PREFIX": ""})


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Flask, Flask]]:
    """Two production apps, as on two machines, sharing one database and REDIS_URL only."""
    import redis

    from app.extensions import db
    from app.models import Post, User

    if not redis_up():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    run = secrets.token_hex(4)
    _production_env(monkeypatch, tmp_path)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CACHE_KEY_PREFIX", f"flaskapp-test-nodes-{run}:")
    monkeypatch.setenv("RATELIMIT_KEY_PREFIX", f"flaskapp-test-nodes-{run}")
    nodes = []
    for name in ("a", "b"):
        # Each machine has its own disk: without Redis, each its own folder cache.
        monkeypatch.setenv("CACHE_DIR", str(tmp_path / f"cache-{name}"))
        node = create_app("production")
        node.config["PASSWORD_HASH_METHOD"] = "scrypt:1024:8:1"
        nodes.append(node)
    with nodes[0].app_context():
        db.create_all()
        user = User(username="alice", email="alice@example.com", password=PASSWORD)
        db.session.add(Post(title="Before", body="b", author=user))
        db.session.commit()
    yield nodes[0], nodes[1]
    for node in nodes:
        with node.app_context():
            db.engine.dispose()
    connection = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    for key in connection.scan_iter(match=f"*flaskapp-test-nodes-{run}*"):
        connection.delete(key)
    connection.close()


def test_two_nodes_with_redis_url_count_limits_and_cache_together(
    two_nodes: tuple[Flask, Flask],
) -> None:
    """The issue's two measurements: limits per node, and a stale list on the other node."""
    import redis

    first, second = (node.test_client() for node in two_nodes)
    wrong = basic_auth("alice", "not the password at all")

    for client in (first, second, first, second, first):
        assert client.post("/api/tokens", headers=wrong).status_code == 401
    assert second.post("/api/tokens", headers=wrong).status_code == 429
    assert first.post("/api/tokens", headers=wrong).status_code == 429
    prefix = two_nodes[0].config["RATELIMIT_KEY_PREFIX"]
    with redis.Redis.from_url("redis://127.0.0.1:6379/0") as connection:
        assert list(connection.scan_iter(match=f"LIMITS:LIMITER/{prefix}/*")), "counted in Redis"

    assert [post["title"] for post in second.get("/api/posts").get_json()["items"]] == ["Before"]
    # From another address: this one is over the limit on both nodes.
    first.environ_base["REMOTE_ADDR"] = "198.51.100.9"
    token = first.post("/api/tokens", headers=basic_auth("alice")).get_json()["token"]
    post_id = first.get("/api/posts").get_json()["items"][0]["id"]
    edited = first.patch(f"/api/posts/{post_id}", json={"title": "After"}, headers=bearer(token))
    assert edited.status_code == 200
    assert [post["title"] for post in second.get("/api/posts").get_json()["items"]] == ["After"]
