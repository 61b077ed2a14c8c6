"""The servers ``make bench`` compares, and what it reads about their processes.

- the app under a private Apache + mod_wsgi, from the rendered vhost
  (private_apache.py: HTTPS, the production configuration);
- the same app, venv and settings under gunicorn's gthread worker (plain HTTP);
- a minimal Flask app (``reference_app.wsgi``) under the same rendered vhost,
  only its ``.wsgi`` file swapped, as the yardstick the app's routes are
  compared with.

All three run from one venv made with the Python mod_wsgi embeds: the app's
pins plus gunicorn's pin from requirements-dev.txt.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from scripts.private_apache import (
    DAEMON_USER,
    PROJECT,
    PrivateApache,
    free_port,
    system_venv,
)

REFERENCE_WSGI = Path(__file__).resolve().with_name("reference_app.wsgi")
REFERENCE_PATH = "/reference"
APP_WSGI = "wsgi_app.wsgi"
# Sent on every request: a logged-in session is bound to the browser's User-Agent.
USER_AGENT = "flaskapp-bench"
# A daemon's display-name is "(wsgi:GROUP)" (display-name=%{GROUP} in the vhost).
DAEMON_PREFIX = "(wsgi:"


def bench_venv() -> Path:
    """A venv of /usr/bin/python3 with the app's pins and gunicorn's, kept between runs."""
    dev_pins = (PROJECT / "requirements-dev.txt").read_text()
    pin = re.search(r"^gunicorn==\S+$", dev_pins, re.MULTILINE)
    if pin is None:
        raise SystemExit("requirements-dev.txt pins no gunicorn: run make pins")
    text = (PROJECT / "requirements.txt").read_text() + f"\n{pin[0]}\n"
    with tempfile.TemporaryDirectory() as folder:
        requirements = Path(folder) / "requirements.txt"
        requirements.write_text(text)
        # Named by the file's content: a new pin of either file makes a new venv.
        return system_venv(requirements)


def unverified_tls() -> ssl.SSLContext:
    """TLS for the private instances' self-signed certificates."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def get(url: str, headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, str]:
    """(status, body) of one GET; status 0 when nothing answered."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=unverified_tls()) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except OSError:
        return 0, ""


def wait_for_200(url: str, timeout: float = 60) -> float:
    """Seconds until ``url`` answers 200, asking again on refusals and errors."""
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, _ = get(url, timeout=timeout)
        if status == 200:
            return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"{url} did not answer 200 within {timeout} s")


def process_tree(root: int) -> list[int]:
    """``root`` and every process below it."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children[int(fields[1])].append(int(entry.name))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue += children.get(pid, [])
    return found


def cpu_seconds(root: int) -> float:
    """User + system CPU time of ``root`` and the processes below it (threads included).

    Processes that exit in between take their time with them: compare two
    readings only across a span in which the server started or stopped none.
    """
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def resident_mib(pid: int) -> float:
    """The resident set size of ``pid`` in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


class Server(Protocol):
    """What the benchmark needs of a running server."""

    name: str

    @property
    def url(self) -> str: ...

    def root_pid(self) -> int: ...

    def worker_pids(self) -> list[int]:
        """The processes that run Python: mod_wsgi daemons or gunicorn workers."""
        ...


@dataclass
class AppApache(PrivateApache):
    """The app under the private Apache, from the vhost exactly as rendered."""

    name: str = "apache"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.https_port}"

    def root_pid(self) -> int:
        return self.pid()

    def worker_pids(self) -> list[int]:
        return [p for p in process_tree(self.pid()) if command_line(p).startswith(DAEMON_PREFIX)]

    def stop_and_wait(self) -> None:
        """Stop Apache and wait until its last process has gone."""
        pids = process_tree(self.pid())
        self.stop()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
            time.sleep(0.05)

    def start_again(self) -> None:
        """Start the configured instance again (no re-render, no migration)."""
        self.apachectl("-k", "start")


@dataclass
class ReferenceApache(AppApache):
    """The minimal Flask app under the same rendered vhost: only its .wsgi file differs."""

    name: str = "reference"

    def render_site(self) -> str:
        site = super().render_site()
        relative = REFERENCE_WSGI.relative_to(self.project)
        replacements = {
            f"{self.project}/{APP_WSGI} ": f"{self.project}/{relative} ",
            f"<Files {APP_WSGI}>": f"<Files {REFERENCE_WSGI.name}>",
        }
        for old, new in replacements.items():
            if old not in site:
                raise RuntimeError(f"the rendered vhost has no {old!r}: update ReferenceApache")
            site = site.replace(old, new)
        return site

    def start(self, migrate: bool = False) -> PrivateApache:
        """Start it; the reference app has no database to migrate."""
        return super().start(migrate=False)


@dataclass
class Gunicorn:
    """The app under gunicorn's gthread worker, in the same venv with the same settings."""

    venv: Path
    environment: dict[str, str]
    processes: int
    threads: int
    name: str = "gunicorn"
    port: int = field(init=False, default=0)
    process: subprocess.Popen[bytes] | None = field(init=False, default=None)
    folder: Path = field(init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="flaskapp-gunicorn-"))
        command = [
            str(self.venv / "bin" / "gunicorn"),
            "--worker-class",
            "gthread",
            "--workers",
            str(self.processes),
            "--threads",
            str(self.threads),
            "--bind",
            f"127.0.0.1:{self.port}",
            # Workers drop root as mod_wsgi's daemons do.
            "--user",
            DAEMON_USER,
            "--group",
            DAEMON_USER,
            "--error-logfile",
            str(self.log),
            "wsgi:app",
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=PROJECT, env=self.environment, stdout=log, stderr=log
            )
        try:
            wait_for_200(f"{self.url}/api/health", timeout=30)
        except RuntimeError:
            tail = self.log.read_text()[-2000:]
            self.stop()
            raise RuntimeError(f"gunicorn did not serve: {tail}") from None
        return self

    @property
    def log(self) -> Path:
        return self.folder / "gunicorn.log"

    def root_pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def worker_pids(self) -> list[int]:
        return [p for p in process_tree(self.root_pid()) if p != self.root_pid()]

    def stop(self) -> None:
        """Stop gunicorn and remove its log folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
