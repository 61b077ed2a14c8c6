"""Application configuration: the one place that reads the environment.

``FLASK_CONFIG`` picks a class (``development``, ``production`` or ``testing``;
``development`` when unset). Each class reads the environment when it is
instantiated, so a value set in ``.env`` or the process environment is always
seen, whatever the import order. ``instance/config.py`` may override anything
afterwards (see ``create_app``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

# Values that appear in examples and tutorials; a production key must not be one.
KNOWN_WEAK_SECRETS = frozenset(
    {
        "dev",
        "dev-key",
        "secret",
        "changeme",
        "change-me",
        "development-only-secret-key-change-me",
        "replace-with-a-long-random-string",
        "you-will-never-guess",
    }
)
MIN_SECRET_KEY_LENGTH = 32
PROJECT_ROOT = Path(__file__).resolve().parent


class ConfigError(RuntimeError):
    """A required setting is missing or unsafe; the message names it."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_seconds(name: str, default: float, minimum: float, maximum: float) -> float:
    value = _env(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, got {value!r}") from exc
    if not minimum <= number <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum} seconds, got {value}")
    return number


def _redis_client_options(connect_timeout: float, socket_timeout: float) -> dict[str, Any]:
    """redis-py options that bound how long a request can wait on a dead or hung Redis."""
    # retry=None: redis-py then never retries a failed command, so an outage
    # costs one timeout per command, not a retry storm with back-off sleeps.
    return {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
        "retry": None,
    }


