"""MariaDB stopped, killed or frozen under load: 503 + Retry-After, one log line, never a 500.

A private MariaDB server (never the shared one) serves an app running in a real
threaded WSGI server; client threads keep requesting while the tests stop, kill
or SIGSTOP the server, and the server is running again when each test ends.
DB_OUTAGE_SECONDS lengthens the outage to measure it (the figures are printed).
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
import pytest
import requests
from flask import Flask
from sqlalchemy import text as sql
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.database_faults import classify
from app.errors import MESSAGES
from app.extensions import db
from app.models import Post
from tests.helpers import PASSWORD, SiteSession, csrf_token_from, make_user
from tests.private_mariadb import (
    PrivateMariaDB,
    server_for_suite,
)

OUTAGE_SECONDS = float(os.environ.get("DB_OUTAGE_SECONDS", "4"))
# Short timeouts keep the suite quick; the bounds below are stated in terms of them.
TIMEOUT_SECONDS = 2
RETRY_INTERVAL = 1
# Generous for a noisy 2-core machine: one socket timeout plus a wide margin.
LATENCY_BOUND = TIMEOUT_SECONDS + 4.0
RECOVERY_BOUND = RETRY_INTERVAL + 5.0
CLIENT_THREADS = 6

# A post's page with an argument the page cache does not understand, so the
# view (and the database) answers every time (app/page_cache.py).
POST_PAGE = "/posts/1?fresh=1"

# What the clients ask for. Each is (path, logged in, kind).
ROUTES = [
    # An argument the page cache does not understand: the view answers, and
    # needs the database.
    (POST_PAGE, False, "site"),
    ("/api/posts/1?fresh=1", False, "api"),
    ("/api/users/1?fresh=1", False, "api"),
    ("/about", True, "site"),  # only the logged-in user's lookup needs the database
    ("/api/health", False, "health"),
    ("/about", False, "static"),  # needs no database at all
    # Kept whole for anonymous visitors before the outage (app/page_cache.py):
    # still served during it, as no write can change them meanwhile.
    ("/posts/1", False, "kept"),
    ("/api/posts/1", False, "kept"),
]


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    yield from server_for_suite(tmp_path_factory, "database outage suite")


class LogRecorder(logging.Handler):
    """Keeps every record of the loggers it is attached to."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Served:
    app: Flask
    server: BaseWSGIServer
    log: LogRecorder

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def served(mariadb: PrivateMariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The app on the private server, behind a threaded werkzeug server."""
    monkeypatch.setenv("TEST_DATABASE_URL", mariadb.url)
    monkeypatch.setenv("DATABASE_CONNECT_TIMEOUT", str(TIMEOUT_SECONDS))
    monkeypatch.setenv("DATABASE_READ_TIMEOUT", str(TIMEOUT_SECONDS))
    monkeypatch.setenv("DATABASE_RETRY_INTERVAL", str(RETRY_INTERVAL))
    app = create_app("testing")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    with app.app_context():
        db.drop_all()
        db.create_all()
        author = make_user("alice")
        db.session.add(Post(title="Hello", body="Text", author=author))
        db.session.commit()
        db.session.remove()
    log = LogRecorder()
    # The app's own records, SQLAlchemy's pool, and werkzeug's "Error on request" (an
    # exception that escaped the app, which Apache would answer with its own 500).
    loggers = [logging.getLogger(name) for name in ("app", "sqlalchemy", "werkzeug")]
    for logger in loggers:
        logger.addHandler(log)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(app, server, log)
    finally:
        server.shutdown()
        thread.join(10)
        for logger in loggers:
            logger.removeHandler(log)
        mariadb.resume()
        if mariadb.process is None:
            mariadb.start()
        with app.app_context():
            db.engine.dispose()


def logged_in_session(base: str) -> requests.Session:
    """A client logged in as alice through the site's own form."""
    session = requests.Session()
    form = session.get(f"{base}/auth/login", timeout=30)
    token = csrf_token_from(form.text)
    reply = session.post(
        f"{base}/auth/login",
        data={"login": "alice", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    assert reply.status_code == 302, reply.text
    return session


@dataclass
class Answer:
    started: float
    seconds: float
    path: str
    kind: str
    status: int
    mimetype: str
    retry_after: str | None
    body: str


@dataclass
class Load:
    """Client threads cycling through ROUTES until stopped."""

    base: str
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> Load:
        member = logged_in_session(self.base)
        for number in range(CLIENT_THREADS):
            thread = threading.Thread(target=self._run, args=(number, member.cookies.copy()))
            thread.start()
            self.threads.append(thread)
        return self

    def _run(self, number: int, cookies: requests.cookies.RequestsCookieJar) -> None:
        member, visitor = requests.Session(), requests.Session()
        member.cookies = cookies
        index = number
        while not self.stop.is_set():
            path, logged_in, kind = ROUTES[index % len(ROUTES)]
            index += 1
            client = member if logged_in else visitor
            started = time.monotonic()
            reply = client.get(self.base + path, timeout=60)
            self.answers.append(
                Answer(
                    started,
                    time.monotonic() - started,
                    path,
                    kind,
                    reply.status_code,
                    reply.headers.get("Content-Type", "").split(";")[0],
                    reply.headers.get("Retry-After"),
                    reply.text,
                )
            )

    def finish(self) -> list[Answer]:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)
        return sorted(self.answers, key=lambda answer: answer.started)


def run_outage(
    served: Served, begin: Callable[[], None], end: Callable[[], None]
) -> tuple[list[Answer], float, float, float]:
    """Load before, during and after an outage.

    Returns (answers, outage start, restart start, database back): recovery counts
    from the moment ``end()`` returns, when the server answers again.
    """
    load = Load(served.base).start()
    time.sleep(1)
    begin()
    began = time.monotonic()
    time.sleep(OUTAGE_SECONDS)
    ended = time.monotonic()
    end()
    back = time.monotonic()
    print(f"\nthe database was back {back - ended:.2f} s after the restart began")
    deadline = back + RECOVERY_BOUND + 3
    while time.monotonic() < deadline:
        recent = [a for a in load.answers if a.started > time.monotonic() - 1]
        if recent and all(a.status == 200 for a in recent) and time.monotonic() > back + 2:
            break
        time.sleep(0.2)
    return load.finish(), began, ended, back


def assert_outage_handled(
    served: Served, answers: list[Answer], began: float, ended: float, back: float
) -> None:
    statuses = {a.status for a in answers}
    assert 500 not in statuses, [a.body[:300] for a in answers if a.status == 500][:3]
    assert statuses <= {200, 503}, statuses

    failures = [a for a in answers if a.status == 503]
    assert failures, "the outage produced no 503 at all"
    for answer in failures:
        assert answer.retry_after == str(RETRY_INTERVAL), answer
        if answer.kind == "api":
            assert answer.mimetype == "application/json"
            assert answer.body.startswith("{")
            assert '"status":503' in answer.body.replace(" ", "")
        elif answer.kind == "site":
            assert answer.mimetype == "text/html"
            assert MESSAGES[503] in answer.body
            assert '<a class="site-name" href="/">Flask Site</a>' in answer.body
            assert 'class="nav-user"' not in answer.body
        elif answer.kind == "health":
            assert '"unhealthy"' in answer.body
        else:
            pytest.fail(f"{answer.path} needs no database but answered 503")

    # Well inside the outage, everything that needs the database is refused.
    settled = [
        a
        for a in answers
        if began + TIMEOUT_SECONDS + 1 < a.started and a.started + a.seconds < ended
    ]
    assert settled, "no request was made during the outage"
    needs_database = [a for a in settled if a.kind not in ("static", "kept")]
    assert {a.status for a in needs_database} == {503}, {
        (a.path, round(a.started - began, 2), a.body[:200])
        for a in needs_database
        if a.status == 200
    }
    assert {a.status for a in settled if a.kind in ("static", "kept")} == {200}
    assert all("Hello" in a.body for a in settled if a.kind == "kept")

    worst = max(a.seconds for a in answers)
    assert worst < LATENCY_BOUND, f"a request took {worst:.1f} s"

    recovered_at = min(
        (a.started + a.seconds for a in answers if a.started > back and a.status == 200),
        default=None,
    )
    assert recovered_at is not None, "no request succeeded after the database came back"
    last_failure = max((a.started + a.seconds for a in failures), default=back)
    recovery = max(last_failure - back, 0.0)
    assert recovery < RECOVERY_BOUND, f"still failing {recovery:.1f} s after the database returned"

    records = served.log.records
    assert not [r for r in records if r.exc_info], "a traceback was logged"
    assert not [r for r in records if r.levelno >= logging.ERROR], [
        r.getMessage() for r in records if r.levelno >= logging.ERROR
    ]
    warnings = [r for r in records if r.levelno == logging.WARNING]
    assert all("\n" not in r.getMessage() for r in warnings)
    # A request in flight when the server went away may have its answer ready and
    # fail only in the session's rollback afterwards: one line for that too.
    cleanup = [
        r
        for r in warnings
        if re.search("on (session cleanup|returning a connection to the pool)", r.getMessage())
    ]
    assert len(cleanup) <= 2 * CLIENT_THREADS
    warnings = [r for r in warnings if r not in cleanup]
    assert len(warnings) == len(failures), [r.getMessage() for r in warnings][:10]
    assert all(
        re.search(r"database unavailable on GET |health check: the database", r.getMessage())
        for r in warnings
    ), {r.getMessage() for r in warnings}

    print(
        f"\n{len(answers)} requests, outage {ended - began:.1f} s: "
        f"{sum(a.status == 500 for a in answers)} x 500, {len(failures)} x 503, "
        f"worst latency {worst:.2f} s, recovered {recovery:.2f} s after the database returned"
    )


@pytest.mark.slow
def test_a_stopped_database_gives_503s_and_service_resumes_after_restart(
    served: Served, mariadb: PrivateMariaDB
) -> None:
    answers, began, ended, back = run_outage(served, mariadb.stop, mariadb.start)

    assert_outage_handled(served, answers, began, ended, back)


@pytest.mark.slow
def test_a_frozen_database_gives_bounded_503s_and_service_resumes_after_sigcont(
    served: Served, mariadb: PrivateMariaDB
) -> None:
    answers, began, ended, back = run_outage(served, mariadb.pause, mariadb.resume)

    assert_outage_handled(served, answers, began, ended, back)


@pytest.mark.slow
def test_a_database_killed_mid_request_never_lets_teardown_fail_the_response(
    served: Served, mariadb: PrivateMariaDB
) -> None:
    """The view's transaction is open when the server dies; closing it must not escape."""

    def kill_mid_request() -> str:
        db.session.execute(sql("SELECT COUNT(*) FROM users"))
        mariadb.kill()
        return "done"

    served.app.add_url_rule("/test/kill-mid-request", view_func=kill_mid_request)

    reply = requests.get(f"{served.base}/test/kill-mid-request", timeout=30)

    assert reply.status_code == 200
    assert reply.text == "done"
    records = served.log.records
    assert not [r for r in records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in records
    ]
    mariadb.start()
    assert requests.get(f"{served.base}/api/posts/1", timeout=30).status_code == 200


@pytest.mark.slow
def test_a_refused_password_is_a_503_naming_the_fix_and_does_not_trip_the_gate(
    mariadb: PrivateMariaDB, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Error 1045 is a deployment mistake, not a bug: one line saying what to do, no traceback.

    The server answered at once, so the gate stays open: each request meets the
    real error, and the fix takes effect on the very next request.
    """
    monkeypatch.setenv("TEST_DATABASE_URL", mariadb.url.replace("root@", "nobody:wrong@"))
    app = create_app("testing")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    logging.getLogger("app").addHandler(caplog.handler)
    try:
        client = app.test_client()
        replies = [client.get("/api/users/1") for _ in range(3)]
    finally:
        logging.getLogger("app").removeHandler(caplog.handler)
        with app.app_context():
            db.engine.dispose()

    assert [reply.status_code for reply in replies] == [503, 503, 503]
    assert all(reply.headers.get("Retry-After") for reply in replies)
    lines = [r.getMessage() for r in caplog.records if r.name == "app"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    refusals = [line for line in lines if "refused the app's account" in line]
    assert len(refusals) == 3, lines
    assert all("Access denied" in line and "DATABASE_URL" in line for line in refusals)


def test_a_missing_schema_answers_503_with_the_command_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An empty SQLite file, as after forgetting ``flask db upgrade``."""
    monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app("testing")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    logging.getLogger("app").addHandler(caplog.handler)
    try:
        client = app.test_client()
        page = client.get("/posts/1")
        api = client.get("/api/users/1")
    finally:
        logging.getLogger("app").removeHandler(caplog.handler)
        with app.app_context():
            db.engine.dispose()

    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert MESSAGES[503] in page.get_data(as_text=True)
    assert api.status_code == 503
    assert api.get_json()["status"] == 503
    assert page.headers["Retry-After"] == api.headers["Retry-After"]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, r.levelno) for r in warnings] == [("app", logging.WARNING)] * 2
    assert not [r for r in warnings if r.exc_info]
    for record in warnings:
        assert "no such table" in record.getMessage()
        assert 'run "flask db upgrade"' in record.getMessage()


# --- what counts as the database's fault ----------------------------------------------------


def _wrapped(driver_error: Exception) -> StatementError:
    """``driver_error`` as SQLAlchemy raises it."""
    driver = sqlite3.Error if isinstance(driver_error, sqlite3.Error) else pymysql.err.Error
    return DBAPIError.instance("SELECT 1", {}, driver_error, driver)


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (pymysql.err.OperationalError(2003, "Can't connect to MySQL server"), "unavailable"),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), "unavailable"),
        (pymysql.err.OperationalError(2013, "Lost connection (timed out)"), "unavailable"),
        (pymysql.err.OperationalError(1040, "Too many connections"), "unavailable"),
        (pymysql.err.ProgrammingError(1146, "Table 'x.users' doesn't exist"), "schema"),
        (pymysql.err.OperationalError(1054, "Unknown column 'x' in 'field list'"), "schema"),
        (sqlite3.OperationalError("database is locked"), "unavailable"),
        (sqlite3.OperationalError("no such column: users.x"), "schema"),
        (pymysql.err.ProgrammingError(1064, "You have an error in your SQL syntax"), None),
        (pymysql.err.IntegrityError(1062, "Duplicate entry 'alice'"), None),
        (sqlite3.IntegrityError("UNIQUE constraint failed: users.username"), None),
        (ValueError("not a database error"), None),
    ],
)
def test_only_outages_and_a_missing_schema_count_as_database_faults(
    error: Exception, kind: str | None
) -> None:
    for candidate in (error, _wrapped(error)):
        fault = classify(candidate)
        assert (fault.kind if fault else None) == kind
        if fault:
            assert "\n" not in fault.cause
            assert str(error.args[-1]) in fault.cause


