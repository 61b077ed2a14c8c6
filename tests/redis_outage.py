"""A private Redis to stop and pause, an app served against it, and concurrent clients.

Shared by tests/test_redis_outage.py and scripts/outage_drill.py. The
private Redis runs on its own free port with its own folder and keeps nothing
on disk, so stopping or pausing it never touches the Redis other programs use.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.extensions import db
from app.models import Post, User

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
DRILL_PASSWORD = "a drill passphrase that is long"
DRILL_TITLE = "Drill post"
# The cached routes, and what each must show while Redis is down.
CACHED_PATHS = ("/", "/users/drill", "/api/posts", "/api/users")


def basic_auth(password: str) -> dict[str, str]:
    """The Authorization header for the drill's user with ``password``."""
    raw = base64.b64encode(f"drill:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


def free_port() -> int:
    """A TCP port nobody listens on at the moment."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own, which tests may stop, restart, pause and resume."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client for checking what the app stored (not the app's own)."""
        return redis.Redis(port=self.port, socket_timeout=2, socket_connect_timeout=2)

    def start(self) -> None:
        """Start the server on its port and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                if self.client().ping():
                    return
            except redis.RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (its data is lost: it keeps nothing on disk)."""
        if self.process is None:
            return
        self.resume()
        self.process.terminate()
        self.process.wait(timeout=10)
        self.process = None

    def pause(self) -> None:
        """Freeze the server: connections are accepted, nothing is answered."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            os.kill(self.process.pid, signal.SIGCONT)
            self.paused = False

    def keys(self, prefix: str) -> list[bytes]:
        """The keys whose name holds ``prefix``."""
        return list(self.client().scan_iter(match=f"*{prefix}*"))

    def limit_counts(self) -> dict[bytes, int]:
        """The rate-limit counters stored here, by key."""
        # Not by RATELIMIT_KEY_PREFIX: the limiter object is shared by every app
        # in a process and keeps the prefix of the first app bound to it.
        client = self.client()
        return {key: int(client.get(key) or 0) for key in self.keys("LIMITS:")}


@contextmanager
def running_redis(directory: Path) -> Iterator[PrivateRedis]:
    """A started PrivateRedis, stopped afterwards whatever state it was left in."""
    server = PrivateRedis(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class LogRecorder(logging.Handler):
    """Keeps the records of one logger, for counting warnings."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def at(self, level: int) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno == level]


@dataclass
class DrillApp:
    """The app in its production configuration, served over HTTP by a threaded server."""

    app: Flask
    server: BaseWSGIServer
    cache_prefix: str
    token: str = ""
    post_id: int = 0

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def request(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, str, float]:
        """Status, body and seconds taken, over a fresh connection."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        all_headers = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body)
            all_headers["Content-Type"] = "application/json"
        started = time.monotonic()
        try:
            connection.request(method, path, body=data, headers=all_headers)
            response = connection.getresponse()
            text = response.read().decode()
        finally:
            connection.close()
        return response.status, text, time.monotonic() - started

    def wrong_password(self) -> int:
        """One password guess through POST /api/tokens (rate limited); its status."""
        return self.request("POST", "/api/tokens", headers=basic_auth("not the password"))[0]

    def edit_post(self, title: str) -> int:
        status, _, _ = self.request(
            "PATCH",
            f"/api/posts/{self.post_id}",
            {"title": title},
            {"Authorization": f"Bearer {self.token}"},
        )
        return status


@contextmanager
def drill_app(redis_server: PrivateRedis, database: Path) -> Iterator[DrillApp]:
    """The production configuration with the cache and rate limits on ``redis_server``.

    One user ``drill`` with one post, and a bearer token for editing it.
    """
    run = secrets.token_hex(4)
    settings = {
        "FLASK_CONFIG": "production",
        "SECRET_KEY": secrets.token_hex(32),
        "DATABASE_URL": f"sqlite:///{database}",
        "MAIL_ENABLED": "false",
        # The one setting a deployment gives: both the cache and the limits use it.
        "REDIS_URL": redis_server.url,
        "CACHE_KEY_PREFIX": f"drill-cache-{run}:",
        "RATELIMIT_KEY_PREFIX": f"drill-limits-{run}",
    }
    unset = ("CACHE_REDIS_URL", "RATELIMIT_STORAGE_URI")
    saved = {name: os.environ.get(name) for name in (*settings, *unset)}
    os.environ.update(settings)
    for name in unset:
        os.environ.pop(name, None)
    try:
        app = create_app("production")
        assert app.config["RATELIMIT_STORAGE_URI"] == app.config["CACHE_REDIS_URL"]
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    # Scrypt at full cost only slows the drill's log-ins down.
    app.config["PASSWORD_HASH_METHOD"] = "scrypt:1024:8:1"
    with app.app_context():
        db.create_all()
        user = User(username="drill", email="drill@example.com", password=DRILL_PASSWORD)
        db.session.add(user)
        db.session.add(Post(title=DRILL_TITLE, body="Served from Redis or not.", author=user))
        db.session.commit()
        post_id = db.session.scalars(select(Post.id)).one()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    served = DrillApp(app, server, settings["CACHE_KEY_PREFIX"])
    served.post_id = post_id
    status, body, _ = served.request("POST", "/api/tokens", headers=basic_auth(DRILL_PASSWORD))
    assert status == 201, body
    served.token = json.loads(body)["token"]
    try:
        yield served
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


def looks_right(path: str, body: str) -> bool:
    """Does a cached route's body hold what the database holds?"""
    if path.startswith("/api/"):
        document = json.loads(body)
        return document["total"] == 1 and len(document["items"]) == 1
    return DRILL_TITLE in body


@dataclass
class Traffic:
    """Client threads requesting the cached routes in turn until stopped."""

    served: DrillApp
    threads: int = 4
    results: list[tuple[float, str, int, float, bool]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Traffic:
        for number in range(self.threads):
            worker = threading.Thread(target=self._run, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=30)

    def _run(self, number: int) -> None:
        turn = number
        while not self._stop.is_set():
            path = CACHED_PATHS[turn % len(CACHED_PATHS)]
            turn += 1
            try:
                status, body, seconds = self.served.request("GET", path)
                right = status == 200 and looks_right(path, body)
            except (OSError, http.client.HTTPException, ValueError):
                status, seconds, right = 0, 0.0, False
            with self._lock:
                self.results.append((time.monotonic(), path, status, seconds, right))

    def between(self, start: float, end: float) -> list[tuple[float, str, int, float, bool]]:
        with self._lock:
            return [r for r in self.results if start <= r[0] <= end]


def limits_counted_in_redis(served: DrillApp, redis_server: PrivateRedis) -> bool:
    """Does a password guess now raise a rate-limit counter in Redis?"""
    before = redis_server.limit_counts()
    served.wrong_password()
    after = redis_server.limit_counts()
    return any(count > before.get(key, 0) for key, count in after.items())


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> float:
    """Seconds until ``condition()`` held; raises TimeoutError after ``timeout``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"not true after {timeout} s")
        time.sleep(interval)
    return time.monotonic() - started
