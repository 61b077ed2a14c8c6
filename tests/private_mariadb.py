"""A private MariaDB server for fault tests: its own data folder, port, socket and pid file.

Tests stop, kill and pause it at will; the shared server on port 3306 is never touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.helpers import skip_or_fail

MARIADBD = shutil.which("mariadbd", path="/usr/sbin:/usr/bin:" + os.environ.get("PATH", ""))
INSTALL_DB = shutil.which("mariadb-install-db")
# mariadbd refuses to run as root without --user=root; any other user may not switch to it.
_RUN_AS_ROOT = ["--user=root"] if os.geteuid() == 0 else []


class MariaDBUnavailable(RuntimeError):
    """The server could not be installed or started; the message says why."""


def missing_prerequisites() -> str | None:
    """Why a private server cannot run here, or None."""
    if not MARIADBD or not INSTALL_DB:
        return "mariadbd and mariadb-install-db are not installed (sudo make test-deps)"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateMariaDB:
    """One server in ``root``; ``start()``, ``stop()``, ``pause()``, ``resume()``."""

    database = "faults"

    def __init__(self, root: Path) -> None:
        self.root = root
        self.datadir = root / "data"
        self.socket = root / "mariadb.sock"
        self.pid_file = root / "mariadb.pid"
        self.log = root / "mariadb.err"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{self.database}"

    def install(self) -> None:
        """Create the system tables; root may log in over TCP without a password."""
        result = subprocess.run(
            [
                str(INSTALL_DB),
                "--no-defaults",
                f"--datadir={self.datadir}",
                *_RUN_AS_ROOT,
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise MariaDBUnavailable(f"mariadb-install-db failed: {result.stderr[-2000:]}")

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it answers a query."""
        self.process = subprocess.Popen(
            [
                str(MARIADBD),
                "--no-defaults",
                f"--datadir={self.datadir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket}",
                f"--pid-file={self.pid_file}",
                f"--log-error={self.log}",
                *_RUN_AS_ROOT,
                "--skip-name-resolve",
                "--innodb-buffer-pool-size=16M",
                "--innodb-log-file-size=8M",
                "--skip-log-bin",
                "--performance-schema=OFF",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                connection = pymysql.connect(
                    host="127.0.0.1", port=self.port, user="root", connect_timeout=1
                )
            except pymysql.err.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise MariaDBUnavailable(
                        f"mariadbd did not start: {self.log.read_text(errors='replace')[-2000:]}"
                    ) from None
                time.sleep(0.1)
                continue
            with connection:
                connection.cursor().execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            return

    def stop(self) -> None:
        """Shut the server down cleanly (resuming it first if it is paused)."""
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """End the server abruptly (SIGKILL), as a crash or the OOM killer would."""
        assert self.process is not None
        self.resume()
        self.process.kill()
        self.process.wait()
        self.process = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): it keeps its port but answers nothing."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
            self.paused = False


def running_server(root: Path) -> Iterator[PrivateMariaDB]:
    """Install and start a server in ``root``, yield it, and shut it down afterwards.

    Raises ``MariaDBUnavailable`` if it cannot start.
    """
    server = PrivateMariaDB(root)
    try:
        server.install()
        server.start()
        yield server
    finally:
        server.stop()


def server_for_suite(
    tmp_path_factory: pytest.TempPathFactory, suite: str
) -> Iterator[PrivateMariaDB]:
    """A suite's own private server, for its fixture: skipped (failed in CI) where it
    cannot run. Each suite gets a fresh one: their schemas differ (create_all, or
    flask db upgrade)."""
    problem = missing_prerequisites()
    if problem:
        skip_or_fail(f"{suite}: {problem}")
    try:
        yield from running_server(tmp_path_factory.mktemp("mariadb"))
    except MariaDBUnavailable as error:
        pytest.fail(str(error))
