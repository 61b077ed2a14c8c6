"""Rehearse Redis and MariaDB outages under load behind the real Apache, and print what they cost.

    sudo .venv/bin/python scripts/outage_drill.py [--service redis|mariadb|both] [--seconds 20]

Starts a private MariaDB and a private redis-server on free ports (never the
servers other programs use) and a private Apache + mod_wsgi serving this
checkout in its production configuration (the rendered vhost, HTTPS, 2
processes x 5 threads, the database on that MariaDB, the cache and the rate
limits on that Redis, every timeout at its default). It seeds demo users and
posts, then keeps ``--threads`` clients requesting the cached pages and lists,
a post, ``/api/health``, ``/about`` and failing log-ins. Each chosen service is
then stopped for ``--seconds`` and started again, and frozen (SIGSTOP) for
``--seconds`` and resumed (SIGCONT).

For each outage the table shows: answers during the outage; 500s (the goal is
none); the other answers that were not a success, by status (0: no answer);
what the failing log-ins got; the slowest answer and the 99th percentile
during the outage, and the slowest in the seconds before it; how long after
the service answered again every route had ``--streak`` successes in a row,
and (for Redis) until every process logged that it uses Redis again;
whether Apache's own error page (a response the app did not make) ever
appeared; the tracebacks and the warnings in the site's log. Then the answers
during each outage, by route.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.private_apache import (
    SITE_NAME,
    PrivateApache,
    missing_prerequisites,
    system_venv,
)
from tests import private_mariadb
from tests.private_mariadb import PrivateMariaDB
from tests.redis_outage import PrivateRedis

DEMO_USER = "demo1"
# Settings the drill must leave at the production defaults: none may leak in from the caller.
DEFAULTED_PREFIXES = ("DATABASE_", "REDIS_", "CACHE_", "RATELIMIT_")
RECOVERY_LIMIT = 90.0
# Seconds of normal service measured before each outage, to compare its latencies with.
BASELINE_SECONDS = 5.0
SLOW = 1.0
REQUEST_TIMEOUT = 60.0


@dataclass(frozen=True)
class Route:
    """One kind of request in the mix, and the statuses that count as served."""

    name: str
    method: str
    path: str
    served: frozenset[int] = frozenset({200})
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Answer:
    route: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer (refused, reset, timed out)
    ok: bool
    apache_page: bool

    @property
    def seconds(self) -> float:
        return self.ended - self.started


def routes(post_id: int) -> list[Route]:
    """The mix: the cached routes, a post, health, a page without database, failing log-ins."""
    wrong = base64.b64encode(f"{DEMO_USER}:not the password at all".encode()).decode()
    return [
        Route("/", "GET", "/"),
        Route("/api/posts", "GET", "/api/posts"),
        Route("/api/users", "GET", "/api/users"),
        Route("/users/<name>", "GET", f"/users/{DEMO_USER}"),
        Route("/posts/<id>", "GET", f"/posts/{post_id}"),
        Route("/api/health", "GET", "/api/health"),
        Route("/about", "GET", "/about"),
        # A wrong password is served as 401, or 429 once the rate limits step in.
        Route(
            "log-in",
            "POST",
            "/api/tokens",
            frozenset({401, 429}),
            (("Authorization", f"Basic {wrong}"),),
        ),
    ]


class Client:
    """HTTPS requests to the private Apache, one fresh connection each, as a browser's first."""

    def __init__(self, apache: PrivateApache) -> None:
        self.port = apache.https_port
        self.tls = ssl.create_default_context(cafile=str(apache.cert))

    def send(self, route: Route) -> Answer:
        started = time.monotonic()
        connection = http.client.HTTPSConnection(
            "localhost", self.port, context=self.tls, timeout=REQUEST_TIMEOUT
        )
        try:
            connection.request(route.method, route.path, headers=dict(route.headers))
            response = connection.getresponse()
            response.read()
            status = response.status
            # Every response the app makes carries X-Request-ID; Apache's own pages do not.
            apache_page = response.getheader("X-Request-ID") is None
        except (OSError, http.client.HTTPException):
            status, apache_page = 0, False
        finally:
            connection.close()
        ended = time.monotonic()
        ok = status in route.served and not apache_page
        return Answer(route.name, started, ended, status, ok, apache_page)


