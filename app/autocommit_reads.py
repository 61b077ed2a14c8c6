"""A second pool of MariaDB/MySQL connections in autocommit mode, for lone reads.

Every logged-in request reads its user row (the revocation check, see
``login_sessions``). Through the request's own connection that SELECT opens an
InnoDB transaction, and ending it costs a ROLLBACK round trip at teardown:
with the page's one Redis read, three round trips where an anonymous page
needs one. On a connection in autocommit mode a single SELECT is its own
transaction and leaves nothing to end (``lean_connections`` then sends no
ROLLBACK).

A pool of its own, not ``execution_options(isolation_level="AUTOCOMMIT")`` on
the main engine: switching a pooled connection to autocommit and back costs two
``SET AUTOCOMMIT`` round trips per checkout, more than the ROLLBACK it saves.
Only single-statement reads belong here; anything that writes, or reads twice
and needs both answers to agree, stays in the request's transaction.

SQLite has no round trips to save: there, and for other drivers, reads use the
main engine.
"""

from __future__ import annotations

from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

EXTENSION_KEY = "autocommit_reads"


def speaks_pymysql(engine: Engine) -> bool:
    """Does ``engine`` talk to MariaDB/MySQL through PyMySQL?"""
    return engine.dialect.name in ("mysql", "mariadb") and engine.dialect.driver == "pymysql"


def init_app(app: Flask, db: SQLAlchemy) -> None:
    """Give ``app`` an autocommit engine beside ``db``'s, when it talks to MariaDB/MySQL.

    Call it before the modules that tune engines (``database_faults``,
    ``lean_connections``, ``mysql_tls``): they tune ``every_engine``, this one too.
    """
    with app.app_context():
        main = db.engine
    if not speaks_pymysql(main):
        return
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    # The main engine's URL carries what Flask-SQLAlchemy added (charset=utf8mb4).
    engine = create_engine(main.url, isolation_level="AUTOCOMMIT", **options)
    app.extensions[EXTENSION_KEY] = engine


def every_engine(app: Flask, db: SQLAlchemy) -> list[Engine]:
    """``db``'s engines for ``app``, and its autocommit engine if it has one."""
    with app.app_context():
        engines = list(db.engines.values())
    reads = engine_of(app)
    return engines if reads is None else [*engines, reads]


def engine_of(app: Flask) -> Engine | None:
    """``app``'s autocommit engine, or None where reads use the main engine."""
    return app.extensions.get(EXTENSION_KEY)


def dispose(app: Flask) -> None:
    """Close the autocommit pool's connections (as ``db.engine.dispose()`` does for its own)."""
    engine = engine_of(app)
    if engine is not None:
        engine.dispose()
