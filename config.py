"""Application configuration: the one place that reads the environment.

``FLASK_CONFIG`` picks a class (``development``, ``production`` or ``testing``;
when unset, ``default_config_name`` decides). Each class reads the environment when it is
instantiated, so a value set in ``.env`` or the process environment is always
seen, whatever the import order. ``instance/config.py`` may override anything
afterwards (see ``create_app``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from email.headerregistry import Address
from email.policy import SMTP
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dotenv import load_dotenv
from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# Keys published in this repository, its README, the guides it follows and common
# tutorials. Compared after lower-casing and dropping everything but letters and
# digits, so "Dev-Secret-Key " is still "devsecretkey"; a long one also counts when
# it is only part of a key ("<published>-2").
PUBLISHED_SECRET_KEYS = frozenset(
    {
        "dev",
        "dev-key",
        "secret",
        "secret-key",
        "secretkey",
        "mysecretkey",
        "super-secret-key",
        "changeme",
        "change-me",
        "your-secret-key",
        "your-secret-key-here",
        "dev-secret-key-change-in-production",
        "your-very-secret-key-generate-with-python-secrets",
        "development-only-secret-key-change-me",
        "testing-secret-key-that-is-long-enough-0123456789",
        "replace-with-a-long-random-string",
        "you-will-never-guess",
    }
)
MIN_SECRET_KEY_LENGTH = 32
# Django's deploy check asks for 5 distinct characters in 50; ours is stricter on a
# shorter key. A random 32-character hex key has fewer than 10 about once in 10,000
# draws, a 64-character one practically never.
MIN_SECRET_KEY_DISTINCT = 10
PROJECT_ROOT = Path(__file__).resolve().parent
GENERATED_KEY_FILE = PROJECT_ROOT / "instance" / "secret_key"
# Where development keeps the mail it would have sent, when no MAIL_SERVER is set.
MAIL_FOLDER = PROJECT_ROOT / "instance" / "mail"
# The name pages and mail show for the site.
DEFAULT_SITE_NAME = "Flask Site"
# What `make run` serves: development's links in mail point there unless PUBLIC_URL says otherwise.
DEVELOPMENT_PUBLIC_URL = "http://127.0.0.1:5000"
# Limits the views read from the configuration, checked when the app starts.
RATE_LIMIT_SETTINGS = (
    "RATELIMIT_LOGIN",
    "RATELIMIT_LOGIN_ACCOUNT",
    "RATELIMIT_REGISTER",
    "RATELIMIT_REGISTER_ATTEMPTS",
    "RATELIMIT_PASSWORD_RESET",
    "RATELIMIT_PASSWORD_RESET_ADDRESS",
    "RATELIMIT_EMAIL_CHANGE_ADDRESS",
    "RATELIMIT_SEARCH",
)
# The databases the app is built and tested for, and the driver each needs.
SUPPORTED_DATABASES = {"sqlite": "pysqlite", "mysql": "pymysql", "mariadb": "pymysql"}
DATABASE_URL_EXAMPLES = (
    "mysql+pymysql://USER:PASSWORD@HOST/DBNAME?charset=utf8mb4 (MariaDB, MySQL) "
    "or sqlite:////ABSOLUTE/PATH.db"
)
GENERATE_KEY_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_hex(32))'"


class ConfigError(RuntimeError):
    """A required setting is missing or unsafe; the message names it."""


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word not in TRUE_WORDS | FALSE_WORDS:
        # A typo must not quietly turn a safety setting off (or on).
        raise ConfigError(f"{name} must be true or false, got {value!r}")
    return word in TRUE_WORDS


def _env_number(name: str, default: float, minimum: float, maximum: float, whole: bool) -> float:
    value = _env(name)
    if value is None:
        return default
    kind, unit = ("a whole number", "") if whole else ("a number of seconds", " seconds")
    try:
        number = int(value) if whole else float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be {kind}, got {value!r}") from exc
    if not minimum <= number <= maximum:
        raise ConfigError(
            f"{name} must be between {minimum} and {maximum}{unit}, got {value.strip()}"
        )
    return number


def _env_networks(name: str) -> tuple[str, ...]:
    value = _env(name) or ""
    networks = tuple(part.strip() for part in value.replace(",", " ").split())
    problem = trusted_proxies_problem(networks, name)
    if problem:
        raise ConfigError(problem)
    return networks


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def trusted_proxies_problem(networks: object, name: str = "TRUSTED_PROXIES") -> str | None:
    """Why ``networks`` cannot be the trusted proxies' addresses, or None."""
    if isinstance(networks, str) or not isinstance(networks, (list, tuple)):
        return f"{name} must be a list of addresses, got {networks!r}"
    example = "e.g. 10.0.0.5, 10.0.1.0/24 (the load balancers' addresses as Apache sees them)"
    for network in networks:
        if str(network).isdigit():
            # ProxyFix and others count hops; a count trusts whatever reaches a node
            # directly, so this setting names the proxies instead.
            return f"{name} lists the proxies' addresses, not how many there are; {example}"
        if "%" in str(network):
            # Python takes any text after "%" as an IPv6 zone, newlines included,
            # and no proxy is known by a link-local address with a zone.
            return f"{name} holds {network!r}: an address with a zone (%) cannot be used"
        try:
            ipaddress.ip_network(str(network), strict=False)
        except ValueError:
            return f"{name} holds {network!r}, which is not an address or network; {example}"
        try:
            ipaddress.ip_network(str(network))
        except ValueError:
            # 10.0.0.5/8 would quietly trust all of 10.0.0.0/8 to name any client.
            wide = ipaddress.ip_network(str(network), strict=False)
            host = str(network).split("/")[0]
            return (
                f"{name} holds {network!r}: did you mean the address {host} or the network {wide}?"
            )
    return None


