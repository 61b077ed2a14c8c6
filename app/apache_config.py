"""``flask apache-config``: render an Apache vhost for this checkout and machine.

The templates live in ``deploy/apache/``. Everything machine-specific (paths,
names, ports, certificate) is an option here, so nobody edits a rendered file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from flask import current_app
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from config import trusted_proxies_problem

from .api.errors import error_response
from .errors import MESSAGES
from .logs import secret_url_prefixes
from .security_headers import apache_headers

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = PROJECT_ROOT / "deploy" / "apache"
MOD_WSGI = Path("/usr/lib/apache2/modules/mod_wsgi.so")
SYSTEM_PYTHON = Path("/usr/bin/python3")
SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"
HARDENING_TEMPLATE = "server-hardening.conf.j2"
_MOUNT = re.compile(r"^(/[A-Za-z0-9._~-]+)+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$")
_UNSAFE_PATH = re.compile(r"[\s\"'\\]")
# --backend HOST:PORT (an IPv6 address in brackets).
_BACKEND = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")
MODES = ("single", "backend", "front")
TEMPLATES_BY_MODE = {"backend": "flaskapp-backend.conf.j2", "front": "flaskapp-front.conf.j2"}
# Statuses Apache answers itself under /api: a body without a Content-Length,
# a body over LimitRequestBody, and the app's processes unreachable. The app's
# own words where it has them.
APACHE_API_ERRORS = {
    411: "Send the request body with a Content-Length header; "
    "chunked transfer encoding is not accepted.",
    413: MESSAGES[413],
    503: MESSAGES[503],
}


class DeployError(click.ClickException):
    """A problem with the options or the machine, told in one line."""


@dataclass(frozen=True)
class VhostSettings:
    server_name: str
    venv: str
    project: str
    mount: str = ""
    cert: str = SNAKEOIL_CERT
    key: str = SNAKEOIL_KEY
    processes: int = 2
    threads: int = 5
    user: str = "www-data"
    group: str = "www-data"
    http_port: int = 80
    https_port: int = 443
    site_name: str = "flaskapp"
    log_dir: str = "${APACHE_LOG_DIR}"
    document_root: str = "/var/www/html"
    acme_root: str = "/var/www/html"
    wsgi_python: str = "3"
    # Seconds a client has to send its request headers (mod_reqtimeout).
    header_timeout: int = 20
    # The app's MAX_CONTENT_LENGTH: Apache's LimitRequestBody.
    max_body: int = 1024 * 1024
    # (status, JSON body) of the errors Apache itself answers under /api.
    api_errors: tuple[tuple[int, str], ...] = ()
    # Paths whose URLs hold a secret: the access log leaves them out.
    secret_paths: tuple[str, ...] = ()
    # single: TLS and the app on one machine; backend: the app over plain HTTP
    # behind a front; front: TLS and the balancer in front of backends.
    mode: str = "single"
    # front: the backends' HOST:PORT.
    backends: tuple[str, ...] = ()
    # backend: the front's addresses, for the reminder about TRUSTED_PROXIES.
    trusted_proxies: tuple[str, ...] = ()
    # backend: who may reach its HTTP port (Require ip).
    allow_from: tuple[str, ...] = ()

    @property
    def template(self) -> str:
        if self.mode in TEMPLATES_BY_MODE:
            return TEMPLATES_BY_MODE[self.mode]
        return "flaskapp-mixed.conf.j2" if self.mount else "flaskapp.conf.j2"


def _templates() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Apache configuration, not HTML
    )
    environment.filters["regex_escape"] = re.escape
    return environment


def render_vhost(settings: VhostSettings) -> str:
    """The vhost configuration for ``settings``, as Apache will read it."""
    environment = _templates()
    context = asdict(settings)
    context.update(
        group_name=settings.site_name,
        # Debian's ports.conf already listens on 80 and 443.
        listen_http=settings.http_port != 80,
        listen_https=settings.https_port != 443,
        https_port_suffix="" if settings.https_port == 443 else f":{settings.https_port}",
        security_headers=apache_headers(),
        # A backend answers the front over plain HTTP: HSTS is the front's to send.
        hsts=settings.mode != "backend",
        api_errors_expr="%{REQUEST_STATUS} -in {"
        + ", ".join(f"'{status}'" for status, _ in settings.api_errors)
        + "}",
    )
    return environment.get_template(settings.template).render(context)


def api_error_documents() -> tuple[tuple[int, str], ...]:
    """The API's own JSON error bodies for the statuses Apache answers itself.

    They become ErrorDocument strings, which Apache reads as expressions:
    nothing in them may look like a quote, an escape or a variable.
    """
    documents = []
    for status, message in APACHE_API_ERRORS.items():
        body = error_response(status, message).get_data(as_text=True)
        body = body.strip()
        if re.search(r"['\\%]", body):
            raise DeployError(f"the API's {status} body cannot be an ErrorDocument: {body}")
        documents.append((status, body))
    return tuple(documents)


def render_hardening(settings: VhostSettings) -> str:
    """The server-wide snippet (conf-available/) that a vhost cannot hold."""
    return _templates().get_template(HARDENING_TEMPLATE).render(asdict(settings))


def python_version_of_venv(venv: Path) -> str:
    """The full version (``3.11.2``) of the Python a virtual environment was made with."""
    config = venv / "pyvenv.cfg"
    if not config.is_file():
        raise DeployError(f"{venv} is not a virtual environment (no pyvenv.cfg)")
    match = re.search(
        r"^(?:version|version_info)\s*=\s*(\d+\.\d+\.\d+)", config.read_text(), re.MULTILINE
    )
    if not match:
        raise DeployError(f"cannot tell which Python made {venv} (no version in pyvenv.cfg)")
    return match[1]


def python_version_of(interpreter: Path) -> str | None:
    """The full version of ``interpreter``, or None if it cannot be run."""
    try:
        result = subprocess.run(
            [str(interpreter), "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def python_version_of_mod_wsgi(module: Path = MOD_WSGI) -> str | None:
    """``major.minor`` of the Python that mod_wsgi embeds, or None if not installed."""
    if not module.exists():
        return None
    try:
        linked = subprocess.run(
            ["ldd", str(module)], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.SubprocessError):
        linked = ""
    match = re.search(r"libpython(\d+)\.(\d+)", linked) or re.search(
        rb"libpython(\d+)\.(\d+)", module.read_bytes()
    )
    if not match:
        return None
    major, minor = (part.decode() if isinstance(part, bytes) else part for part in match.groups())
    return f"{major}.{minor}"


def check_venv_matches_mod_wsgi(
    venv: Path, module: Path = MOD_WSGI, system_python: Path = SYSTEM_PYTHON
) -> str:
    """Refuse a venv not made with the Python that mod_wsgi embeds; return its version.

    Debian's mod_wsgi links the system libpython, so the venv must come from
    /usr/bin/python3: a venv of another 3.x (or of a pyenv build of the same
    3.x) fails at import time, or later with missing modules.
    """
    venv_version = python_version_of_venv(venv)
    wsgi_minor = python_version_of_mod_wsgi(module)
    if wsgi_minor is None:
        click.echo(
            f"warning: {module} not found (apt-get install libapache2-mod-wsgi-py3); "
            f"cannot check the venv's Python {venv_version} against it",
            err=True,
        )
        return venv_version
    fix = f"recreate it with: {system_python} -m venv {venv}"
    if not venv_version.startswith(wsgi_minor + "."):
        raise DeployError(
            f"the venv {venv} uses Python {venv_version} but mod_wsgi embeds Python "
            f"{wsgi_minor}; {fix}"
        )
    system_version = python_version_of(system_python)
    if system_version and system_version != venv_version:
        raise DeployError(
            f"the venv {venv} was made with Python {venv_version}, not with "
            f"{system_python} ({system_version}) that mod_wsgi embeds; {fix}"
        )
    return venv_version


def warn_if_missing(option: str, path: str) -> None:
    """Warn about a file that does not exist; stay quiet when it is merely unreadable.

    The command runs as www-data, which may not look inside /etc/ssl/private.
    """
    try:
        os.stat(path)
    except FileNotFoundError:
        click.echo(
            f"warning: {option} {path} does not exist; Apache refuses to start without it "
            "(apt-get install ssl-cert gives the default one)",
            err=True,
        )
    except OSError:
        pass


@click.command("apache-config")
@click.option("--server-name", required=True, help="The site's host name, e.g. example.com.")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="single",
    show_default=True,
    help="single: HTTPS and the app on this machine. backend: the app over plain HTTP "
    "for a front that terminates TLS. front: TLS and a balancer over --backend nodes.",
)
@click.option(
    "--venv",
    type=click.Path(file_okay=False, path_type=Path),
    help="The virtual environment made with /usr/bin/python3 (mod_wsgi's python-home); "
    "required except with --mode front.",
)
@click.option(
    "--backend",
    "backends",
    multiple=True,
    metavar="HOST:PORT",
    help="--mode front: a backend node's HTTP address (repeat for each node).",
)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="--mode backend: the front's address or network (repeatable); "
    "default: TRUSTED_PROXIES. Only the .env setting makes the app trust it.",
)
@click.option(
    "--allow-from",
    multiple=True,
    metavar="ADDRESS",
    help="--mode backend: who may reach the HTTP port (repeatable); default: the trusted proxies.",
)
@click.option(
    "--mount",
    default="",
    help="Serve the app under this path (e.g. /app) "
    "with a static site at /; default: the app at /.",
)
@click.option(
    "--document-root",
    default="/var/www/html",
    show_default=True,
    help="The static site's folder (with --mount).",
)
@click.option("--cert", default=SNAKEOIL_CERT, show_default=True, help="TLS certificate (PEM).")
@click.option("--key", default=SNAKEOIL_KEY, show_default=True, help="TLS private key (PEM).")
@click.option("--processes", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--threads", default=5, show_default=True, type=click.IntRange(1, 100))
@click.option("--user", default="www-data", show_default=True, help="Daemon processes run as.")
@click.option("--group", default=None, help="Daemon group (default: same as --user).")
@click.option("--http-port", default=80, show_default=True, type=click.IntRange(1, 65535))
@click.option("--https-port", default=443, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--site-name",
    default="flaskapp",
    show_default=True,
    help="Names the daemon process group and the log files.",
)
@click.option("--log-dir", default="${APACHE_LOG_DIR}", show_default=True)
@click.option(
    "--acme-root",
    default="/var/www/html",
    show_default=True,
    help="Where certbot's HTTP-01 challenge files are served from on port 80.",
)
@click.option(
    "--project",
    type=click.Path(file_okay=False, path_type=Path),
    default=PROJECT_ROOT,
    help="The checkout to serve (default: this one).",
)
@click.option(
    "--header-timeout",
    default=20,
    show_default=True,
    type=click.IntRange(1, 300),
    help="Seconds a client has to send its request headers (doubled while they keep coming).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of standard output.",
)
@click.option(
    "--hardening-output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the server-wide settings (ServerTokens, TraceEnable, TLS handshake "
    "timeout) to this file, for /etc/apache2/conf-available/server-hardening.conf.",
)
def apache_config_command(
    output: Path | None, hardening_output: Path | None, **options: Any
) -> None:
    """Render the Apache vhost for this machine.

    By --mode: the app over HTTPS in mod_wsgi daemon mode (single), the app
    over plain HTTP behind a front (backend), or that front (front).
    """
    settings = settings_from_options(**options)
    text = render_vhost(settings)
    if hardening_output is not None:
        hardening_output.write_text(render_hardening(settings))
        click.echo(f"wrote {hardening_output}", err=True)
    if output is not None:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)
    else:
        sys.stdout.write(text)


def check_backends(mode: str, backends: tuple[str, ...]) -> tuple[str, ...]:
    """The front's backends, each ``HOST:PORT``; none outside --mode front."""
    if mode != "front":
        if backends:
            raise DeployError("--backend is for --mode front")
        return ()
    if not backends:
        raise DeployError("--mode front needs at least one --backend HOST:PORT")
    for backend in backends:
        match = _BACKEND.match(backend)
        if not match or not 1 <= int(match[2]) <= 65535:
            raise DeployError(f"--backend {backend!r} must be HOST:PORT, e.g. 10.0.0.11:80")
    return backends


