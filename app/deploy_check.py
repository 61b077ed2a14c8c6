"""``flask check-deploy``: what a sysadmin checks on the server before and after enabling the site.

In the spirit of Django's ``check --deploy``: it reads the configuration mod_wsgi
will load (``.env``, the environment, ``instance/config.py``), the enabled Apache
site when it can find it, and the services the app talks to, and reports each
problem on one line with an id, a severity and the fix. Imported only when the
command runs: none of this belongs in a web process.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
from flask import Flask

from config import ConfigError, default_config_name, secret_key_problem

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APACHE_ROOT = Path("/etc/apache2")
SEVERITIES = ("error", "warning", "info")
# A year of HSTS is what browsers' preload lists ask for; six months is the floor
# the Observatory accepts.
HSTS_MIN_AGE = 15_768_000
CERTIFICATE_WARNING_DAYS = 21
SERVICE_TIMEOUT = 3.0
# Wider than a /16 (IPv4) or a /64 (IPv6, one LAN), TRUSTED_PROXIES holds more than balancers.
NARROWEST_PROXY_PREFIX = {4: 16, 6: 64}


@dataclass(frozen=True)
class Finding:
    """One problem: a stable id, how bad it is, what is wrong and what to do."""

    id: str
    severity: str
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.severity.upper():7} {self.id}: {self.message}. Fix: {self.fix}"


@dataclass
class ApacheConfig:
    """The directives of the enabled site and of the server-wide configuration."""

    site: Path | None
    site_directives: list[tuple[str, str]] = field(default_factory=list)
    server_directives: list[tuple[str, str]] = field(default_factory=list)
    loaded_modules: set[str] = field(default_factory=set)

    def site_values(self, name: str) -> list[str]:
        return [value for key, value in self.site_directives if key == name.lower()]

    def effective(self, name: str) -> str | None:
        """The value that applies to the site: its own, else the server's last one."""
        values = self.site_values(name) or [
            value for key, value in self.server_directives if key == name.lower()
        ]
        return values[-1] if values else None


def directives(text: str, server_level: bool = False) -> Iterator[tuple[str, str]]:
    """(lower-cased name, arguments) of each directive; comments and line continuations undone.

    ``server_level`` leaves out what is inside <VirtualHost> sections: another
    site's settings are not the server's.
    """
    depth = 0
    for line in re.sub(r"\\\n\s*", " ", text).splitlines():
        line = line.strip()
        if line.lower().startswith("<virtualhost"):
            depth += 1
        elif line.lower().startswith("</virtualhost"):
            depth = max(0, depth - 1)
        if not line or line.startswith(("#", "<")) or (server_level and depth):
            continue
        name, _, arguments = line.partition(" ")
        yield name.lower(), arguments.strip()


def server_directives(path: Path, server_root: Path, seen: set[Path]) -> Iterator[tuple[str, str]]:
    """The server-level directives of ``path`` and of the files it Includes, in Apache's order."""
    if path in seen or not path.is_file():
        return
    seen.add(path)
    for name, arguments in directives(path.read_text(errors="replace"), server_level=True):
        if name in {"include", "includeoptional"}:
            pattern = arguments.strip("\"'")
            base = Path(pattern) if pattern.startswith("/") else server_root / pattern
            for included in sorted(base.parent.glob(base.name)):
                yield from server_directives(included, server_root, seen)
        else:
            yield name, arguments


def find_site(apache_root: Path, project: Path) -> Path | None:
    """The enabled site whose WSGIScriptAlias serves this checkout's wsgi_app.wsgi."""
    script = str(project / "wsgi_app.wsgi")
    for path in sorted((apache_root / "sites-enabled").glob("*.conf")):
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if any(name == "wsgiscriptalias" and script in args for name, args in directives(text)):
            return path
    return None


def read_apache(apache_root: Path, site: Path | None) -> ApacheConfig:
    """The enabled site's directives, and the server-wide ones: apache2.conf and what it
    includes (on Debian: mods-enabled, ports.conf, conf-enabled)."""
    config = ApacheConfig(site=site)
    if site is not None:
        config.site_directives = list(directives(site.read_text(errors="replace")))
    config.server_directives = list(
        server_directives(apache_root / "apache2.conf", apache_root, set())
    )
    for name, arguments in config.server_directives:
        if name == "loadmodule":
            config.loaded_modules.add(arguments.split()[0].removesuffix("_module"))
    return config


# --- the checks -------------------------------------------------------------------------------


