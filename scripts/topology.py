"""Several Apache + mod_wsgi nodes behind an Apache front, all on this machine's loopback.

What a site outgrowing one server runs, built from the same rendered
configuration a sysadmin gets: each node is a private Apache whose site comes
from ``flask apache-config --mode backend`` and the front one from
``flask apache-config --mode front`` (TLS, mod_proxy_balancer with health
checks). The nodes serve this checkout with one ``SECRET_KEY``, one MariaDB
database and the machine's Redis (under key prefixes of their own), and trust
the front's address in ``TRUSTED_PROXIES``.

Addresses tell the parts apart: the front listens on 127.0.0.1, nodes are
reached at 127.0.0.2, 127.0.0.3, ... (each on its own port), and clients can
connect from any other 127.x address (``Browser(source=...)``). Which node
answered a request is told by a response header the private front adds
(``MEMBER_HEADER``, never part of the rendered front), and by the request's
id in that node's own log.

Run as root (the daemons drop to www-data). Used by tests/apache/test_topology.py
and scripts/bench_topology.py.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import re
import secrets
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from pathlib import Path
from urllib.parse import urlencode

import pymysql
import redis
from sqlalchemy import make_url

from scripts.private_apache import FRONT_MODULES, SITE_NAME, PrivateApache
from scripts.private_apache import Reply as ApacheReply

FRONT_ADDRESS = "127.0.0.1"
# The front adds it to every answer: the balancer member (http://ADDRESS:PORT) that
# answered, or nothing when none did. Test-only: the rendered front leaks no node name.
MEMBER_HEADER = "X-Topology-Member"
_MEMBER_CONFIG = f"""\
# Test-only: which balancer member answered (mod_proxy_balancer sets the variable).
Header always set {MEMBER_HEADER} "%{{BALANCER_WORKER_NAME}}e"
"""
REQUEST_ID_HEADER = "X-Request-ID"
# Apache's error log time stamp: [Thu Dec 03 11:50:23.123456 2026].
_ERROR_LOG_TIME = re.compile(r"^\[(\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4})\]")
_CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def node_address(index: int) -> str:
    """The loopback address of the ``index``-th node (0: 127.0.0.2)."""
    return f"127.0.0.{index + 2}"


@dataclass
class Node:
    """One backend: a private Apache with the rendered ``--mode backend`` site."""

    name: str
    address: str
    apache: PrivateApache

    @property
    def member(self) -> str:
        """The front's name for it: mod_proxy_balancer's BALANCER_WORKER_NAME."""
        return f"http://{self.address}:{self.apache.http_port}"

    def access_log(self) -> str:
        """This node's access log: a line per request, ending with its X-Request-ID."""
        logs = sorted((self.apache.root / "logs").glob("*access*.log"))
        return "".join(log.read_text(errors="replace") for log in logs)


@dataclass
class Front:
    """A private Apache with the rendered ``--mode front`` site, balancing ``nodes``."""

    name: str
    nodes: tuple[Node, ...]
    apache: PrivateApache

    @property
    def url(self) -> str:
        return f"https://{FRONT_ADDRESS}:{self.apache.https_port}"


