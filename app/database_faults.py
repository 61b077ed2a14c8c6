"""Database outages and a schema behind the code: a 503 and one log line, never a 500 or a hang.

The pieces:

- ``classify`` tells a known outage (server refused, gone away, hung, pool exhausted) or a
  missing table or column from any other error. Only those become 503; anything else stays a
  500 with its traceback.
- ``ConnectGate``, a per-process circuit breaker: after a connection attempt fails or a
  server stops answering, new connections are refused at once for a short interval instead
  of every request waiting out the timeouts; one request at a time then probes, and the first
  success reopens the gate, so service resumes on its own.
- ``ResilientSQLAlchemy``, whose end-of-request session cleanup cannot raise: a rollback on a
  dead connection would otherwise escape after the response is built, and the WSGI server
  (Apache) would send its own bare 500 page.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import pymysql
from flask import Flask, current_app, g
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, ExceptionContext
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError, StatementError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.log import InstanceLogger

from . import autocommit_reads
from .sqlite_types import is_sqlite

logger = logging.getLogger("app.database")

# MySQL/MariaDB error numbers that mean "the server cannot be used right now".
OUTAGE_CODES = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1205,  # lock wait timeout: the server is overloaded, not the request wrong
        1927,  # connection killed (MariaDB)
        2002,  # cannot connect through the socket
        2003,  # cannot connect (refused, timed out)
        2005,  # unknown server host
        2006,  # server has gone away
        2013,  # lost connection during query (includes read timeouts)
        2014,  # commands out of sync after a broken read
        2055,  # lost connection at a system error
        4031,  # disconnected by the server for inactivity (MySQL)
    }
)
# The schema does not match the code: the database, a table or a column is missing.
SCHEMA_CODES = frozenset({1049, 1146, 1054})
# The server refuses this account: a deployment mistake, not a bug in the code.
ACCESS_CODES = frozenset({1044, 1045, 1698})
# What an operator does about each fault, where the error number says more than its kind.
ADVICE_BY_CODE = {
    1049: "create the database (CREATE DATABASE name CHARACTER SET utf8mb4; deploy guide, "
    "step 6a), then run flask db upgrade",
    1044: "grant the user the database: GRANT ALL PRIVILEGES ON name.* TO 'user'@'host' "
    "(deploy guide, step 6a)",
    1045: "check the user and password in DATABASE_URL, or create the user (deploy guide, step 6a)",
    1698: "create the app's own user with a password and grant it the database (deploy "
    "guide, step 6a); Debian's MariaDB root logs in through the Unix socket only",
    1040: "the server is at max_connections: raise it or lower processes x threads",
    2003: "start MariaDB (systemctl start mariadb) or fix the host and port in DATABASE_URL",
    2005: "fix the host name in DATABASE_URL",
}
ADVICE_BY_KIND = {
    "unavailable": "check that MariaDB runs and answers (systemctl status mariadb, its log)",
    "schema": 'run "flask db upgrade" (create the database first if it is missing)',
    "access": "check the user, password and grants in DATABASE_URL (deploy guide, step 6a)",
}
SQLITE_OUTAGE = ("unable to open database file", "database is locked", "disk i/o error")
SQLITE_SCHEMA = ("no such table", "no such column", "has no column named")
MAX_CAUSE_LENGTH = 300


class DatabaseUnavailable(SQLAlchemyError):
    """A connection was not attempted: the last attempt failed moments ago."""


@dataclass(frozen=True)
class DatabaseFault:
    """An error that means the database, not the request, is at fault."""

    kind: Literal["unavailable", "schema", "access"]
    cause: str
    code: int | None = None

    @property
    def advice(self) -> str:
        """What to do about it, in a few words."""
        return ADVICE_BY_CODE.get(self.code or 0) or ADVICE_BY_KIND[self.kind]

    def log_line(self, where: str) -> str:
        """The one line an operator reads in the log."""
        if self.kind == "schema":
            return (
                f"database schema missing or behind the code on {where}: {self.cause}; "
                f"{self.advice}"
            )
        if self.kind == "access":
            return f"database refused the app's account on {where}: {self.cause}; {self.advice}"
        return f"database unavailable on {where}: {self.cause}"

    def command_line(self) -> str:
        """The one line a ``flask`` command prints instead of a traceback."""
        return f"Error: the database failed: {self.cause}. To fix it: {self.advice}."


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAUSE_LENGTH else text[: MAX_CAUSE_LENGTH - 3] + "..."


def classify(error: BaseException) -> DatabaseFault | None:
    """What ``error`` says about the database, or None if it is not a known database fault."""
    if isinstance(error, DatabaseUnavailable):
        return DatabaseFault("unavailable", _one_line(str(error)))
    if isinstance(error, PoolTimeoutError):
        return DatabaseFault("unavailable", "every pooled connection is busy (pool timeout)")
    driver_error = _driver_error(error)
    if isinstance(driver_error, pymysql.err.MySQLError):
        code = driver_error.args[0] if driver_error.args else None
        cause = _one_line(f"({code}) {driver_error.args[1] if len(driver_error.args) > 1 else ''}")
        if code in OUTAGE_CODES:
            return DatabaseFault("unavailable", cause, code)
        if code in SCHEMA_CODES:
            return DatabaseFault("schema", cause, code)
        if code in ACCESS_CODES:
            return DatabaseFault("access", cause, code)
    elif is_sqlite(driver_error, "OperationalError"):
        message = str(driver_error).lower()
        if message.startswith(SQLITE_OUTAGE):
            return DatabaseFault("unavailable", _one_line(f"SQLite: {driver_error}"))
        if message.startswith(SQLITE_SCHEMA):
            return DatabaseFault("schema", _one_line(f"SQLite: {driver_error}"))
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        # SQLAlchemy's dialect recognised a lost connection for a driver not listed above.
        return DatabaseFault("unavailable", _one_line(str(driver_error)))
    return None


def _driver_error(error: BaseException) -> BaseException:
    """The driver's own exception that SQLAlchemy wrapped, or ``error`` itself."""
    if isinstance(error, StatementError) and error.orig is not None:
        return error.orig
    return error


