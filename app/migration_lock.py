"""One ``flask db`` command at a time per database, however many machines run it.

Every node of a cluster may run ``flask db upgrade`` when it deploys. Without a
lock, two runs on an empty database both read "no revision yet" and both create
the tables; the slower one fails (``Table 'users' already exists``). Here the
migration environment (``migrations/env.py``) holds a lock for the whole
command, and Alembic reads the database's current revision only once it holds
it, so a run that waited sees the other's work and has nothing left to do.

- MariaDB/MySQL: a named lock, ``GET_LOCK()``. It belongs to the connection that
  took it, so it is taken on the connection Alembic migrates through; the server
  frees it when that connection ends, so a killed run never leaves it behind.
- SQLite: ``BEGIN IMMEDIATE`` on that connection. SQLite lets one writer at a
  time in; the whole command then runs in that one transaction (SQLite's DDL is
  transactional), so a run that fails half way also leaves nothing half done.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
import time
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError, SQLAlchemyError

# MariaDB limits a lock name to 64 characters.
MAX_LOCK_NAME = 64
# GET_LOCK is asked for the lock this long at a time, so that waiting never
# runs into the connection's read timeout, however long the wait may be.
WAIT_STEP_SECONDS = 1


class MigrationLockTimeout(RuntimeError):
    """Another migration held the lock for longer than the command may wait.

    A RuntimeError: Flask-Migrate prints its message as one ``Error:`` line and
    exits with status 1.
    """


def lock_name(database: str) -> str:
    """The name of ``database``'s migration lock.

    Named locks are server-wide: the database's name keeps two apps (or two test
    databases) on one server from waiting for each other.
    """
    name = f"flask-db-migrate:{database}"
    if len(name) > MAX_LOCK_NAME:
        name = "flask-db-migrate:" + hashlib.sha256(database.encode()).hexdigest()[:40]
    return name


@contextlib.contextmanager
def migration_lock(
    connection: Connection, timeout: float, logger: logging.Logger
) -> Iterator[None]:
    """Hold the database's migration lock on ``connection`` for the ``with`` block.

    Waits at most ``timeout`` seconds for another command holding it, then raises
    ``MigrationLockTimeout``. Other databases need no lock and get none.
    """
    dialect = connection.dialect.name
    if dialect == "mysql":
        with _named_lock(connection, timeout, logger):
            yield
    elif dialect == "sqlite":
        with _immediate_transaction(connection, timeout):
            yield
    else:
        yield


@contextlib.contextmanager
def _named_lock(connection: Connection, timeout: float, logger: logging.Logger) -> Iterator[None]:
    database = connection.execute(text("SELECT DATABASE()")).scalar_one()
    name = lock_name(str(database))
    deadline = time.monotonic() + timeout
    said_waiting = False
    while True:
        step = max(1, min(WAIT_STEP_SECONDS, round(deadline - time.monotonic())))
        got = connection.execute(
            text("SELECT GET_LOCK(:name, :step)"), {"name": name, "step": step}
        ).scalar()
        if got == 1:
            break
        if got is None:
            raise MigrationLockTimeout(f"the server refused the migration lock {name!r}")
        holder = connection.execute(text("SELECT IS_USED_LOCK(:name)"), {"name": name}).scalar()
        if time.monotonic() >= deadline:
            raise MigrationLockTimeout(
                f"another flask db command (MariaDB connection {holder}) still holds the "
                f"migration lock {name!r} after {timeout:g} s (MIGRATION_LOCK_TIMEOUT); let it "
                "finish and run this command again, or end that connection (KILL "
                f"{holder}) if it hangs"
            )
        if not said_waiting:
            logger.info(
                "Waiting for another flask db command (MariaDB connection %s) to release "
                "the migration lock %r",
                holder,
                name,
            )
            said_waiting = True
    # SQLAlchemy began a transaction for these SELECTs. End it: Alembic opens its
    # own, and a snapshot taken before the lock must not hide the other run's work.
    connection.commit()
    try:
        yield
    finally:
        # After a lost connection the server has freed the lock already; an error
        # here must not hide the one that ended the migration.
        with contextlib.suppress(SQLAlchemyError):
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
            connection.commit()


class ForeignKeysBroken(RuntimeError):
    """A migration left rows that point at rows that do not exist; nothing was committed."""


@contextlib.contextmanager
def _immediate_transaction(connection: Connection, timeout: float) -> Iterator[None]:
    # SQLite waits this long for the write lock (the engine's own busy timeout
    # is meant for a request, not for a migration in another process).
    connection.exec_driver_sql(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    # Alembic changes a SQLite column by copying the table and dropping the old
    # one. With foreign keys on (every app connection turns them on), dropping
    # ``users`` would first delete its rows and, ON DELETE CASCADE, every post
    # and token. SQLite ignores this pragma inside a transaction, so it is set
    # before BEGIN; the check before COMMIT stands in for the constraints.
    connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
    connection.commit()
    try:
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as error:
            connection.rollback()
            if isinstance(error.orig, sqlite3.OperationalError) and "locked" in str(error.orig):
                raise MigrationLockTimeout(
                    f"another process kept the SQLite database "
                    f"{connection.engine.url.database} locked for {timeout:g} s "
                    "(MIGRATION_LOCK_TIMEOUT): a flask db command, or a long write; let it "
                    "finish and run this command again"
                ) from None
            raise
        try:
            yield
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                tables = sorted({str(row[0]) for row in broken})
                raise ForeignKeysBroken(
                    f"the migration left {len(broken)} rows in {', '.join(tables)} pointing "
                    "at rows that do not exist; nothing was changed"
                )
        except BaseException:
            connection.rollback()
            raise
        connection.commit()
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys = ON")
        connection.commit()