def _env_int(name: str, default: int, minimum: int = 0, maximum: int = 2**31 - 1) -> int:
    return int(_env_number(name, default, minimum, maximum, whole=True))


def _env_seconds(name: str, default: float, minimum: float, maximum: float) -> float:
    return _env_number(name, default, minimum, maximum, whole=False)


def public_url_problem(url: str, https_only: bool) -> str | None:
    """Why ``url`` cannot be the base of the links the app sends out, or None."""
    parts = urlsplit(url)
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname:
        example = "https://www.example.org (or https://example.org/app under a prefix)"
        wanted = "an absolute https URL" if https_only else "an absolute http(s) URL"
        return f"PUBLIC_URL must be {wanted} such as {example}, got {url!r}"
    if parts.query or parts.fragment or parts.username or parts.password:
        return (
            f"PUBLIC_URL must be the site's address and path prefix only (no user, query or "
            f"fragment), got {url!r}"
        )
    return None


def mail_sender_problem(sender: str) -> str | None:
    """Why ``sender`` cannot be MAIL_DEFAULT_SENDER, or None."""
    if single_address(sender) is None:
        example = '"Site name <noreply@example.org>" or noreply@example.org'
        return f"MAIL_DEFAULT_SENDER must be one address such as {example}, got {sender!r}"
    return None


def single_address(value: str) -> Address | None:
    """``value`` as one complete mail address ("Name <user@domain>" or "user@domain"), or None.

    A line break, a list or a half address is None: whatever passes can go into a
    header as it is, without adding a header or a recipient nobody meant.
    """
    try:
        header = SMTP.header_factory("From", value)
        addresses = list(header.addresses)
    except (ValueError, IndexError):
        return None
    if header.defects or len(addresses) != 1:
        return None
    address: Address = addresses[0]
    return address if address.username and address.domain else None


def _redis_client_options(connect_timeout: float, socket_timeout: float) -> dict[str, Any]:
    """redis-py options that bound how long a request can wait on a dead or hung Redis."""
    # retry=None: redis-py then never retries a failed command, so an outage
    # costs one timeout per command, not a retry storm with back-off sleeps.
    return {
        "socket_connect_timeout": connect_timeout,
        "socket_timeout": socket_timeout,
        "retry": None,
    }