def _timed_out(error: BaseException) -> bool:
    driver_error = _driver_error(error)
    return isinstance(driver_error, pymysql.err.OperationalError) and "timed out" in str(
        driver_error
    )


class ConnectGate:
    """Per-process circuit breaker in front of new database connections.

    Healthy: every connection attempt goes through. After a failed attempt, or a query
    that timed out on a server that stopped answering, attempts are refused with
    ``DatabaseUnavailable`` for ``interval`` seconds; then a single attempt is let
    through at a time until one succeeds.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._retry_at: float | None = None
        self._probing = False
        self._cause = ""

    def connect(self, dialect: Dialect, record: Any, cargs: Any, cparams: Any) -> Any:
        """The engine's ``do_connect`` hook: connect, unless a recent attempt failed."""
        with self._lock:
            if self._retry_at is not None:
                wait = self._retry_at - time.monotonic()
                if wait > 0:
                    raise DatabaseUnavailable(
                        f"not connecting for {wait:.1f} s more after: {self._cause}"
                    )
                if self._probing:
                    raise DatabaseUnavailable(
                        f"another request is trying to reconnect after: {self._cause}"
                    )
                self._probing = True
        try:
            connection = dialect.connect(*cargs, **cparams)
        except Exception as error:
            fault = classify(error)
            if fault is not None and fault.kind == "unavailable":
                self.trip(fault.cause)
            else:
                # Not an outage (a refused password, a bug): the server answered at
                # once, so every request may as well meet the real error.
                with self._lock:
                    self._probing = False
            raise
        except BaseException:
            # Interrupted (a shutting-down process): never leave the probe taken.
            with self._lock:
                self._probing = False
            raise
        with self._lock:
            self._retry_at = None
            self._probing = False
        return connection

    def trip(self, cause: str) -> None:
        """Refuse new connections for ``interval`` seconds."""
        with self._lock:
            self._retry_at = time.monotonic() + self.interval
            self._probing = False
            self._cause = cause

    def refuse_pooled(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        """The pool's ``checkout`` hook: while refusing, hand out no pooled connection either.

        A server that stopped answering holds the next query of every pooled
        connection for the read timeout; only the pool whose query timed out
        drops its connections. With two pools (``autocommit_reads``) the other
        one's would each wait again. ``DisconnectionError`` makes the pool drop
        this connection and connect anew, which ``connect`` refuses at once.
        """
        with self._lock:
            refusing = self._retry_at is not None and self._retry_at > time.monotonic()
            cause = self._cause
        if refusing:
            raise DisconnectionError(f"not using a pooled connection after: {cause}")

    def on_error(self, context: ExceptionContext) -> None:
        """The engine's ``handle_error`` hook: a server that stopped answering trips the gate.

        A plain disconnect does not: a pooled connection the server closed for idleness
        fails its ping too, and the reconnect that follows must be allowed.
        """
        if _timed_out(context.original_exception):
            fault = classify(context.original_exception)
            self.trip(fault.cause if fault else "the server stopped answering")


class QuietPoolFaults(logging.Filter):
    """Turns the pool's traceback for a dead connection into one warning line.

    When a connection dies under a request, the pool's rollback on its return fails;
    the pool discards the connection and carries on, but logs the failure at ERROR
    with a traceback. For a known outage that is noise: keep a one-line warning.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        fault = classify(error) if error is not None else None
        if fault is not None:
            record.msg = "%s (the pool discarded the connection)"
            record.args = (fault.log_line("returning a connection to the pool"),)
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


def guard_engine(engine: Engine, gate: ConnectGate) -> ConnectGate:
    """Put ``gate`` in front of ``engine``'s connections; quiet its pool.

    Engines on the same server share a gate: a fault seen through either then
    refuses the connections of both.
    """
    event.listen(engine, "do_connect", gate.connect)
    event.listen(engine, "handle_error", gate.on_error)
    event.listen(engine, "checkout", gate.refuse_pooled)
    # The pool logs through a logger named after its class (or a wrapper around it
    # when echo_pool is on); every engine with that pool class shares it.
    pool_logger = engine.pool.logger
    if isinstance(pool_logger, InstanceLogger):
        pool_logger = pool_logger.logger
    if not any(isinstance(f, QuietPoolFaults) for f in pool_logger.filters):
        pool_logger.addFilter(QuietPoolFaults())
    return gate


class ResilientSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose end-of-request cleanup never raises."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        try:
            super()._teardown_session(exc)
        except Exception as error:
            fault = classify(error)
            # The request context is gone by now, so name the request in the line.
            where = f"session cleanup after request {g.get('request_id', '-')}"
            if fault is not None:
                logger.warning("%s", fault.log_line(where))
            else:
                logger.exception("%s failed", where)
            # The failed close left the session registered; drop it, or the next app
            # context that reuses its id would inherit a broken session.
            self.session.registry.clear()


def init_app(app: Flask, db: SQLAlchemy) -> None:
    """Guard every engine of ``app`` that talks to a server with a ``ConnectGate``.

    SQLite opens a local file: it fails at once when it fails, and must work again
    at once when the file is back.
    """
    # One gate per server: a fault seen through one pool (``autocommit_reads``
    # keeps a second one) refuses the connections of both.
    gates: dict[str, ConnectGate] = {}
    for engine in autocommit_reads.every_engine(app, db):
        if engine.dialect.name != "sqlite":
            server = engine.url.render_as_string()
            gate = gates.get(server) or ConnectGate(app.config["DATABASE_RETRY_INTERVAL"])
            gates[server] = guard_engine(engine, gate)


def show_as_anonymous() -> None:
    """Render the rest of this request as for a visitor who is not logged in.

    The layout asks who is logged in; with the database down, loading the user (or
    refreshing an expired attribute of one) would fail again inside the error page.
    Flask-Login keeps the request's user in ``g._login_user``.
    """
    g._login_user = current_app.login_manager.anonymous_user()  # type: ignore[attr-defined]


def retry_after() -> int:
    """Seconds a client should wait before trying again (the Retry-After header)."""
    return max(1, round(current_app.config["DATABASE_RETRY_INTERVAL"]))