@dataclass
class Topology:
    """Nodes sharing one MariaDB database and Redis, behind one or more fronts.

    ``fronts_spec`` maps a front's name to the names of the nodes it balances.
    """

    venv: Path
    # A MariaDB server URL with an account that may create and drop ``database``.
    database_server: str
    database: str
    redis_url: str = "redis://127.0.0.1:6379/0"
    node_names: tuple[str, ...] = ("a", "b")
    fronts_spec: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"front": ("a", "b")})
    processes: int = 2
    threads: int = 5
    # One key for every node: a session signed by one is valid on the others.
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    # Keys of this run in the shared Redis start with it, so runs never meet.
    redis_prefix: str = field(default_factory=lambda: f"topology-{secrets.token_hex(4)}")
    nodes: dict[str, Node] = field(init=False, default_factory=dict)
    fronts: dict[str, Front] = field(init=False, default_factory=dict)
    # The nodes' `flask db upgrade`, run at once on the empty database.
    upgrades: dict[str, subprocess.CompletedProcess[str]] = field(init=False, default_factory=dict)

    @property
    def database_url(self) -> str:
        url = make_url(self.database_server).set(database=self.database)
        return url.render_as_string(hide_password=False)

    @property
    def front(self) -> Front:
        """The first front (the only one, unless several were asked for)."""
        return next(iter(self.fronts.values()))

    def node_environment(self) -> dict[str, str]:
        """The .env every node shares: what the deploy guide says must be identical."""
        return {
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "CACHE_KEY_PREFIX": f"{self.redis_prefix}:",
            "RATELIMIT_KEY_PREFIX": self.redis_prefix,
            "TRUSTED_PROXIES": FRONT_ADDRESS,
        }

    def start(self) -> Topology:
        """Create the empty database; at once, migrate from every node and start every Apache."""
        self._create_database()
        for index, name in enumerate(self.node_names):
            apache = PrivateApache(
                venv=self.venv,
                mode="backend",
                processes=self.processes,
                threads=self.threads,
                environment=self.node_environment(),
                site_options=["--trusted-proxy", FRONT_ADDRESS],
            )
            self.nodes[name] = Node(name, node_address(index), apache)
        for name, members in self.fronts_spec.items():
            nodes = tuple(self.nodes[member] for member in members)
            options: list[str] = []
            for node in nodes:
                options += ["--backend", f"{node.address}:{node.apache.http_port}"]
            apache = PrivateApache(
                venv=self.venv,
                mode="front",
                site_options=options,
                modules=FRONT_MODULES,
                server_config=_MEMBER_CONFIG,
            )
            self.fronts[name] = Front(name, nodes, apache)
        # Nothing asks the app for a page before the schema is there: the front's
        # health checks find the nodes unready until then.
        servers = self.servers()
        with concurrent.futures.ThreadPoolExecutor(len(servers) + len(self.nodes)) as pool:
            upgrades = {
                name: pool.submit(node.apache.migrate, check=False)
                for name, node in self.nodes.items()
            }
            started = [pool.submit(server.start, migrate=False) for server in servers]
            self.upgrades = {name: future.result() for name, future in upgrades.items()}
            for future in started:
                future.result()
        if all(result.returncode for result in self.upgrades.values()):
            errors = "; ".join(result.stderr.strip()[-300:] for result in self.upgrades.values())
            raise RuntimeError(f"no node could build the schema: {errors}")
        for front in self.fronts.values():
            wait_until_members_answer(front)
        return self

    def _create_database(self) -> None:
        with self._server() as connection, connection.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
            cursor.execute(f"CREATE DATABASE `{self.database}` CHARACTER SET utf8mb4")

    def _server(self) -> pymysql.Connection:
        url = make_url(self.database_server)
        return pymysql.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.username or "root",
            password=url.password or "",
            connect_timeout=5,
        )

    def servers(self) -> list[PrivateApache]:
        """Every Apache of the topology: the nodes', then the fronts'."""
        return [node.apache for node in self.nodes.values()] + [
            front.apache for front in self.fronts.values()
        ]

    def stop(self) -> None:
        """Stop every Apache, remove their folders, the database and this run's Redis keys."""
        servers = self.servers()
        if servers:
            with concurrent.futures.ThreadPoolExecutor(len(servers)) as pool:
                list(pool.map(PrivateApache.stop, servers))
        for server in servers:
            server.cleanup()
        try:
            with self._server() as connection, connection.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{self.database}`")
        except pymysql.MySQLError:
            pass
        try:
            store = redis.Redis.from_url(self.redis_url, socket_timeout=5)
            keys = list(store.scan_iter(match=f"*{self.redis_prefix}*", count=1000))
            if keys:
                store.delete(*keys)
        except redis.RedisError:
            pass

    def kill(self, name: str) -> float:
        """SIGKILL node ``name`` (Apache and its daemons); return when, by time.time()."""
        self.nodes[name].apache.kill()
        return time.time()

    def restart(self, name: str) -> float:
        """Start node ``name`` again; return when it listened, by time.time()."""
        self.nodes[name].apache.restart()
        return time.time()


@dataclass
class Reply(ApacheReply):
    """One answer, with the balancer member that gave it ("" when the front answered itself)."""

    request_id: str
    member: str


class Browser:
    """A client of a front, from its own loopback address, keeping cookies like a browser.

    Each request carries a fresh ``X-Request-ID``, which the node that served it
    writes into its log.
    """

    def __init__(self, front: Front, source: str, user_agent: str = "topology-test/1") -> None:
        self.front = front
        self.source = source
        self.user_agent = user_agent
        self.cookies: dict[str, str] = {}
        self.tls = ssl.create_default_context(cafile=str(front.apache.cert))

    def request(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        request_id = uuid.uuid4().hex
        sent = {
            "User-Agent": self.user_agent,
            REQUEST_ID_HEADER: request_id,
            **(headers or {}),
        }
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        connection = http.client.HTTPSConnection(
            FRONT_ADDRESS,
            self.front.apache.https_port,
            context=self.tls,
            timeout=30,
            source_address=(self.source, 0),
        )
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            reply = Reply(
                response.status,
                response.headers,
                response.read(),
                request_id,
                response.headers.get(MEMBER_HEADER, ""),
            )
        finally:
            connection.close()
        self._keep_cookies(reply.headers)
        return reply

    def _keep_cookies(self, headers: Message) -> None:
        for header in headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            expired = re.search(r"(?i);\s*max-age=0\b|expires=thu, 01 jan 1970", header)
            if expired or not value:
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value

    def csrf_token(self, page: str) -> tuple[str, Reply]:
        """The CSRF token of the form on ``page``, and the answer that carried it."""
        reply = self.request(page)
        match = _CSRF_FIELD.search(reply.text)
        if not match:
            raise AssertionError(f"{page} ({reply.status}) has no CSRF token field")
        return match[1], reply

    def post_form(
        self, path: str, fields: dict[str, str], token: str, referer_page: str | None = None
    ) -> Reply:
        """POST ``fields`` with ``token``, as the browser that loaded the form would."""
        body = urlencode({**fields, "csrf_token": token}).encode()
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": f"{self.front.url}{referer_page or path}",
            "Origin": self.front.url,
        }
        return self.request(path, "POST", headers=headers, body=body)

    def submit(self, path: str, fields: dict[str, str], form_page: str | None = None) -> Reply:
        """Load the form and post it (the two may reach different nodes)."""
        token, _ = self.csrf_token(form_page or path)
        return self.post_form(path, fields, token, form_page)


def wait_until_members_answer(front: Front, timeout: float = 90) -> None:
    """Until every node behind ``front`` has answered GET /api/ready with 200 through it."""
    browser = Browser(front, FRONT_ADDRESS)
    waiting = {node.member for node in front.nodes}
    deadline = time.monotonic() + timeout
    while waiting:
        try:
            reply = browser.request("/api/ready")
            if reply.status == 200:
                waiting.discard(reply.member)
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{sorted(waiting)} never answered through {front.url}")
        time.sleep(0.05)


def logged_request_ids(node: Node) -> set[str]:
    """The request ids of the requests the node's Apache has logged as answered."""
    return set(re.findall(r" ([0-9a-f]{32})$", node.access_log(), re.MULTILINE))


def wait_for_request_ids(node: Node, ids: Iterable[str], timeout: float = 5) -> set[str]:
    """Those of ``ids`` the node's access log holds, waiting up to ``timeout`` for all of
    them (Apache writes a request's line a moment after its answer)."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        found = wanted & logged_request_ids(node)
        if found == wanted or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def error_log_times(path: Path, pattern: str) -> list[float]:
    """When (time.time() values) the lines of an Apache error log that match ``pattern`` were
    written."""
    times: list[float] = []
    if not path.exists():
        return times
    for line in path.read_text(errors="replace").splitlines():
        if not re.search(pattern, line):
            continue
        stamp = _ERROR_LOG_TIME.match(line)
        if stamp:
            times.append(datetime.strptime(stamp[1], "%a %b %d %H:%M:%S.%f %Y").timestamp())
    return times


def source_addresses(count: int, first: int = 5) -> Iterator[str]:
    """``count`` loopback client addresses, from 127.0.0.``first`` on."""
    for index in range(count):
        yield f"127.0.0.{first + index}"


@dataclass(frozen=True)
class Outcome:
    """One request of a load: when it started and ended (time.time()), and how it went."""

    started: float
    ended: float
    status: int
    # The balancer member that answered ("" if none did).
    member: str
    # Why there was no answer at all ("" if there was one).
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and self.status < 500


class Load:
    """``clients`` threads, each from its own loopback address, sending GETs through a front
    one after the other (a new connection each) until ``stop()``."""

    def __init__(
        self,
        front: Front,
        clients: int = 4,
        paths: tuple[str, ...] = ("/api/health", "/", "/api/posts"),
        first_address: int = 20,
    ) -> None:
        self.front = front
        self.paths = paths
        self.sources = list(source_addresses(clients, first_address))
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(source,), daemon=True)
            for source in self.sources
        ]

    def start(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Outcome]:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=60)
        with self._lock:
            return sorted(self.outcomes, key=lambda outcome: outcome.started)

    def answered_by(self, member: str, since: float) -> bool:
        """Has ``member`` answered a request that started after ``since`` (time.time())?"""
        with self._lock:
            return any(o.member == member and o.started > since for o in self.outcomes)

    def _client(self, source: str) -> None:
        browser = Browser(self.front, source)
        turn = 0
        while not self._stopping.is_set():
            path = self.paths[turn % len(self.paths)]
            turn += 1
            started = time.time()
            try:
                reply = browser.request(path)
                outcome = Outcome(started, time.time(), reply.status, reply.member)
            except (OSError, http.client.HTTPException) as error:
                outcome = Outcome(started, time.time(), 0, "", f"{type(error).__name__}: {error}")
            with self._lock:
                self.outcomes.append(outcome)


@dataclass(frozen=True)
class Failover:
    """What killing a node under load cost, and how long the front took to notice."""

    requests: int
    # Requests that got no answer, or an error (5xx) from the front.
    lost: int
    # Requests that had started and not yet ended when the node was killed.
    in_flight: int
    # Lost requests that started only after the node's processes were gone.
    lost_after_kill: int
    # From the kill to the first request the front could not send to the node: from
    # then on the node is out (in error) and its share goes to the others.
    seconds_until_taken_out: float
    # From the kill to the last request the front tried to send to the node while
    # it was down: one live request per `retry` interval probes it (and is passed on).
    seconds_until_last_attempt: float
    # From the node listening again to the first request it answered.
    seconds_until_used_again: float
    # The front's attempts to send a request to the dead node, health checks aside.
    attempts_while_dead: int


def failover_drill(
    topology: Topology,
    name: str = "b",
    clients: int = 4,
    before: float = 1.5,
    dead: float = 12.0,
    back_within: float = 30.0,
    front: Front | None = None,
) -> Failover:
    """Kill node ``name`` (SIGKILL) under a load through ``front`` (the first one by
    default), keep it down for ``dead`` seconds, start it again and wait until the
    front sends it requests."""
    node = topology.nodes[name]
    front = front or topology.front
    address = re.escape(node.address)
    load = Load(front, clients).start()
    try:
        time.sleep(before)
        kill_started = time.time()
        killed = topology.kill(name)
        time.sleep(dead)
        restarted = topology.restart(name)
        deadline = time.monotonic() + back_within
        while time.monotonic() < deadline and not load.answered_by(node.member, restarted):
            time.sleep(0.05)
    finally:
        outcomes = load.stop()
    # The front's failed attempts at sending a live request to the node (AH01114,
    # "failed to make connection to backend"); its health checks log no client.
    attempts = [
        moment
        for moment in error_log_times(
            front.apache.root / "logs" / f"{SITE_NAME}-error.log",
            rf"\[client [^]]+\] AH01114: .* backend: {address}$",
        )
        if kill_started <= moment < restarted
    ]
    back = [o.ended for o in outcomes if o.member == node.member and o.started > restarted]
    lost = [o for o in outcomes if not o.ok]
    return Failover(
        requests=len(outcomes),
        lost=len(lost),
        in_flight=sum(1 for o in outcomes if o.started < killed and o.ended > kill_started),
        lost_after_kill=sum(1 for o in lost if o.started > killed),
        seconds_until_taken_out=(min(attempts) - kill_started) if attempts else float("inf"),
        seconds_until_last_attempt=(max(attempts) - kill_started) if attempts else float("inf"),
        seconds_until_used_again=(min(back) - restarted) if back else float("inf"),
        attempts_while_dead=len(attempts),
    )