@dataclass
class Load:
    """Client threads going through the mix in turn until stopped; every answer is kept."""

    client: Client
    mix: list[Route]
    threads: int
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        for number in range(self.threads):
            worker = threading.Thread(target=self._run, args=(number,), daemon=True)
            worker.start()
            self._workers.append(worker)
        return self

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=REQUEST_TIMEOUT + 10)

    def _run(self, number: int) -> None:
        turn = number
        while not self._stop.is_set():
            answer = self.client.send(self.mix[turn % len(self.mix)])
            turn += 1
            with self._lock:
                self.answers.append(answer)

    def since(self, moment: float) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if a.started >= moment]


def recovered_at(answers: list[Answer], route_names: list[str], streak: int) -> dict[str, float]:
    """For each route that has one: when the first of ``streak`` served answers in a row ended."""
    moments = {}
    for name in route_names:
        run: list[Answer] = []
        for answer in sorted((a for a in answers if a.route == name), key=lambda a: a.started):
            run = [*run, answer] if answer.ok else []
            if len(run) == streak:
                moments[name] = run[0].ended
                break
    return moments


def wait_until_served(load: Load, since: float, streak: int) -> dict[str, float]:
    """Wait until every route had ``streak`` served answers in a row ending after ``since``."""
    names = [route.name for route in load.mix]
    deadline = time.monotonic() + RECOVERY_LIMIT
    while True:
        after = [a for a in load.since(since - 60) if a.ended >= since]
        moments = recovered_at(after, names, streak)
        if len(moments) == len(names) or time.monotonic() > deadline:
            return moments
        time.sleep(0.2)


def percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))] if ordered else 0.0


@dataclass
class Outage:
    """How to take one service away and bring it back, and how to tell it answers."""

    service: str
    mode: str  # "stopped" or "frozen"
    begin: Callable[[], None]
    end: Callable[[], None]
    port: int
    # What to send, and the first bytes of a live server's reply; None for a frozen server,
    # which answers as soon as it is resumed. (Probing a frozen MariaDB would also leave
    # connections in its backlog that it counts as errors against the app's address.)
    greeting: tuple[bytes, bytes] | None


# Redis answers PING; MariaDB speaks first, with its handshake packet.
REDIS_GREETING = (b"PING\r\n", b"+PONG")
MARIADB_GREETING = (b"", b"")


@dataclass
class Probe:
    """Polls a server every few milliseconds until it answers; keeps the moment it did."""

    port: int
    greeting: tuple[bytes, bytes]
    moment: float = 0.0
    _thread: threading.Thread | None = None

    def start(self) -> Probe:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def answered(self) -> float:
        """The moment the server first answered (waits for it)."""
        assert self._thread is not None
        self._thread.join()
        return self.moment

    def _run(self) -> None:
        while not self._answers():
            time.sleep(0.01)
        self.moment = time.monotonic()

    def _answers(self) -> bool:
        send, expected = self.greeting
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as connection:
                if send:
                    connection.sendall(send)
                reply = connection.recv(64)
        except OSError:
            return False
        return len(reply) > 4 and reply.startswith(expected)


@dataclass
class Figures:
    service: str
    mode: str
    outage_seconds: float
    answers: int
    five_hundreds: int
    other_failures: Counter[int]
    log_ins: Counter[int]
    worst: float
    worst_route: str
    p99: float
    worst_before: Answer
    failures_before: Counter[int]
    slow_before: Counter[str]
    slow_during: Counter[str]
    by_route: dict[str, list[Answer]]
    recovery: float | None
    recovery_route: str
    apache_pages: int
    tracebacks: int
    warnings: int
    redis_again: float | None


def log_size(apache: PrivateApache) -> int:
    log = apache.root / "logs" / f"{SITE_NAME}-error.log"
    return log.stat().st_size if log.exists() else 0


def log_since(apache: PrivateApache, offset: int) -> str:
    log = apache.root / "logs" / f"{SITE_NAME}-error.log"
    with log.open("rb") as file:
        file.seek(offset)
        return file.read().decode(errors="replace")


def seconds_until_redis_used(log: str, returned_wall: float) -> float | None:
    """Seconds from the service's return until the last process logged Redis back in use."""
    moments = []
    for line in log.splitlines():
        if " is back after " in line and line.startswith("["):
            # Apache stamps each line in local time with microseconds.
            stamp = datetime.strptime(line[1 : line.index("]")], "%a %b %d %H:%M:%S.%f %Y")
            moments.append(stamp.timestamp())
    return max(moments) - returned_wall if moments else None