def _normalized_key(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def _is_published(key: str) -> bool:
    normalized = _normalized_key(key)
    for published in map(_normalized_key, PUBLISHED_SECRET_KEYS):
        if normalized == published or (len(published) >= 8 and published in normalized):
            return True
    return False


def _repeats_a_pattern(key: str) -> bool:
    """True for a key that is a shorter string over and over ("abcabc...", "1234567890123...")."""
    return any(
        all(key[i] == key[i + period] for i in range(len(key) - period))
        for period in range(1, len(key) // 2 + 1)
    )


def _mostly_runs(key: str) -> bool:
    """True when most neighbouring characters are equal or consecutive ("abcdef...", "aabbcc")."""
    steps = [abs(ord(b) - ord(a)) for a, b in zip(key, key[1:], strict=False)]
    return sum(step <= 1 for step in steps) * 2 > len(steps)


def secret_key_problem(key: str | None) -> str | None:
    """Why ``key`` must not sign sessions (missing, published, short or guessable), or None."""
    if not key or not key.strip():
        return f"SECRET_KEY is not set; {GENERATE_KEY_HINT}"
    key = key.strip()
    if _is_published(key):
        return f"SECRET_KEY is a published example value; {GENERATE_KEY_HINT}"
    if len(key) < MIN_SECRET_KEY_LENGTH:
        return (
            f"SECRET_KEY is {len(key)} characters; at least {MIN_SECRET_KEY_LENGTH} are needed; "
            f"{GENERATE_KEY_HINT}"
        )
    if len(set(key)) < MIN_SECRET_KEY_DISTINCT or _repeats_a_pattern(key) or _mostly_runs(key):
        return (
            "SECRET_KEY is guessable (too few different characters, a repeated pattern or a "
            f"run); {GENERATE_KEY_HINT}"
        )
    return None


def database_url_problem(url: str, name: str = "DATABASE_URL") -> str | None:
    """Why ``url`` cannot be the app's database, or None.

    Checked when the configuration loads, so a typo or an unsupported database
    is one line at start-up, not a traceback (or "No such command 'db'") later.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as error:
        return f"{name} is not a database URL ({error}); use {DATABASE_URL_EXAMPLES}"
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend not in SUPPORTED_DATABASES:
        return (
            f"{name} names {backend}, which this app does not support; use {DATABASE_URL_EXAMPLES}"
        )
    wanted = SUPPORTED_DATABASES[backend]
    if driver != wanted:
        return (
            f"{name} asks for the {driver} driver, which is not installed; write "
            f"{backend}+{wanted}://... (e.g. {DATABASE_URL_EXAMPLES})"
        )
    return None


def generated_secret_key(path: Path | None = None) -> str:
    """Development's key: random, made once into ``instance/`` and reused after.

    Sessions then survive a restart of ``flask run``, and no key that anyone can
    read in the repository ever signs one.
    """
    path = path or GENERATED_KEY_FILE
    key = _read_generated_key(path)
    if key:
        return key
    key = secrets.token_hex(32)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The key is complete in a private temporary file before it gets its name:
        # a process starting at the same moment never reads a half-written key.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")
        try:
            with os.fdopen(descriptor, "w") as file:
                file.write(key + "\n")
            try:
                os.link(temporary, path)
            except FileExistsError:
                # Another process won the race: everyone uses its key.
                return _read_generated_key(path) or key
        finally:
            os.unlink(temporary)
    except OSError as exc:
        raise ConfigError(
            f"SECRET_KEY is not set and {path} cannot be written ({exc.strerror}); "
            "set SECRET_KEY in .env, or let this user write that folder"
        ) from None
    return key


def _read_generated_key(path: Path) -> str:
    """The key saved at ``path``, or "" when there is none yet."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise ConfigError(
            f"SECRET_KEY is not set and {path} cannot be read ({exc.strerror}); "
            f"set SECRET_KEY in .env, or give this user read access to {path} "
            "(it belongs to whoever first ran the app)"
        ) from None


class BaseConfig:
    """Settings shared by every environment."""

    CONFIG_NAME = "base"
    DEBUG = False
    TESTING = False
    # Production's links must be https: a reset link over plain http can be read on the way.
    PUBLIC_URL_HTTPS_ONLY = False

    def __init__(self) -> None:
        self.SECRET_KEY = _env("SECRET_KEY")
        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL", "sqlite:///app.db")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SQLALCHEMY_RECORD_QUERIES = False
        # After a failed connection, a process refuses new ones (503) for this many
        # seconds instead of making each request wait; also sent as Retry-After.
        self.DATABASE_RETRY_INTERVAL = _env_int("DATABASE_RETRY_INTERVAL", 2, minimum=1)
        # Readiness (GET /api/ready), what a load balancer asks. While this file
        # exists the node answers 503 "draining" there (GET /api/health stays 200),
        # so the balancer stops sending it traffic; delete it to take traffic again.
        self.DRAIN_FILE = _env("DRAIN_FILE", str(PROJECT_ROOT / "instance" / "drain"))
        # Whether a Redis outage makes a node unready too. Off: nodes stay in the
        # balancer while Redis is down, serving from the database with limits
        # counted per process.
        self.READY_NEEDS_REDIS = _env_bool("READY_NEEDS_REDIS", True)
        # How long a `flask db` command waits for another one (on this machine or
        # another node) to finish before giving up: as long as one migration may take.
        self.MIGRATION_LOCK_TIMEOUT = _env_int("MIGRATION_LOCK_TIMEOUT", 600, minimum=1)

        # Bodies larger than this are refused with 413 before they are parsed.
        self.MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024)

        self.POSTS_PER_PAGE = _env_int("POSTS_PER_PAGE", 10, minimum=1, maximum=100)
        # MariaDB stops a search's statement after this many seconds, and the
        # visitor is told (503). Below DATABASE_READ_TIMEOUT, so that a slow search
        # fails alone instead of looking like a server that stopped answering: by
        # default 2 s, or two thirds of a shorter read timeout.
        self.SEARCH_TIME_LIMIT = _env_seconds(
            "SEARCH_TIME_LIMIT", min(2.0, database_read_timeout() * 2 / 3), 0.001, 600
        )
        # Werkzeug's default (scrypt); tests use a cheaper cost.
        self.PASSWORD_HASH_METHOD = "scrypt"
        self.API_TOKEN_LIFETIME = timedelta(
            seconds=_env_int(
                "API_TOKEN_LIFETIME_SECONDS", 24 * 3600, minimum=60, maximum=365 * 24 * 3600
            )
        )
        # How long an emailed link works (app/account_links.py); each is single-use.
        self.PASSWORD_RESET_LINK_SECONDS = _env_int(
            "PASSWORD_RESET_LINK_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600
        )
        self.EMAIL_CHANGE_LINK_SECONDS = _env_int(
            "EMAIL_CHANGE_LINK_SECONDS", 24 * 3600, minimum=60, maximum=7 * 24 * 3600
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

        # Who may tell the app the client's address and scheme (app/proxies.py):
        # nobody unless listed, so a client cannot claim another's address.
        self.TRUSTED_PROXIES = _env_networks("TRUSTED_PROXIES")

        # One Redis for everything shared between processes and machines. The
        # cache and the rate limits both use it unless CACHE_REDIS_URL or
        # RATELIMIT_STORAGE_URI names another store. They share one database and
        # stay apart by key: the limits' keys start with "LIMITS:", the cache's with
        # CACHE_KEY_PREFIX. Prefixes rather than database numbers, because a
        # managed or clustered Redis may offer database 0 only, and the operator's
        # URL is then used exactly as written.
        self.REDIS_URL = _env("REDIS_URL")

        # Rate limits. memory:// counts per process: right only when one process
        # serves the site (production refuses it unless it is set on purpose).
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", self.REDIS_URL or "memory://")
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
        # Log-in attempts per account, whatever the address (a success clears the
        # count): stops guessing spread over many addresses. A browser the owner
        # logged in from before counts on its own (app/login_throttle.py), so
        # guessing cannot keep the owner out.
        self.RATELIMIT_LOGIN_ACCOUNT = _env("RATELIMIT_LOGIN_ACCOUNT", "10 per 15 minutes")
        # Accounts created per client; every attempt counts against the higher limit.
        self.RATELIMIT_REGISTER = _env("RATELIMIT_REGISTER", "10 per hour")
        self.RATELIMIT_REGISTER_ATTEMPTS = _env("RATELIMIT_REGISTER_ATTEMPTS", "50 per hour")
        # Password reset mail: requests per client (site and API together), and mails
        # per address whoever asks, so nobody can flood one inbox from many clients.
        self.RATELIMIT_PASSWORD_RESET = _env("RATELIMIT_PASSWORD_RESET", "10 per hour")
        self.RATELIMIT_PASSWORD_RESET_ADDRESS = _env(
            "RATELIMIT_PASSWORD_RESET_ADDRESS", "3 per hour"
        )
        # Links confirming an email change, per new address: a logged-in user
        # cannot use the form to mail anyone over and over.
        self.RATELIMIT_EMAIL_CHANGE_ADDRESS = _env("RATELIMIT_EMAIL_CHANGE_ADDRESS", "3 per hour")
        # Searches per client, site and API together: a search is never cached
        # and one over common words reads much of the index (README, "Search").
        self.RATELIMIT_SEARCH = _env("RATELIMIT_SEARCH", "60 per minute")

        # Cache: one process by default, Redis when CACHE_REDIS_URL (or REDIS_URL)
        # is set. The Redis backend serves from the database while Redis is down.
        redis_url = _env("CACHE_REDIS_URL", self.REDIS_URL)
        self.CACHE_TYPE = "SimpleCache"
        if redis_url:
            self.CACHE_TYPE = "app.resilient_cache.ResilientRedisCache"
            self.CACHE_REDIS_URL = redis_url
            self.CACHE_OPTIONS = dict(redis_options)
        self.CACHE_DEFAULT_TIMEOUT = _env_int("CACHE_DEFAULT_TIMEOUT", 300)
        self.CACHE_KEY_PREFIX = _env("CACHE_KEY_PREFIX", "flaskapp:")

        # Logging: stderr always (Apache collects it); a file only if asked.
        # INFO includes one line per request; production leaves those to
        # Apache's access log (ProductionConfig).
        self.LOG_LEVEL = str(_env("LOG_LEVEL", "INFO")).upper()
        self.LOG_FILE = _env("LOG_FILE")

        # What pages and mail call the site.
        self.SITE_NAME = _env("SITE_NAME", DEFAULT_SITE_NAME)
        # The address people reach the site at, prefix included: every link in a
        # mail is built from it, never from the request's Host header, which the
        # client chooses (a reset link must not point at an attacker's host).
        self.PUBLIC_URL = (_env("PUBLIC_URL") or "").rstrip("/") or None

        # Outgoing mail (app/mail.py). MAIL_ENABLED turns on the account features
        # that need it (password reset, email change confirmation); production
        # refuses to start with it on and no mail server to send through.
        self.MAIL_ENABLED = _env_bool("MAIL_ENABLED", True)
        self.MAIL_SERVER = _env("MAIL_SERVER")
        self.MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
        # STARTTLS unless the connection is TLS from the start (MAIL_USE_SSL).
        self.MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", not self.MAIL_USE_SSL)
        self.MAIL_PORT = _env_int(
            "MAIL_PORT", 465 if self.MAIL_USE_SSL else 587, minimum=1, maximum=65535
        )
        self.MAIL_USERNAME = _env("MAIL_USERNAME")
        self.MAIL_PASSWORD = _env("MAIL_PASSWORD")
        self.MAIL_DEFAULT_SENDER = _env("MAIL_DEFAULT_SENDER")
        # The most one message may take, connection included: a request that sends
        # mail waits at most this long for a slow or hung mail server.
        self.MAIL_TIMEOUT = _env_seconds("MAIL_TIMEOUT", 5.0, 0.1, 30)
        # Without MAIL_SERVER, development and the tests write each message here.
        self.MAIL_FOLDER = _env("MAIL_FOLDER", str(MAIL_FOLDER))

    def mail_without_setup(self) -> None:
        """Mail that works with no settings: for development and the tests, never production.

        Links point at what ``make run`` serves (not at whatever Host a request
        names), the sender needs no domain, and without MAIL_SERVER each message
        is written to MAIL_FOLDER.
        """
        self.PUBLIC_URL = self.PUBLIC_URL or DEVELOPMENT_PUBLIC_URL
        self.MAIL_DEFAULT_SENDER = (
            self.MAIL_DEFAULT_SENDER or f"{self.SITE_NAME} <noreply@localhost>"
        )

    def validate(self, settings: Mapping[str, Any]) -> None:
        """Raise ConfigError if ``settings`` (the final app.config) must not be used.

        Whatever the configuration, a published or guessable key never signs a session.
        """
        problem = secret_key_problem(settings.get("SECRET_KEY"))
        if problem:
            raise ConfigError(problem)
        url = settings.get("SQLALCHEMY_DATABASE_URI")
        problem = database_url_problem(url) if url else None
        if problem:
            raise ConfigError(problem)
        for name in RATE_LIMIT_SETTINGS:
            try:
                parse_many(str(settings.get(name)))
            except ValueError:
                raise ConfigError(
                    f"{name}={settings.get(name)!r} is not a rate limit; write e.g. "
                    "'10 per 15 minutes'"
                ) from None
        problem = trusted_proxies_problem(settings.get("TRUSTED_PROXIES") or ())
        if problem:
            raise ConfigError(problem)
        if settings.get("LOG_LEVEL") not in LOG_LEVELS:
            raise ConfigError(
                f"LOG_LEVEL={settings.get('LOG_LEVEL')!r} is not a level; use one of "
                + ", ".join(LOG_LEVELS)
            )
        if str(settings.get("CACHE_TYPE", "")).endswith("RedisCache") and not settings.get(
            "CACHE_KEY_PREFIX"
        ):
            # Without a prefix Flask-Caching's clear() empties the whole Redis
            # database, rate-limit counters included.
            raise ConfigError(
                "CACHE_KEY_PREFIX is empty while the cache is in Redis; set one, e.g. flaskapp:"
            )
        self.validate_mail(settings)
        connect_args = dict(settings.get("SQLALCHEMY_ENGINE_OPTIONS") or {}).get("connect_args")
        read_timeout = dict(connect_args or {}).get("read_timeout")
        if read_timeout and settings.get("SEARCH_TIME_LIMIT", 0) >= read_timeout:
            raise ConfigError(
                f"SEARCH_TIME_LIMIT={settings.get('SEARCH_TIME_LIMIT')} must be below "
                f"DATABASE_READ_TIMEOUT={read_timeout}: a search that reached the read "
                "timeout would stop the process asking the database for a while"
            )

    def validate_mail(self, settings: Mapping[str, Any]) -> None:
        """Refuse mail settings that contradict each other or cannot be used."""
        if settings.get("MAIL_USE_TLS") and settings.get("MAIL_USE_SSL"):
            raise ConfigError(
                "MAIL_USE_TLS and MAIL_USE_SSL are both true; use one: MAIL_USE_SSL=true for "
                "TLS from the start (usually port 465), or MAIL_USE_TLS=true for STARTTLS "
                "(usually port 587)"
            )
        url = settings.get("PUBLIC_URL")
        problem = public_url_problem(url, https_only=self.PUBLIC_URL_HTTPS_ONLY) if url else None
        if problem:
            raise ConfigError(problem)
        sender = settings.get("MAIL_DEFAULT_SENDER")
        problem = mail_sender_problem(sender) if sender else None
        if problem:
            raise ConfigError(problem)


def database_read_timeout() -> int:
    """DATABASE_READ_TIMEOUT: seconds a server database may take to answer a statement."""
    return _env_int("DATABASE_READ_TIMEOUT", 600 if running_flask_command() else 3, minimum=1)


def engine_options(database_url: str | None) -> dict[str, object]:
    """Connection pool settings suited to the database behind ``database_url``."""
    # Error messages must not carry row values (password hashes, session tokens)
    # into the logs.
    common: dict[str, object] = {"hide_parameters": True}
    if database_url and database_url.startswith("sqlite"):
        # Wait for a writer in another thread or process instead of failing at once.
        return {**common, "connect_args": {"timeout": 15}}
    if database_url and database_url.startswith(("mysql", "mariadb")):
        # A server that refuses connections fails at once; one that hangs (overloaded,
        # frozen, a dropped network) holds each request until a socket timeout: these
        # bound every wait. The read timeout must exceed the slowest legitimate query:
        # a page's queries take milliseconds, so a request waits no longer for a reply
        # than for a connection; the flask command (migrations on big tables) gets
        # ten minutes.
        io_timeout = database_read_timeout()
        return {
            **common,
            # Detect connections the server closed (wait_timeout) before using them.
            "pool_pre_ping": True,
            "pool_recycle": 280,
            # SQLAlchemy waits 30 s by default for a pooled connection to come free.
            "pool_timeout": _env_int("DATABASE_POOL_TIMEOUT", 5, minimum=1),
            "connect_args": {
                "connect_timeout": _env_int("DATABASE_CONNECT_TIMEOUT", 3, minimum=1),
                "read_timeout": io_timeout,
                "write_timeout": io_timeout,
            },
        }
    return common


class DevelopmentConfig(BaseConfig):
    """Local development: SQLite in the instance folder, a key generated once."""

    CONFIG_NAME = "development"

    def __init__(self) -> None:
        super().__init__()
        # Debug is not turned on here: it comes from FLASK_DEBUG or --debug only.
        self.SECRET_KEY = self.SECRET_KEY or generated_secret_key()
        self.mail_without_setup()


class TestingConfig(BaseConfig):
    """The test suite: in-memory SQLite unless TEST_DATABASE_URL points elsewhere."""

    CONFIG_NAME = "testing"
    TESTING = True

    def __init__(self) -> None:
        super().__init__()
        # Random per process: nothing in the repository can sign a session.
        self.SECRET_KEY = secrets.token_hex(32)
        self.SQLALCHEMY_DATABASE_URI = _env("TEST_DATABASE_URL", "sqlite://")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        # Memory unless a test points the limits at a real Redis.
        self.RATELIMIT_STORAGE_URI = _env("TEST_RATELIMIT_STORAGE_URI", "memory://")
        self.RATELIMIT_KEY_PREFIX = "flaskapp-test"
        self.CACHE_KEY_PREFIX = _env("CACHE_KEY_PREFIX", "flaskapp-test:")
        # Scrypt's default cost makes a suite of hundreds of log-ins slow.
        self.PASSWORD_HASH_METHOD = "scrypt:1024:8:1"
        self.mail_without_setup()


class ProductionConfig(BaseConfig):
    """Served by Apache/mod_wsgi over HTTPS; refuses to start without its secrets."""

    CONFIG_NAME = "production"
    PUBLIC_URL_HTTPS_ONLY = True

    def __init__(self) -> None:
        super().__init__()
        self.SQLALCHEMY_DATABASE_URI = _env("DATABASE_URL")
        self.SQLALCHEMY_ENGINE_OPTIONS = engine_options(self.SQLALCHEMY_DATABASE_URI)
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.PREFERRED_URL_SCHEME = "https"
        # The error log holds warnings and errors; Apache's access log already
        # has a line per request, with its X-Request-ID and duration.
        self.LOG_LEVEL = str(_env("LOG_LEVEL", "WARNING")).upper()
        if self.CACHE_TYPE == "SimpleCache":
            # mod_wsgi runs several processes: a per-process cache would keep
            # serving a list another process has changed. Files are shared by
            # every process on this machine; Redis (REDIS_URL) by all machines.
            self.CACHE_TYPE = "app.folder_cache.FolderCache"
            self.CACHE_DIR = _env("CACHE_DIR", str(PROJECT_ROOT / "instance" / "cache"))
        # No quiet memory:// here: mod_wsgi runs several processes (two in the
        # rendered vhost), each counting on its own, so every limit would allow
        # several times its value. Without REDIS_URL (or an explicit
        # RATELIMIT_STORAGE_URI) validate() refuses to start. With
        # RATELIMIT_ENABLED=false there is nothing to share, but the counters
        # views keep themselves (the log-in throttle) still need a storage.
        off = None if self.RATELIMIT_ENABLED else "memory://"
        self.RATELIMIT_STORAGE_URI = _env("RATELIMIT_STORAGE_URI", self.REDIS_URL or off)

    def validate(self, settings: Mapping[str, Any]) -> None:
        super().validate(settings)
        if settings.get("RATELIMIT_ENABLED") and not settings.get("RATELIMIT_STORAGE_URI"):
            raise ConfigError(
                "REDIS_URL is not set, and production counts rate limits in a store shared "
                "by every process and machine (mod_wsgi runs several processes; counted in "
                "memory, each would allow the full limit); set "
                "REDIS_URL=redis://:PASSWORD@127.0.0.1:6379/0, or for a site served by one "
                "process only, RATELIMIT_STORAGE_URI=memory:// on purpose"
            )
        if not settings.get("SQLALCHEMY_DATABASE_URI"):
            raise ConfigError(
                "DATABASE_URL is not set; for MariaDB use "
                "mysql+pymysql://USER:PASSWORD@HOST/DBNAME?charset=utf8mb4"
            )
        if settings.get("MAIL_ENABLED"):
            missing = [
                name
                for name in ("MAIL_SERVER", "MAIL_DEFAULT_SENDER", "PUBLIC_URL")
                if not settings.get(name)
            ]
            if missing:
                raise ConfigError(
                    f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set, and "
                    "password reset and email change confirmation need mail (MAIL_ENABLED is "
                    "true); set them (see .env.example), or set MAIL_ENABLED=false to turn "
                    "those features off"
                )


CONFIGS: dict[str, type[BaseConfig]] = {
    "development": DevelopmentConfig,
    "production": ProductionConfig,
    "testing": TestingConfig,
}


@cache
def load_dotenv_file() -> None:
    """Load the project's own .env (the real environment wins), once per process.

    Done here rather than left to the ``flask`` command, so mod_wsgi and any
    WSGI server see the same settings.
    """
    load_dotenv(PROJECT_ROOT / ".env")


def default_config_name(serving: bool | None = None) -> str:
    """The configuration used when none is named: decided here, for every entry point.

    ``FLASK_CONFIG`` (environment or .env) wins. Otherwise the ``flask`` command,
    a developer's tool, gets ``development``; anything else that imports the app
    (mod_wsgi, gunicorn ``wsgi:app``, a script) is serving it and gets
    ``production``, which refuses to start without its settings rather than run
    on development's defaults. ``serving=True`` asks what a server would get,
    from inside the flask command (``check-deploy`` does).
    """
    load_dotenv_file()
    chosen = _env("FLASK_CONFIG")
    if chosen:
        return chosen
    if serving is None:
        serving = not running_flask_command()
    return "production" if serving else "development"


def running_flask_command() -> bool:
    """True inside the ``flask`` command (a developer's or sysadmin's tool), not a server."""
    # Set by the flask command before it loads the app.
    return os.environ.get("FLASK_RUN_FROM_CLI") == "true"


def load_config(name: str | None = None) -> BaseConfig:
    """Instantiate the configuration called ``name`` (validate it once overridden).

    ``name`` defaults to ``default_config_name()``. The project's .env is read
    either way, so a named configuration sees its settings too.
    """
    load_dotenv_file()
    name = (name or default_config_name()).strip().lower()
    try:
        config_class = CONFIGS[name]
    except KeyError:
        choices = ", ".join(sorted(CONFIGS))
        raise ConfigError(f"FLASK_CONFIG={name!r} is not one of: {choices}") from None
    return config_class()