def backend_access(
    mode: str, trusted_proxies: tuple[str, ...], allow_from: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The backend's trusted proxies and who may reach it; empty outside --mode backend.

    The trusted proxies default to the app's TRUSTED_PROXIES (the command reads
    this node's .env), and who may connect defaults to them. A backend open to
    everyone would serve the site over plain HTTP, past the front's TLS and HSTS,
    so one of the two must name someone.
    """
    if mode != "backend":
        if trusted_proxies or allow_from:
            raise DeployError("--trusted-proxy and --allow-from are for --mode backend")
        return (), ()
    configured = tuple(str(n) for n in current_app.config.get("TRUSTED_PROXIES") or ())
    trusted = trusted_proxies or configured
    allowed = allow_from or trusted
    for option, networks in (("--trusted-proxy", trusted), ("--allow-from", allowed)):
        problem = trusted_proxies_problem(list(networks), option)
        if problem:
            raise DeployError(problem)
    if not allowed:
        raise DeployError(
            "--mode backend needs the front's address: --trusted-proxy ADDRESS "
            "(or TRUSTED_PROXIES in .env), or --allow-from ADDRESS"
        )
    if not configured:
        # The vhost cannot set it: the app reads TRUSTED_PROXIES from .env only.
        click.echo(
            "warning: TRUSTED_PROXIES is not set: add the front's address to .env, "
            "or every client looks like the front",
            err=True,
        )
    return trusted, allowed


def settings_from_options(
    *,
    server_name: str,
    venv: Path | None,
    project: Path,
    mount: str,
    site_name: str,
    user: str,
    group: str | None,
    mode: str = "single",
    backends: tuple[str, ...] = (),
    trusted_proxies: tuple[str, ...] = (),
    allow_from: tuple[str, ...] = (),
    **paths_and_numbers: Any,
) -> VhostSettings:
    """Check the command's options (click has typed them) and make VhostSettings of them."""
    if not _HOST.match(server_name):
        raise DeployError(f"--server-name {server_name!r} is not a host name")
    mount = mount.rstrip("/")
    if mount and not _MOUNT.match(mount):
        raise DeployError(f"--mount {mount!r} must look like /app (letters, digits, . _ ~ -)")
    if mount and mode != "single":
        raise DeployError(f"--mount is for --mode single, not --mode {mode}")
    if not _NAME.match(site_name):
        raise DeployError(f"--site-name {site_name!r} may hold only letters, digits, _ and -")
    if venv is None and mode != "front":
        raise DeployError(f"--mode {mode} needs --venv")
    backends = check_backends(mode, backends)
    trusted_proxies, allow_from = backend_access(mode, trusted_proxies, allow_from)
    project = project.absolute()
    paths: dict[str, Any] = {"project": project}
    if venv is not None:
        # The front runs no Python: its venv, if given, is not used.
        venv = paths["venv"] = venv.absolute()
    for option in ("cert", "key", "log_dir", "document_root", "acme_root"):
        paths[option] = paths_and_numbers[option]
    for option, value in paths.items():
        if _UNSAFE_PATH.search(str(value)):
            raise DeployError(
                f"--{option.replace('_', '-')} {str(value)!r}: Apache paths here may not hold "
                "spaces, quotes or backslashes"
            )
    if not (project / "wsgi_app.wsgi").is_file():
        raise DeployError(f"{project} has no wsgi_app.wsgi: --project must be the checkout")
    wsgi_python = check_venv_matches_mod_wsgi(venv) if venv and mode != "front" else ""
    if mode != "backend":
        # A backend has no TLS of its own.
        for option in ("cert", "key"):
            warn_if_missing(f"--{option}", str(paths_and_numbers[option]))
    return VhostSettings(
        server_name=server_name,
        venv=str(venv or ""),
        project=str(project),
        mount=mount,
        site_name=site_name,
        user=user,
        group=group or user,
        wsgi_python=wsgi_python,
        # One fact in one place: the body limit the app enforces, from its config.
        max_body=int(current_app.config["MAX_CONTENT_LENGTH"]),
        api_errors=api_error_documents(),
        secret_paths=secret_url_prefixes(current_app),
        mode=mode,
        backends=backends,
        trusted_proxies=trusted_proxies,
        allow_from=allow_from,
        **paths_and_numbers,
    )