def check_settings(app: Flask) -> Iterator[Finding]:
    settings = app.config
    if settings.get("CONFIG_NAME") != "production":
        yield Finding(
            "config.name",
            "error",
            f"the configuration is {settings.get('CONFIG_NAME')!r}, not production",
            "set FLASK_CONFIG=production in .env",
        )
    problem = secret_key_problem(settings.get("SECRET_KEY"))
    if problem:
        yield Finding("config.secret_key", "error", problem, "put the new key in .env")
    if app.debug or os.environ.get("FLASK_DEBUG", "").lower() in {"1", "true", "yes", "on"}:
        yield Finding(
            "config.debug",
            "error",
            "debug mode is on: the debugger runs code for anyone who reaches an error",
            "remove FLASK_DEBUG from .env and the environment",
        )
    for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
        if not settings.get(name):
            yield Finding(
                "config.cookies_secure",
                "error",
                f"{name} is off: log-in cookies also travel over plain HTTP",
                f"remove {name}=false from .env (production turns it on)",
            )
    for network in settings.get("TRUSTED_PROXIES") or ():
        parsed = ipaddress.ip_network(network, strict=False)
        if parsed.prefixlen < NARROWEST_PROXY_PREFIX[parsed.version]:
            yield Finding(
                "proxies.too_wide",
                "warning",
                f"TRUSTED_PROXIES trusts {network}: any host there can pose as any client, "
                "and escape the rate limits",
                "list only the load balancers' own addresses (or their small subnet)",
            )
    url = str(settings.get("SQLALCHEMY_DATABASE_URI") or "")
    if url.startswith("sqlite"):
        yield Finding(
            "config.sqlite",
            "warning",
            "the database is SQLite: one machine only, and writers wait for each other",
            "use MariaDB (DATABASE_URL=mysql+pymysql://...) unless the site stays small",
        )


def check_drain(app: Flask) -> Iterator[Finding]:
    """A drain file left behind keeps the node out of the load balancer for good."""
    drain = app.config.get("DRAIN_FILE")
    if drain and Path(drain).exists():
        yield Finding(
            "node.draining",
            "warning",
            f"{drain} exists: /api/ready answers 503 draining, so a load balancer sends "
            "this node no traffic",
            f"rm {drain} once the node should take traffic again",
        )


def check_shared_state(app: Flask, processes: int) -> Iterator[Finding]:
    settings = app.config
    if settings.get("RATELIMIT_ENABLED") and str(
        settings.get("RATELIMIT_STORAGE_URI", "")
    ).startswith("memory://"):
        # Production starts with memory:// only when it is set on purpose (for one
        # process): still wrong when the site runs more, and per machine at best.
        severity = "warning" if processes > 1 else "info"
        yield Finding(
            "limits.memory",
            severity,
            f"rate limits are counted in memory, per process: {processes} processes allow "
            f"{processes} times each limit, and each machine counts on its own",
            "set REDIS_URL=redis://:PASSWORD@HOST:6379/0 and remove RATELIMIT_STORAGE_URI",
        )
    cache_type = str(settings.get("CACHE_TYPE", ""))
    if cache_type.endswith("SimpleCache"):
        yield Finding(
            "cache.per_process",
            "error",
            "the cache is per process: one process keeps serving lists another has changed",
            "set REDIS_URL, or leave it unset in production for the shared folder cache",
        )
    elif cache_type.endswith(("FileSystemCache", "FolderCache")):
        yield Finding(
            "cache.per_machine",
            "info",
            "the cache is a folder on this machine: right for one server, stale across several",
            "with several servers, set REDIS_URL (one Redis for all of them)",
        )
    risks = {
        "CACHE_REDIS_URL": "forge cache entries, which are pickled and so run as code",
        "RATELIMIT_STORAGE_URI": "reset the rate limits",
    }
    risks["REDIS_URL"] = f"{risks['CACHE_REDIS_URL']}, and {risks['RATELIMIT_STORAGE_URI']}"
    for name, url in redis_urls(settings).items():
        parts = urlsplit(url)
        if parts.scheme in {"redis", "rediss", "redis+unix", "unix"} and not parts.password:
            yield Finding(
                "redis.password",
                "warning",
                f"{name} gives no Redis password: whoever reaches Redis can {risks[name]}",
                "set requirepass in redis.conf and put it in the URL (redis://:PASSWORD@HOST)",
            )