def drill(
    apache: PrivateApache, load: Load, outage: Outage, seconds: float, streak: int
) -> Figures:
    """One outage under the running load; the figures measured."""
    names = [route.name for route in load.mix]
    before = wait_until_served(load, time.monotonic(), streak)
    if len(before) < len(names):
        raise RuntimeError(f"not every route is served before the drill: {sorted(before)}")
    settled = time.monotonic()
    time.sleep(BASELINE_SECONDS)
    offset = log_size(apache)
    began = time.monotonic()
    outage.begin()
    time.sleep(max(0.0, seconds - (time.monotonic() - began)))
    if outage.greeting is None:
        outage.end()
        returned = time.monotonic()
    else:
        # A restarted server takes a while to answer, and the helpers notice it late:
        # recovery counts from its first answer to a probe of our own.
        probe = Probe(outage.port, outage.greeting).start()
        outage.end()
        returned = probe.answered()
    returned_wall = time.time() - (time.monotonic() - returned)
    moments = wait_until_served(load, returned, streak)
    time.sleep(1)
    log = log_since(apache, offset)

    # Requests in flight when the service went away belong to the outage: they meet it.
    window = [a for a in load.since(began - REQUEST_TIMEOUT) if a.ended >= began]
    during = [a for a in window if a.started <= returned]
    baseline = [a for a in load.since(settled) if a.ended < began]
    slowest = max(during, key=lambda a: a.seconds)
    late = {name: moments.get(name, returned + RECOVERY_LIMIT) - returned for name in names}
    recovery_route = max(late, key=lambda name: late[name])
    return Figures(
        service=outage.service,
        mode=outage.mode,
        outage_seconds=returned - began,
        answers=len(during),
        five_hundreds=sum(1 for a in window if a.status == 500),
        other_failures=Counter(
            a.status for a in window if a.route != "log-in" and not a.ok and a.status != 500
        ),
        log_ins=Counter(a.status for a in window if a.route == "log-in"),
        worst=slowest.seconds,
        worst_route=slowest.route,
        p99=percentile([a.seconds for a in during], 99),
        worst_before=max(baseline, key=lambda a: a.seconds),
        failures_before=Counter(a.status for a in baseline if not a.ok),
        slow_before=Counter(a.route for a in baseline if a.seconds > SLOW),
        slow_during=Counter(a.route for a in during if a.seconds > SLOW),
        by_route={route.name: [a for a in during if a.route == route.name] for route in load.mix},
        recovery=None if len(moments) < len(names) else max(0.0, late[recovery_route]),
        recovery_route=recovery_route,
        apache_pages=sum(1 for a in window if a.apache_page),
        tracebacks=log.count("Traceback"),
        redis_again=seconds_until_redis_used(log, returned_wall),
        warnings=sum(1 for line in log.splitlines() if " WARNING " in line),
    )


def counts(counter: Counter[int]) -> str:
    return " ".join(f"{status}:{n}" for status, n in sorted(counter.items())) or "-"


def print_table(rows: list[Figures], streak: int) -> None:
    header = (
        "service",
        "outage",
        "outage s",
        "answers",
        "500s",
        "other non-2xx",
        "log-ins",
        "worst s",
        "p99 s",
        "worst before",
        f"back s ({streak} ok)",
        "Redis used s",
        "Apache page",
        "tracebacks",
        "warnings",
    )
    lines = [header]
    for row in rows:
        back = (
            f"> {RECOVERY_LIMIT:.0f}"
            if row.recovery is None
            else f"{row.recovery:.2f} {row.recovery_route}"
        )
        lines.append(
            (
                row.service,
                row.mode,
                f"{row.outage_seconds:.1f}",
                str(row.answers),
                str(row.five_hundreds),
                counts(row.other_failures),
                counts(row.log_ins),
                f"{row.worst:.2f} {row.worst_route}",
                f"{row.p99:.2f}",
                f"{row.worst_before.seconds:.2f} {row.worst_before.route}",
                back,
                "-" if row.redis_again is None else f"{row.redis_again:.2f}",
                "yes" if row.apache_pages else "no",
                str(row.tracebacks),
                str(row.warnings),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))
    print("\nAnswers during each outage by route: status:count, slowest in seconds")
    for row in rows:
        print(f"{row.service} {row.mode}:")
        for name, answers in row.by_route.items():
            statuses = counts(Counter(a.status for a in answers))
            slowest = max((a.seconds for a in answers), default=0.0)
            print(f"  {name:14} {statuses:24} {slowest:.2f}")
        if row.failures_before:
            print(f"  and before it, not served: {counts(row.failures_before)}")
        for when, slow in (("before", row.slow_before), ("during", row.slow_during)):
            if slow:
                routes = " ".join(f"{name}:{n}" for name, n in sorted(slow.items()))
                print(f"  slower than {SLOW:g} s {when} it: {routes}")