def test_an_exhausted_pool_is_an_outage() -> None:
    fault = classify(PoolTimeoutError("QueuePool limit of size 5 overflow 10 reached"))

    assert fault is not None
    assert fault.kind == "unavailable"


def test_any_other_database_error_stays_a_500_with_its_traceback(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/api/test/bad-sql")
    def bad_sql() -> str:
        db.session.execute(sql("SELEC 1"))
        return "unreachable"

    logging.getLogger("app").addHandler(caplog.handler)
    try:
        response = app.test_client().get("/api/test/bad-sql")
    finally:
        logging.getLogger("app").removeHandler(caplog.handler)

    assert response.status_code == 500
    assert "Retry-After" not in response.headers
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["stopped", "frozen"])
def test_readiness_is_503_within_bounds_while_the_database_is_out_and_200_once_it_is_back(
    served: Served, mariadb: PrivateMariaDB, tmp_path: Path, fault: str
) -> None:
    served.app.config["DRAIN_FILE"] = str(tmp_path / "drain")

    def ready() -> tuple[requests.Response, float]:
        started = time.monotonic()
        reply = requests.get(f"{served.base}/api/ready", timeout=30)
        return reply, time.monotonic() - started

    reply, _ = ready()
    assert reply.status_code == 200
    assert reply.json() == {"status": "ready", "database": "ok", "redis": "not used"}

    mariadb.stop() if fault == "stopped" else mariadb.pause()
    answers = [ready() for _ in range(8)]
    for reply, seconds in answers:
        assert reply.status_code == 503
        assert reply.json() == {
            "status": "unavailable",
            "database": "unavailable",
            "redis": "not used",
        }
        assert reply.headers["Retry-After"] == str(RETRY_INTERVAL)
        assert reply.headers["Cache-Control"] == "no-store"
        assert seconds < LATENCY_BOUND, f"a check took {seconds:.2f} s"

    mariadb.start() if fault == "stopped" else mariadb.resume()
    back = time.monotonic()
    while ready()[0].status_code != 200:
        assert time.monotonic() - back < RECOVERY_BOUND, "still not ready"
        time.sleep(0.2)
    slowest = max(seconds for _, seconds in answers)
    print(
        f"\nreadiness while the database was {fault}: slowest {slowest:.2f} s; "
        f"ready {time.monotonic() - back:.2f} s after it returned"
    )


