"""A private Apache + mod_wsgi instance serving this checkout, for tests and local checks.

It runs the same vhost a sysadmin gets (rendered by ``flask apache-config``)
inside a throwaway ServerRoot with its own ports, certificate, logs and
sockets, so it never touches the machine's own Apache. Run as root: the
mod_wsgi daemon processes drop to www-data.

    python scripts/private_apache.py            # serve until Ctrl-C (make serve-apache)
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = Path("/usr/bin/python3")
APACHE = Path("/usr/sbin/apache2")
MODULES = Path("/usr/lib/apache2/modules")
MOD_WSGI = MODULES / "mod_wsgi.so"
DAEMON_USER = "www-data"
# Short: Linux shows a daemon's display-name in at most the length of "/usr/sbin/apache2".
SITE_NAME = "flasktest"
# Built once per set of pins and kept between runs: it takes a while to install.
VENV_CACHE = Path(os.environ.get("APACHE_VENV_CACHE", "/var/tmp/flaskapp-apache-venvs"))
MODULES_NEEDED = [
    "mpm_event",
    "authz_core",
    "authz_host",
    "alias",
    "dir",
    "mime",
    "headers",
    "expires",
    "filter",
    "deflate",
    "socache_shmcb",
    "ssl",
    "wsgi",
    "reqtimeout",
    "setenvif",
]
# What `flask apache-config --mode front` needs on top (mod_watchdog, which
# proxy_hcheck uses, is built into Debian's apache2).
FRONT_MODULES = [
    "proxy",
    "proxy_http",
    "proxy_balancer",
    "lbmethod_byrequests",
    "proxy_hcheck",
    "slotmem_shm",
]
# Seconds for request headers: short, so a test sees slow clients cut off quickly.
HEADER_TIMEOUT = 3


@dataclass
class Reply:
    """One HTTP answer from a private instance, read whole."""

    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


class ApacheUnavailable(RuntimeError):
    """Something this machine lacks to run the private instance; the message says what."""


def missing_prerequisites() -> str | None:
    """Why a private instance cannot run here, or None."""
    if os.geteuid() != 0:
        return "the private Apache must be started as root (its daemons drop to www-data)"
    if not APACHE.exists():
        return "apache2 is not installed (sudo make test-deps)"
    if not MOD_WSGI.exists():
        return "libapache2-mod-wsgi-py3 is not installed (sudo make test-deps)"
    if not SYSTEM_PYTHON.exists():
        return "/usr/bin/python3 is missing"
    if subprocess.run(
        [str(SYSTEM_PYTHON), "-c", "import ensurepip"], capture_output=True
    ).returncode:
        return "python3-venv is not installed for /usr/bin/python3 (sudo make test-deps)"
    try:
        pwd.getpwnam(DAEMON_USER)
    except KeyError:
        return f"there is no {DAEMON_USER} user"
    return None


def system_venv(requirements: Path = PROJECT / "requirements.txt") -> Path:
    """A venv made with /usr/bin/python3 (the Python mod_wsgi embeds) holding the pins."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:16]
    venv = VENV_CACHE / digest
    stamp = venv / ".installed"
    if stamp.exists():
        return venv
    VENV_CACHE.mkdir(parents=True, exist_ok=True)
    VENV_CACHE.chmod(0o755)
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", str(requirements)],
        check=True,
    )
    stamp.touch()
    return venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readable_by_daemon(path: Path) -> bool:
    """Can www-data read ``path`` (and search every folder above it)?"""
    result = subprocess.run(
        ["runuser", "-u", DAEMON_USER, "--", "test", "-r", str(path)], capture_output=True
    )
    return result.returncode == 0


def make_certificate(folder: Path, days: int = 2) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid for ``days``."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            str(days),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return cert, key


MAIN_CONF = """\
# A private Apache: everything it writes stays under {root}.
ServerRoot "{root}"
ServerName localhost
PidFile {root}/run/apache2.pid
DefaultRuntimeDir {root}/run
Mutex file:{root}/run default
ErrorLog {root}/logs/error.log
LogLevel warn
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{{Referer}}i\\" \\"%{{User-Agent}}i\\"" combined
User {user}
Group {user}
TypesConfig /etc/mime.types
{modules}
SSLSessionCache shmcb:{root}/run/ssl_scache(512000)
# mod_wsgi's daemon sockets, in this instance's own folder.
WSGISocketPrefix {root}/run/wsgi
# The server-wide snippet the deploy guide enables with a2enconf.
Include {root}/server-hardening.conf
Include {root}/site.conf
{extra}"""