def seed(apache: PrivateApache) -> None:
    """Demo users and posts, written by ``flask seed`` as an operator would."""
    command = [str(apache.venv / "bin" / "flask"), "--app", "wsgi", "seed", "--users", "5"]
    command += ["--posts", "10", "--password", secrets.token_urlsafe(16)]
    subprocess.run(
        command, cwd=apache.project, env=apache.app_environment(), check=True, capture_output=True
    )


def first_post_id(client: Client) -> int:
    """The id of the newest post, for the post page in the mix."""
    connection = http.client.HTTPSConnection(
        "localhost", client.port, context=client.tls, timeout=30
    )
    try:
        connection.request("GET", "/api/posts")
        document = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    return int(document["items"][0]["id"])


def outages(
    services: list[str], redis_server: PrivateRedis, mariadb: PrivateMariaDB
) -> list[Outage]:
    chosen = []
    if "redis" in services:
        chosen += [
            Outage(
                "redis",
                "stopped",
                redis_server.stop,
                redis_server.start,
                redis_server.port,
                REDIS_GREETING,
            ),
            Outage(
                "redis",
                "frozen",
                redis_server.pause,
                redis_server.resume,
                redis_server.port,
                None,
            ),
        ]
    if "mariadb" in services:
        chosen += [
            Outage(
                "mariadb", "stopped", mariadb.stop, mariadb.start, mariadb.port, MARIADB_GREETING
            ),
            Outage("mariadb", "frozen", mariadb.pause, mariadb.resume, mariadb.port, None),
        ]
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", choices=["redis", "mariadb", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each outage")
    parser.add_argument("--threads", type=int, default=8, help="concurrent clients")
    parser.add_argument("--keep-logs", type=Path, help="copy Apache's logs to this folder")
    parser.add_argument(
        "--streak",
        type=int,
        default=10,
        help="served answers in a row per route that mean recovered",
    )
    args = parser.parse_args()
    problem = missing_prerequisites() or private_mariadb.missing_prerequisites()
    if problem:
        print(f"Cannot run the drill: {problem}", file=sys.stderr)
        return 1
    for name in [n for n in os.environ if n.startswith(DEFAULTED_PREFIXES)]:
        del os.environ[name]
    if (Path(__file__).resolve().parent.parent / ".env").exists():
        print("Note: .env in the project folder applies to the drill's app too.", file=sys.stderr)
    services = ["redis", "mariadb"] if args.service == "both" else [args.service]

    with tempfile.TemporaryDirectory(prefix="outage-drill-") as folder, ExitStack() as stack:
        root = Path(folder)
        print("Starting a private MariaDB, Redis and Apache...", file=sys.stderr)
        mariadb = PrivateMariaDB(root / "mariadb")
        mariadb.install()
        stack.callback(mariadb.stop)
        mariadb.start()
        redis_server = PrivateRedis(root / "redis")
        stack.callback(redis_server.stop)
        redis_server.start()
        apache = PrivateApache(
            venv=system_venv(),
            environment={
                "DATABASE_URL": mariadb.url,
                "CACHE_REDIS_URL": redis_server.url,
                "RATELIMIT_STORAGE_URI": redis_server.url,
            },
        )
        stack.callback(apache.cleanup)
        stack.callback(apache.stop)
        if args.keep_logs:
            stack.callback(
                shutil.copytree, apache.root / "logs", args.keep_logs, dirs_exist_ok=True
            )
        apache.start()
        seed(apache)
        client = Client(apache)
        load = Load(client, routes(first_post_id(client)), args.threads).start()
        stack.callback(load.stop)
        rows = []
        for outage in outages(services, redis_server, mariadb):
            print(f"{outage.service} {outage.mode} for {args.seconds:g} s...", file=sys.stderr)
            rows.append(drill(apache, load, outage, args.seconds, args.streak))
        print_table(rows, args.streak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