def redis_urls(settings: Any) -> dict[str, str]:
    """The settings that name a Redis server, and their URLs.

    A URL that came from REDIS_URL is named once, as REDIS_URL: that is the
    setting to fix.
    """
    found = {}
    shared = str(settings.get("REDIS_URL") or "")
    for name in ("CACHE_REDIS_URL", "RATELIMIT_STORAGE_URI"):
        value = str(settings.get(name) or "")
        if value.startswith(("redis://", "rediss://", "redis+unix://", "unix://")):
            found["REDIS_URL" if value == shared else name] = value
    return found


def check_services(app: Flask) -> Iterator[Finding]:
    yield from _check_database(app)
    for name, url in redis_urls(app.config).items():
        problem = _redis_problem(url)
        if problem:
            yield Finding(
                "redis.unreachable",
                "error",
                f"Redis at {name} does not answer: {problem}",
                "start Redis (systemctl start redis-server) or fix the URL",
            )


def _redis_problem(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=SERVICE_TIMEOUT, socket_timeout=SERVICE_TIMEOUT
        )
    except ValueError as error:
        return f"the URL is malformed ({error})"
    try:
        client.ping()
    except redis.RedisError as error:
        return str(error) or type(error).__name__
    finally:
        client.close()
    return None


def _check_database(app: Flask) -> Iterator[Finding]:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy.exc import SQLAlchemyError

    from .database_faults import classify
    from .extensions import db, init_migrate

    with app.app_context():
        try:
            with db.engine.connect() as connection:
                current = set(MigrationContext.configure(connection).get_current_heads())
        except SQLAlchemyError as error:
            fault = classify(error)
            reason = fault.cause if fault else str(error).splitlines()[0]
            yield Finding(
                "database.unreachable",
                "error",
                f"the database does not answer: {reason}",
                fault.advice if fault else "start it, or fix DATABASE_URL",
            )
            return
        finally:
            db.engine.dispose()
        migrate = init_migrate(app)
        scripts = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))
        heads = set(scripts.get_heads())
    if current != heads:
        yield Finding(
            "database.migrations",
            "error",
            f"the schema is at {', '.join(sorted(current)) or 'nothing'}, the code needs "
            f"{', '.join(sorted(heads))}",
            "run: flask db upgrade (as the site's user)",
        )


def check_data_owner(app: Flask, user: str) -> Iterator[Finding]:
    """Files the site writes (cache folder, SQLite database) must belong to its user.

    A ``flask`` command run as root leaves root's files there; the site then cannot
    change them (a SQLite database it cannot write, cache entries it cannot replace).
    """
    places = []
    if app.config.get("CACHE_DIR"):
        places.append(Path(app.config["CACHE_DIR"]))
    url = str(app.config.get("SQLALCHEMY_DATABASE_URI") or "")
    if url.startswith("sqlite:///") and url != "sqlite://":
        database = Path(url.removeprefix("sqlite:///"))
        database = database if database.is_absolute() else Path(app.instance_path) / database
        places += [database.with_name(database.name + suffix) for suffix in ("", "-wal", "-shm")]
    foreign = []
    for place in places:
        paths = [place, *place.rglob("*")] if place.is_dir() else [place]
        foreign += [path for path in paths if path.exists() and _owner(path) != user]
    if foreign:
        shown = ", ".join(str(path) for path in foreign[:3]) + (" ..." if len(foreign) > 3 else "")
        yield Finding(
            "files.data_owner",
            "error",
            f"{len(foreign)} file(s) the site writes belong to another user: {shown}",
            f"chown -R {user}:{user} them, and run flask commands as {user} (runuser -u {user})",
        )


def check_files(project: Path, user: str) -> Iterator[Finding]:
    env_file = project / ".env"
    if env_file.exists():
        mode = env_file.stat().st_mode
        if mode & stat.S_IROTH:
            yield Finding(
                "files.env_mode",
                "error",
                f"{env_file} (the secret key) is readable by every user",
                f"chown root:{user} {env_file} && chmod 640 {env_file}",
            )
        if mode & (stat.S_IWGRP | stat.S_IWOTH) or _owner(env_file) == user:
            yield Finding(
                "files.env_writable",
                "error",
                f"{env_file} can be changed by the site's processes or other users",
                f"chown root:{user} {env_file} && chmod 640 {env_file}",
            )
    instance = project / "instance"
    if instance.is_dir():
        if instance.stat().st_mode & stat.S_IWOTH:
            yield Finding(
                "files.instance_mode",
                "error",
                f"{instance} is writable by every user",
                f"chmod o-w {instance}",
            )
        if _owner(instance) not in {user, "root"}:
            yield Finding(
                "files.instance_owner",
                "warning",
                f"{instance} belongs to {_owner(instance)}, not to the site's user {user}",
                f"chown {user}:{user} {instance}",
            )
        instance_config = instance / "config.py"
        if instance_config.exists() and instance_config.stat().st_mode & stat.S_IROTH:
            yield Finding(
                "files.instance_config_mode",
                "error",
                f"{instance_config} is readable by every user",
                f"chmod o-r {instance_config}",
            )