def _env_int(name: str, default: int, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    value = _env(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from exc
    if not minimum <= number <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {number}")
    return number


class BaseConfig:
    """Settings shared by every environment."""

    CONFIG_NAME = "base"
    DEBUG = False
    TESTING = False

    def __init__(self) -> None:
        self.SECRET_KEY = _env("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", "sqlite:///app.db")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SQLALCHEMY_RECORD_QUERIES = False

        # Bodies larger than this are refused with 413 before they are parsed.
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024)

        self.POSTS_PER_PAGE = _env_int("POSTS_PER_PAGE", 10, minimum=1, maximum=100)
        # Werkzeug's default (scrypt); tests use a cheaper cost.
        self.PASSWORD_HASH_METHOD = "scrypt"
        self.API_TOKEN_LIFETIME = timedelta(
            seconds=_env_int(
                "API_TOKEN_LIFETIME_SECONDS", 24 * 3600, minimum=60, maximum=365 * 24 * 3600
            )
        )

        # Sessions and cookies. Secure cookies need HTTPS; production forces it.
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", False)
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_DURATION = timedelta(days=14)
        self.PERMANENT_SESSION_LIFETIME = timedelta(days=14)
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session

        # Rate limits. memory:// counts per process; use Redis when several
        # processes or machines serve the app.
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_KEY_PREFIX = _env("RATELIMIT_KEY_PREFIX", "flaskapp")
        self.RATELIMIT_HEADERS_ENABLED = True
        # If the shared store is down, count in memory rather than fail requests.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.RATELIMIT_SWALLOW_ERRORS = True
        # Redis, for the cache and the rate limits: how long one command may wait
        # before Redis counts as down. A request touches Redis at most once for
        # each while it is down, so this bounds what an outage adds to a request.
        self.REDIS_CONNECT_TIMEOUT = _env_seconds("REDIS_CONNECT_TIMEOUT", 0.2, 0.01, 10)
        self.REDIS_SOCKET_TIMEOUT = _env_seconds("REDIS_SOCKET_TIMEOUT", 0.2, 0.01, 10)
        # After a failure, each process leaves Redis alone this long, then lets
        # one request try it again: the most a hung Redis costs per interval is
        # one timeout, and recovery takes at most this long.
        self.REDIS_RETRY_INTERVAL = _env_seconds("REDIS_RETRY_INTERVAL", 2.0, 0.1, 300)
        redis_options = _redis_client_options(self.REDIS_CONNECT_TIMEOUT, self.REDIS_SOCKET_TIMEOUT)
        if (self.RATELIMIT_STORAGE_URI or "").startswith(("redis://", "rediss://", "redis+unix")):
            self.RATELIMIT_STORAGE_OPTIONS = dict(redis_options)
        # Password guesses (site log-in and POST /api/tokens share it) and registrations.
        self.RATELIMIT_LOGIN = _env("RATELIMIT_LOGIN", "5 per minute")
        self.RATELIMIT_REGISTER = _env("RATELIMIT_REGISTER", "10 per hour")

        # Cache: one process by default, Redis when CACHE_REDIS_URL is set. The
        # Redis backend serves from the database while Redis is down.
        redis_url = _env("CACHE_REDIS_URL")
        self.CACHE_TYPE = "SimpleCache"
        if redis_url:
            self.CACHE_TYPE = "app.resilient_cache.ResilientRedisCache"
            self.CACHE_REDIS_URL = redis_url
            self.CACHE_OPTIONS = dict(redis_options)
        self.CACHE_DEFAULT_TIMEOUT = _env_int("CACHE_DEFAULT_TIMEOUT", 300)
        self.CACHE_KEY_PREFIX = _env("CACHE_KEY_PREFIX", "flaskapp:")

        # Logging: stderr always (Apache collects it); a file only if asked.
        self.LOG_LEVEL = _env("LOG_LEVEL", "INFO")
        self.LOG_FILE = _env("LOG_FILE")

    def validate(self, settings: Mapping[str, Any]) -> None:
        """Raise ConfigError if ``settings`` (the final app.config) must not be used."""


def engine_options(database_url: str | None) -> dict[str, object]:
    """Connection pool settings suited to the database behind ``database_url``."""
    # Error messages must not carry row values (password hashes, session tokens)
    # into the logs.
    common: dict[str, object] = {"hide_parameters": True}
    if database_url and database_url.startswith("sqlite"):
        # Wait for a writer in another thread or process instead of failing at once.
        return {**common, "connect_args": {"timeout": 15}}
    if database_url and database_url.startswith("mysql"):
        return {
            **common,
            # Detect connections the server closed (wait_timeout) before using them.
            "pool_pre_ping": True,
            "pool_recycle": 280,
            # Fail fast instead of hanging a request when the server is unreachable.
            "connect_args": {"connect_timeout": 3, "read_timeout": 10, "write_timeout": 10},
        }
    return common


class DevelopmentConfig(BaseConfig):
    """Local development: SQLite in the instance folder, a throwaway secret."""

    CONFIG_NAME = "development"

    def __init__(self) -> None:
        super().__init__()
        # Debug is not turned on here: it comes from FLASK_DEBUG or --debug only.
        self.SECRET_KEY = self.SECRET_KEY or "development-only-secret-key-change-me"


class TestingConfig(BaseConfig):
    """The test suite: in-memory SQLite unless TEST_DATABASE_URL points elsewhere."""

    CONFIG_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        self.SECRET_KEY = "testing-secret-key-that-is-long-enough-0123456789"
        self.SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL", "sqlite://")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.RATELIMIT_STORAGE_URI = "memory://"
        self.RATELIMIT_KEY_PREFIX = "flaskapp-test"
        self.CACHE_KEY_PREFIX = _env("CACHE_KEY_PREFIX", "flaskapp-test:")
        # Scrypt's default cost makes a suite of hundreds of log-ins slow.
        self.PASSWORD_HASH_METHOD = "scrypt:1024:8:1"


class ProductionConfig(BaseConfig):
    """Served by Apache/mod_wsgi over HTTPS; refuses to start without its secrets."""

    CONFIG_NAME = "production"

    def __init__(self) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PREFERRED_URL_SCHEME = "https"
        if self.CACHE_TYPE == "SimpleCache":
            # mod_wsgi runs several processes: a per-process cache would keep
            # serving a list another process has changed. Files are shared by
            # every process on this machine; Redis (CACHE_REDIS_URL) by all machines.
            self.CACHE_TYPE = "FileSystemCache"
            self.CACHE_DIR = _env("CACHE_DIR", str(PROJECT_ROOT / "instance" / "cache"))

    def validate(self, settings: Mapping[str, Any]) -> None:
        key = settings.get("SECRET_KEY")
        if not key:
            raise ConfigError(
                "SECRET_KEY is not set; generate one with: "
                "python3 -c 'import secrets; print(secrets.token_hex(32))'"
            )
        if key.lower() in KNOWN_WEAK_SECRETS:
            raise ConfigError("SECRET_KEY is a published example value; generate a new one")
        if len(key) < MIN_SECRET_KEY_LENGTH:
            raise ConfigError(
                f"SECRET_KEY is {len(key)} characters; production needs at least "
                f"{MIN_SECRET_KEY_LENGTH}"
            )
        if not settings.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigError(
                "DATABASE_URL is not set; for MariaDB use "
                "mysql+pymysql://USER:PASSWORD@HOST/DBNAME?charset=utf8mb4"
            )


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


def load_dotenv_file() -> None:
    """Load the project's own .env (the real environment wins).

    Done here rather than left to the ``flask`` command, so mod_wsgi and any
    WSGI server see the same settings.
    """
    load_dotenv(PROJECT_ROOT / ".env")


def config_name_from_env(default: str) -> str:
    """FLASK_CONFIG from the environment or .env, else ``default``."""
    load_dotenv_file()
    return _env("FLASK_CONFIG") or default


def load_config(name: str | None = None) -> BaseConfig:
    """Instantiate the configuration called ``name`` (validate it once overridden).

    ``name`` defaults to ``FLASK_CONFIG`` (from the environment or .env), then
    to ``development``.
    """
    load_dotenv_file()
    name = (name or _env("FLASK_CONFIG") or "development").strip().lower()
    try:
        config_class = CONFIGS[name]
    except KeyError:
        choices = ", ".join(sorted(CONFIGS))
        raise ConfigError(f"FLASK_CONFIG={name!r} is not one of: {choices}") from None
    return config_class()