# Round trips and the connection check without a ping (app/lean_connections.py).


@pytest.fixture
def lean_app(mariadb: PrivateMariaDB, monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app on the private server, with one post (id 1), served in process."""
    monkeypatch.setenv("TEST_DATABASE_URL", mariadb.url)
    app = create_app("testing")
    with app.app_context():
        db.drop_all()
        db.create_all()
        db.session.add(Post(title="Hello", body="Text", author=make_user("alice")))
        db.session.commit()
        db.session.remove()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def commands_sent(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every command PyMySQL sends to a server (each one is a round trip), as text."""
    sent: list[str] = []
    original = pymysql.connections.Connection._execute_command

    def recording(connection: Any, command: int, statement: str | bytes) -> Any:
        text = statement.decode() if isinstance(statement, bytes) else statement
        sent.append(text if command == pymysql.constants.COMMAND.COM_QUERY else f"#{command}")
        return original(connection, command, statement)

    monkeypatch.setattr(pymysql.connections.Connection, "_execute_command", recording)
    return sent


@pytest.mark.slow
def test_a_health_check_costs_one_round_trip_and_a_page_a_query_and_a_rollback(
    lean_app: Flask, commands_sent: list[str]
) -> None:
    client = lean_app.test_client()
    assert client.get("/api/health").status_code == 200  # connects
    assert client.get(POST_PAGE).status_code == 200
    commands_sent.clear()
    for _ in range(3):
        assert client.get("/api/health").status_code == 200
    assert commands_sent == ["DO 1"] * 3
    commands_sent.clear()
    assert client.get(POST_PAGE).status_code == 200
    assert len(commands_sent) == 2
    assert commands_sent[0].startswith("SELECT")
    assert commands_sent[1] == "ROLLBACK"


@pytest.mark.slow
def test_a_logged_in_request_reads_its_user_in_autocommit_and_rolls_nothing_back(
    lean_app: Flask, commands_sent: list[str]
) -> None:
    """The revocation check is one lone SELECT: no transaction is left for a ROLLBACK."""
    client = lean_app.test_client()
    site = SiteSession(client)
    assert site.login("alice").status_code == 302
    assert client.get("/api/health").status_code == 200  # both pools connected
    assert "Log out" in client.get("/").get_data(as_text=True)
    commands_sent.clear()
    assert "Log out" in client.get("/").get_data(as_text=True)
    assert len(commands_sent) == 1, commands_sent
    assert commands_sent[0].startswith("SELECT users.")
    # The post page's own query still runs in the request's transaction.
    commands_sent.clear()
    assert client.get(POST_PAGE).status_code == 200
    assert [c.split(" ", 1)[0] for c in commands_sent] == ["SELECT", "SELECT", "ROLLBACK"]


@pytest.mark.slow
def test_a_revoked_session_is_refused_at_once_through_the_autocommit_read(
    lean_app: Flask, mariadb: PrivateMariaDB
) -> None:
    """Revoked from elsewhere (another process, a console): the next request is anonymous."""
    client = lean_app.test_client()
    assert SiteSession(client).login("alice").status_code == 302
    assert "Log out" in client.get("/").get_data(as_text=True)
    with pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root") as other:
        other.cursor().execute(
            f"UPDATE {mariadb.database}.users SET session_token = 'revoked'"
            " WHERE username = 'alice'"
        )
        other.commit()
    assert "Log out" not in client.get("/").get_data(as_text=True)


@pytest.mark.slow
def test_a_read_is_still_rolled_back_so_the_next_request_sees_new_rows(
    lean_app: Flask, mariadb: PrivateMariaDB
) -> None:
    """A read opens a snapshot (REPEATABLE READ); a pooled connection must not keep it."""
    client = lean_app.test_client()
    assert client.get(POST_PAGE).status_code == 200
    assert client.get("/posts/2").status_code == 404
    with pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root") as other:
        other.cursor().execute(
            f"INSERT INTO {mariadb.database}.posts (title, body, user_id, created_at, updated_at)"
            " VALUES ('Second', 'Text', 1, NOW(), NOW())"
        )
        other.commit()
    assert client.get("/posts/2").status_code == 200


@pytest.mark.slow
def test_a_connection_the_server_closed_while_idle_is_replaced_before_use(
    lean_app: Flask, mariadb: PrivateMariaDB, caplog: pytest.LogCaptureFixture
) -> None:
    """As after wait_timeout: the server closed the pooled connection; no request fails."""
    client = lean_app.test_client()
    assert client.get(POST_PAGE).status_code == 200
    with pymysql.connect(host="127.0.0.1", port=mariadb.port, user="root") as admin:
        cursor = admin.cursor()
        cursor.execute("SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID()")
        for (thread_id,) in cursor.fetchall():
            cursor.execute(f"KILL {thread_id}")
    time.sleep(0.2)
    with caplog.at_level(logging.WARNING, logger="app"):
        assert client.get("/api/health").status_code == 200
        assert client.get(POST_PAGE).status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


@pytest.mark.slow
def test_after_a_restart_the_first_request_on_each_pooled_connection_succeeds(
    lean_app: Flask, mariadb: PrivateMariaDB
) -> None:
    clients = [lean_app.test_client() for _ in range(3)]
    # Three connections in the pool at once: a request each, held open together.
    with lean_app.app_context():
        held = [db.engine.connect() for _ in range(3)]
        for connection in held:
            connection.execute(sql("SELECT 1"))
        for connection in held:
            connection.close()
    mariadb.stop()
    mariadb.start()
    for client in clients:
        assert client.get("/api/health").status_code == 200
        assert client.get(POST_PAGE).status_code == 200