def _owner(path: Path) -> str:
    import pwd

    uid = path.stat().st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def check_python(venv: Path) -> Iterator[Finding]:
    from .apache_config import DeployError, check_venv_matches_mod_wsgi

    try:
        check_venv_matches_mod_wsgi(venv)
    except DeployError as error:
        problem, _, fix = error.message.partition("; ")
        yield Finding("python.venv", "error", problem, fix or "make the venv with /usr/bin/python3")


def check_apache(
    apache: ApacheConfig, now: datetime, trusted_proxies: Sequence[str] | None = None
) -> Iterator[Finding]:
    """The enabled site's TLS, HSTS, TRACE, ServerTokens, request timeouts and certificate.

    ``trusted_proxies`` is the app's TRUSTED_PROXIES, or None when the app did
    not load (then a plain-HTTP site cannot be judged).
    """
    if apache.site is None:
        yield Finding(
            "apache.site_missing",
            "warning",
            "no enabled Apache site serves this checkout's wsgi_app.wsgi",
            "render it with flask apache-config, then a2ensite (or pass --site)",
        )
        return
    serves_tls = any(value.lower() == "on" for value in apache.site_values("SSLEngine"))
    # A backend node (--mode backend): HSTS and TLS are the front's, and the app
    # must know the front, or every client looks like it.
    if not serves_tls and trusted_proxies is not None and not trusted_proxies:
        yield Finding(
            "apache.plain_http",
            "error",
            f"{apache.site} serves the app over plain HTTP only, and TRUSTED_PROXIES "
            "names no front that terminates TLS for it",
            "behind a front: TRUSTED_PROXIES=<its address> in .env; on its own: "
            "render the site without --mode backend",
        )
    hsts = " ".join(
        v for v in apache.site_values("Header") if "strict-transport-security" in v.lower()
    )
    age = re.search(r"max-age=(\d+)", hsts)
    if serves_tls and (not age or int(age[1]) < HSTS_MIN_AGE):
        yield Finding(
            "apache.hsts",
            "error",
            f"{apache.site} sends no Strict-Transport-Security of six months or more",
            'Header always set Strict-Transport-Security "max-age=63072000" '
            "(re-render with flask apache-config)",
        )
    if (apache.effective("TraceEnable") or "on").lower() != "off":
        yield Finding(
            "apache.trace",
            "error",
            "TRACE is enabled: Apache echoes requests, Authorization headers included",
            "TraceEnable Off (flask apache-config renders it; a2enconf its hardening snippet)",
        )
    tokens = (apache.effective("ServerTokens") or "Full").lower()
    if tokens not in {"prod", "productonly"}:
        yield Finding(
            "apache.server_tokens",
            "warning",
            f"ServerTokens is {tokens}: the Server header tells Apache's version and OS",
            "ServerTokens Prod in a conf-enabled snippet (flask apache-config renders one)",
        )
    # mod_reqtimeout applies its defaults (header 20-40 s, body 20 s) once loaded.
    if "reqtimeout" not in apache.loaded_modules:
        yield Finding(
            "apache.request_read_timeout",
            "warning",
            "no RequestReadTimeout: slow clients can hold connections open indefinitely",
            "a2enmod reqtimeout; the rendered site sets RequestReadTimeout",
        )
    for certificate in apache.site_values("SSLCertificateFile"):
        yield from _check_certificate(Path(certificate.strip("\"'")), now)


