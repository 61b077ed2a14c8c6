"""PyMySQL connections share one TLS context per process instead of building one each.

Given no TLS settings, PyMySQL tries TLS on every connection ("preferred"
mode): it upgrades when the server offers TLS and goes on in plain text when
it does not. For that it builds an ``ssl.SSLContext`` per connection, with the
system's whole CA bundle loaded into it (about 850 KiB), and keeps it for the
connection's life. A server process holding a connection per thread carried
that many identical CA stores, the largest part of what it grew by under load.

That context verifies no certificate (no CA was named, so PyMySQL turns
verification off), and an ``SSLContext`` may be used by several threads at
once: one built by PyMySQL's own code, the first time a connection needs it,
serves every later connection of the process alike. Connections with TLS
settings of their own (``ssl_ca`` and the rest in the database URL) still build
their own context, as PyMySQL always did.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any, ClassVar

import pymysql
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Engine


class SharedContextConnection(pymysql.connections.Connection):
    """A PyMySQL connection whose preferred-mode TLS context is the process's shared one."""

    _preferred_context: ClassVar[ssl.SSLContext | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        # PyMySQL passes an empty dict exactly when no TLS setting was given.
        if not isinstance(sslp, dict) or sslp:
            return super()._create_ssl_ctx(sslp)
        cls = SharedContextConnection
        with cls._lock:
            if cls._preferred_context is None:
                cls._preferred_context = super()._create_ssl_ctx(sslp)
            return cls._preferred_context


def install(engine: Engine) -> None:
    """Make ``engine`` (MariaDB/MySQL through PyMySQL) open ``SharedContextConnection``s."""

    def connect(*cargs: Any, **cparams: Any) -> SharedContextConnection:
        return SharedContextConnection(*cargs, **cparams)

    # The engine's dialect is its own instance: this changes no other engine.
    # The dialect's own connect is PyMySQL's connect(), which is Connection itself.
    engine.dialect.connect = connect  # type: ignore[method-assign]


def init_app(app: Flask, db: SQLAlchemy) -> None:
    """Install on every engine of ``db`` that talks to MariaDB/MySQL through PyMySQL."""
    with app.app_context():
        for engine in db.engines.values():
            if engine.dialect.name in ("mysql", "mariadb") and engine.dialect.driver == "pymysql":
                install(engine)
