"""MariaDB/MySQL connections that spend no round trip they can avoid.

With stock SQLAlchemy, ``SELECT 1`` costs four round trips: the pool's
pre-ping, the query, the session's rollback at the end of the request, and
the pool's rollback when the connection comes back. Here:

- The pre-ping looks at the socket instead of asking the server. A server that
  closed the connection (restart, ``wait_timeout``, ``KILL``) has sent its
  FIN, and often an error packet first: the socket is readable. An idle
  connection the server still holds has nothing to read. Either way the
  answer is known without a packet sent; SQLAlchemy replaces a connection
  found closed, and every older one in the pool, as after a failed ping. A
  server that vanished without closing (a dead host, a frozen server) is
  caught by the first query's read timeout instead, as a ping would be.
- A rollback is sent only when a statement ran since the last commit or
  rollback: the pool's reset after the session's rollback is then free, and
  so is every rollback after ``SELECT 1`` or ``DO 1``, which read no table and
  so open no transaction (MariaDB's ``@@in_transaction`` stays 0).
- On a connection in autocommit mode (``autocommit_reads``) a rollback is sent
  only inside an explicit transaction, as the server reports it: each
  statement is otherwise committed as it runs.

So a health check costs one round trip, and any other request one per query
plus its rollback.
"""

from __future__ import annotations

import select
import socket
import ssl
from typing import Any

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from pymysql.constants import SERVER_STATUS
from sqlalchemy import event
from sqlalchemy.engine import Engine

from . import autocommit_reads

# Set on a driver connection once a commit or rollback has succeeded, cleared
# before any other statement: while set, there is nothing to roll back.
SETTLED = "_app_nothing_to_roll_back"
# Statements that read no table: under autocommit off they open no transaction.
NO_TRANSACTION = frozenset({"select 1", "do 1"})


def _driver_connection(connection: Any) -> Any:
    """The driver's own connection behind a pool's proxy (or the connection itself)."""
    return getattr(connection, "dbapi_connection", None) or connection


def closed_by_server(connection: Any) -> bool | None:
    """Has the server closed this idle connection? None when the socket cannot tell."""
    sock = getattr(_driver_connection(connection), "_sock", None)
    if not isinstance(sock, socket.socket) or isinstance(sock, ssl.SSLSocket):
        return None  # TLS keeps its own buffer: a peek on the raw socket proves nothing
    # poll, not a peeking recv: a socket with a timeout (read_timeout) would
    # wait that long for a byte before saying there is none.
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    # Readable when idle means closed: the server's FIN, or a packet nobody asked
    # for (MariaDB sends an error packet before it closes a connection it kills).
    return bool(poller.poll(0))


def committed_as_it_runs(connection: Any) -> bool:
    """Is this connection in autocommit mode with no explicit transaction open?

    Read from the status the server sent with its last reply: no round trip.
    """
    status = getattr(_driver_connection(connection), "server_status", None)
    if not isinstance(status, int):
        return False
    autocommit = status & SERVER_STATUS.SERVER_STATUS_AUTOCOMMIT
    return bool(autocommit) and not status & SERVER_STATUS.SERVER_STATUS_IN_TRANS


def install(engine: Engine) -> None:
    """Make ``engine`` (MariaDB/MySQL through PyMySQL) ping and roll back only when needed."""
    dialect = engine.dialect
    ping, rollback, commit = dialect.do_ping, dialect.do_rollback, dialect.do_commit

    def do_ping(connection: Any) -> bool:
        closed = closed_by_server(connection)
        return ping(connection) if closed is None else not closed

    def do_rollback(connection: Any) -> None:
        driver = _driver_connection(connection)
        if getattr(driver, SETTLED, False) or committed_as_it_runs(driver):
            return
        rollback(connection)
        setattr(driver, SETTLED, True)

    def do_commit(connection: Any) -> None:
        driver = _driver_connection(connection)
        commit(connection)
        setattr(driver, SETTLED, True)

    def unsettle(cursor: Any, statement: str, *_: Any) -> None:
        # Before the statement runs: one that fails may still have opened a
        # transaction (and taken locks) that the next rollback must end.
        if statement.strip().lower() not in NO_TRANSACTION:
            setattr(cursor.connection, SETTLED, False)

    # The engine's dialect is its own instance: this changes no other engine.
    replaced = {"do_ping": do_ping, "do_rollback": do_rollback, "do_commit": do_commit}
    for name, method in replaced.items():
        setattr(dialect, name, method)
    for hook in ("do_execute", "do_executemany", "do_execute_no_params"):
        event.listen(engine, hook, unsettle)


def init_app(app: Flask, db: SQLAlchemy) -> None:
    """Install on every engine of ``app`` that talks to MariaDB/MySQL through PyMySQL."""
    for engine in autocommit_reads.every_engine(app, db):
        if autocommit_reads.speaks_pymysql(engine):
            install(engine)