def _check_certificate(path: Path, now: datetime) -> Iterator[Finding]:
    expiry = certificate_expiry(path)
    if expiry is None:
        yield Finding(
            "apache.certificate_unreadable",
            "warning",
            f"cannot read the expiry date of {path}",
            "check the path; a certificate only root may read (Let's Encrypt's) is normal: "
            f"as root, openssl x509 -enddate -noout -in {path}",
        )
        return
    left = expiry - now
    if left <= timedelta(0):
        yield Finding(
            "apache.certificate_expired",
            "error",
            f"{path} expired on {expiry:%Y-%m-%d}",
            "renew it (certbot renew) and reload Apache",
        )
    elif left <= timedelta(days=CERTIFICATE_WARNING_DAYS):
        yield Finding(
            "apache.certificate_expiring",
            "warning",
            f"{path} expires on {expiry:%Y-%m-%d}, in {left.days} days",
            "renew it (certbot renew); check that its timer runs (systemctl list-timers)",
        )


def certificate_expiry(path: Path) -> datetime | None:
    """When the PEM certificate at ``path`` stops being valid, read with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    try:
        result = subprocess.run(
            [openssl, "x509", "-enddate", "-noout", "-in", str(path)],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"notAfter=(.+)", result.stdout)
    if result.returncode or not match:
        return None
    return datetime.strptime(match[1].strip(), "%b %d %H:%M:%S %Y %Z").replace(tzinfo=UTC)


def daemon_processes(apache: ApacheConfig) -> int:
    """How many processes serve the app: the site's WSGIDaemonProcess, else apache-config's 2."""
    for value in apache.site_values("WSGIDaemonProcess"):
        match = re.search(r"\bprocesses=(\d+)", value)
        return int(match[1]) if match else 1
    return 2


# --- running them -----------------------------------------------------------------------------


def production_app() -> tuple[Flask | None, list[Finding]]:
    """The app as mod_wsgi would build it (FLASK_CONFIG, else production)."""
    from . import create_app

    try:
        # What mod_wsgi would choose, though this runs inside the flask command.
        return create_app(default_config_name(serving=True)), []
    except ConfigError as error:
        return None, [
            Finding(
                "config.refused",
                "error",
                f"the app refuses to start: {error}",
                "fix the setting in .env (see .env.example)",
            )
        ]


def run_checks(
    site: Path | None, apache_root: Path, project: Path, venv: Path, user: str
) -> list[Finding]:
    """Every check; the findings, most severe first."""
    findings: list[Finding] = []
    app, refused = production_app()
    findings += refused
    apache = read_apache(apache_root, site or find_site(apache_root, project))
    steps: list[Callable[[], Iterable[Finding]]] = [
        lambda: check_files(project, user),
        lambda: check_python(venv),
        lambda: check_apache(
            apache, datetime.now(UTC), app.config.get("TRUSTED_PROXIES", ()) if app else None
        ),
    ]
    if app is not None:
        steps[:0] = [
            lambda: check_settings(app),
            lambda: check_drain(app),
            lambda: check_shared_state(app, daemon_processes(apache)),
            lambda: check_services(app),
            lambda: check_data_owner(app, user),
        ]
    for step in steps:
        findings += step()
    return sorted(findings, key=lambda finding: SEVERITIES.index(finding.severity))


@click.command("check-deploy")
@click.option(
    "--site",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The Apache site file (default: the enabled site that serves this checkout).",
)
@click.option(
    "--apache-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=APACHE_ROOT,
    show_default=True,
)
@click.option("--user", default="www-data", show_default=True, help="The site's daemon user.")
@click.option(
    "--venv",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=Path(sys.prefix),
    help="The site's virtual environment (default: the one running this command).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["error", "warning"]),
    default="error",
    show_default=True,
    help="The least severe finding that makes the exit status non-zero.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def check_deploy_command(
    site: Path | None, apache_root: Path, user: str, venv: Path, fail_on: str, as_json: bool
) -> None:
    """Check this server's deployment: settings, files, services and the Apache site.

    One line per problem, with its id, severity and fix. Exits with status 1 if
    any finding is at least as severe as --fail-on. When a setting stops the app
    from loading at all, ``python -m app.deploy_check`` still runs the checks.
    """
    findings = run_checks(site, apache_root, PROJECT_ROOT, venv, user)
    if as_json:
        click.echo(json.dumps([asdict(finding) for finding in findings], indent=2))
    else:
        for finding in findings:
            click.echo(finding.line())
        counts = {s: sum(f.severity == s for f in findings) for s in SEVERITIES}
        click.echo(
            f"check-deploy: {counts['error']} errors, {counts['warning']} warnings, "
            f"{counts['info']} notes",
            err=True,
        )
    failing = SEVERITIES[: SEVERITIES.index(fail_on) + 1]
    if any(finding.severity in failing for finding in findings):
        sys.exit(1)


if __name__ == "__main__":
    check_deploy_command()