def check_syntax(
    root: Path, site: str, hardening: str, modules: list[str]
) -> subprocess.CompletedProcess[str]:
    """``apache2 -t`` on a rendered site in the ServerRoot ``root``; starts no server.

    ``modules`` are loaded besides MODULES_NEEDED. The files the site names
    (certificate, log folder) must exist under ``root``.
    """
    for name in ("run", "logs"):
        (root / name).mkdir(mode=0o755, exist_ok=True)
    (root / "site.conf").write_text(site)
    (root / "server-hardening.conf").write_text(hardening)
    conf = root / "apache2.conf"
    conf.write_text(
        MAIN_CONF.format(
            root=root, user=DAEMON_USER, modules=load_modules(MODULES_NEEDED + modules), extra=""
        )
    )
    return subprocess.run(
        [str(APACHE), "-f", str(conf), "-t"], capture_output=True, text=True, timeout=60
    )


def load_modules(names: list[str]) -> str:
    """LoadModule lines for ``names`` (as in mod_NAME.so)."""
    return "\n".join(f"LoadModule {name}_module {MODULES}/mod_{name}.so" for name in names)


@dataclass
class PrivateApache:
    """One private Apache instance; ``start()`` then ``stop()``."""

    venv: Path
    mount: str = ""
    processes: int = 2
    threads: int = 5
    project: Path = PROJECT
    environment: dict[str, str] = field(default_factory=dict)
    # An SMTP server on 127.0.0.1 to send the app's mail to; None leaves mail off.
    mail_port: int | None = None
    # `flask apache-config --mode`: single, backend (plain HTTP behind a front) or front.
    mode: str = "single"
    # More `flask apache-config` options, e.g. ["--backend", "127.0.0.2:8081"].
    site_options: list[str] = field(default_factory=list)
    # Modules besides MODULES_NEEDED (FRONT_MODULES for a front).
    modules: list[str] = field(default_factory=list)
    # Server-wide directives after the site, for what a test wants to observe.
    server_config: str = ""
    root: Path = field(init=False)
    http_port: int = field(init=False, default=0)
    https_port: int = field(init=False, default=0)
    cert: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="flaskapp-apache-"))
        # www-data must reach the sockets and the document root in here.
        self.root.chmod(0o755)
        for name in ("run", "logs", "htdocs", "data"):
            (self.root / name).mkdir(mode=0o755)
        shutil.chown(self.root / "data", DAEMON_USER, DAEMON_USER)
        self.cert, self.key = make_certificate(self.root)
        self.http_port, self.https_port = free_port(), free_port()

    @property
    def base_url(self) -> str:
        return f"https://localhost:{self.https_port}{self.mount}"

    @property
    def port(self) -> int:
        """The port that serves the site: HTTPS, or plain HTTP for a backend node."""
        return self.http_port if self.mode == "backend" else self.https_port

    @property
    def error_log(self) -> Path:
        return self.root / "logs" / "error.log"

    def render_site(self) -> str:
        """The vhost, rendered by the same command a sysadmin runs."""
        flask = Path(sys.executable).with_name("flask")
        options = {
            "--server-name": "localhost",
            "--venv": self.venv,
            "--project": self.project,
            "--cert": self.cert,
            "--key": self.key,
            "--processes": self.processes,
            "--threads": self.threads,
            "--http-port": self.http_port,
            "--https-port": self.https_port,
            "--site-name": SITE_NAME,
            "--log-dir": self.root / "logs",
            "--document-root": self.root / "htdocs",
            "--acme-root": self.root / "htdocs",
            "--header-timeout": HEADER_TIMEOUT,
            "--hardening-output": self.root / "server-hardening.conf",
        }
        command = [str(flask), "--app", "wsgi", "apache-config", "--mode", self.mode]
        for option, value in options.items():
            command += [option, str(value)]
        if self.mount:
            command += ["--mount", self.mount]
        command += self.site_options
        env = {**os.environ, "FLASK_CONFIG": "testing"}
        # As a sysadmin renders it: with the node's own TRUSTED_PROXIES in .env.
        env.pop("TRUSTED_PROXIES", None)
        if "TRUSTED_PROXIES" in self.environment:
            env["TRUSTED_PROXIES"] = self.environment["TRUSTED_PROXIES"]
        result = subprocess.run(command, cwd=PROJECT, env=env, capture_output=True, text=True)
        if result.returncode:
            raise ApacheUnavailable(f"flask apache-config failed: {result.stderr.strip()}")
        return result.stdout

    def write_config(self) -> Path:
        (self.root / "site.conf").write_text(self.render_site())
        conf = self.root / "apache2.conf"
        conf.write_text(
            MAIN_CONF.format(
                root=self.root,
                user=DAEMON_USER,
                modules=load_modules(MODULES_NEEDED + self.modules),
                extra=self.server_config,
            )
        )
        return conf

    def app_environment(self) -> dict[str, str]:
        """What the daemons see: production settings, a SQLite file they may write."""
        # The caller's REDIS_URL or TRUSTED_PROXIES would change what the tests expect.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FLASK_", "TEST_", "REDIS_URL", "TRUSTED_PROXIES"))
        }
        env.update(
            FLASK_CONFIG="production",
            SECRET_KEY=hashlib.sha256(str(self.root).encode()).hexdigest(),
            DATABASE_URL=f"sqlite:///{self.root}/data/app.db",
            CACHE_DIR=str(self.root / "data" / "cache"),
            # Each instance drains on its own, even when several serve one checkout.
            DRAIN_FILE=str(self.root / "data" / "drain"),
            # Without a mail server the account features that need one stay off.
            MAIL_ENABLED="false",
            # Links in mail, feeds and the sitemap point here, whatever Host a request names.
            PUBLIC_URL=self.base_url,
        )
        if self.mail_port is not None:
            env.update(
                MAIL_ENABLED="true",
                MAIL_SERVER="127.0.0.1",
                MAIL_PORT=str(self.mail_port),
                MAIL_USE_TLS="false",
                MAIL_DEFAULT_SENDER="Flask Site <noreply@localhost>",
            )
        if "REDIS_URL" not in self.environment:
            # Set on purpose, as a deployment without Redis must (production
            # refuses to count limits per process otherwise): the instance runs
            # apart from the machine's Redis, and check-deploy's limits.memory
            # warning on it is expected.
            env["RATELIMIT_STORAGE_URI"] = "memory://"
        env.update(self.environment)
        return env

    def apachectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(APACHE), "-f", str(self.root / "apache2.conf"), *args],
            env=self.app_environment(),
            capture_output=True,
            text=True,
            check=check,
        )

    def migrate(self, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Build the schema as the sysadmin does: flask db upgrade, with the daemon's venv."""
        result = subprocess.run(
            [str(self.venv / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
            cwd=self.project,
            env=self.app_environment(),
            check=check,
            capture_output=True,
            text=True,
            timeout=300,
        )
        for path in (self.root / "data").rglob("*"):
            shutil.chown(path, DAEMON_USER, DAEMON_USER)
        return result

    def start(self, migrate: bool = True) -> PrivateApache:
        """Check the configuration, build the schema unless told not to, and start."""
        self.write_config()
        check = self.apachectl("-t", check=False)
        if check.returncode:
            raise ApacheUnavailable(f"apache2 -t refused the configuration: {check.stderr.strip()}")
        if migrate:
            self.migrate()
        started = time.perf_counter()
        self.apachectl("-k", "start")
        self.wait_until_listening()
        self.startup_seconds = time.perf_counter() - started
        return self

    def restart(self) -> PrivateApache:
        """Start again with the configuration already written (after ``kill`` or ``stop``)."""
        self.apachectl("-k", "start")
        self.wait_until_listening()
        return self

    def wait_until_listening(self, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise ApacheUnavailable(f"Apache did not listen within {timeout}s: {self.tail_error_log()}")

    def pid(self) -> int:
        return int((self.root / "run" / "apache2.pid").read_text().strip())

    def stop(self) -> None:
        pid_file = self.root / "run" / "apache2.pid"
        if pid_file.exists():
            pid = self.pid()
            self.apachectl("-k", "stop", check=False)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)

    def kill(self) -> list[int]:
        """SIGKILL the whole instance (Apache and its mod_wsgi daemons) at once, as a crash
        would; return the ids of the processes that were killed.

        ``apache2 -k start`` makes the parent a process group leader, and every
        child and daemon process stays in its group.
        """
        group = self.pid()
        members = _process_group(group)
        os.killpg(group, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_running(pid) for pid in members) and time.monotonic() < deadline:
            time.sleep(0.005)
        return members

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def tail_error_log(self, lines: int = 20) -> str:
        if not self.error_log.exists():
            return "(no error log)"
        return "\n".join(self.error_log.read_text(errors="replace").splitlines()[-lines:])


def _process_group(group: int) -> list[int]:
    """The ids of the processes whose process group is ``group``."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (2nd field) may hold spaces: the rest follows its ")".
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == group:
            members.append(int(stat.parent.name))
    return members


def _running(pid: int) -> bool:
    """Is ``pid`` a process that has not exited (a zombie has)?"""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> int:
    problem = missing_prerequisites()
    if problem:
        print(f"Cannot start a private Apache: {problem}", file=sys.stderr)
        return 1
    mount = os.environ.get("MOUNT", "")
    apache = PrivateApache(venv=system_venv(), mount=mount).start()
    print(f"Serving {PROJECT} at {apache.base_url}/ (HTTP on port {apache.http_port})")
    print(f"Logs: {apache.root / 'logs'}. Ctrl-C stops it.")
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    while not stop:
        time.sleep(0.5)
    apache.stop()
    apache.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
