"""PyMySQL connections share one TLS context per process, without a CA bundle it never reads.

Given no TLS settings, PyMySQL tries TLS on every connection ("preferred"
mode): it upgrades when the server offers TLS and goes on in plain text when
it does not. For that it builds an ``ssl.SSLContext`` per connection with
``ssl.create_default_context()``, which loads the system's whole CA bundle
(about 850 KiB, and the OpenSSL code that parses it), and keeps it for the
connection's life. A server process holding a connection per thread carried
that many identical CA stores, the largest part of what it grew by under load.

That context then has verification turned off (no CA was named), so the
bundle is never read again. Here every such connection of a process gets one
context with PyMySQL's settings and no bundle; an ``SSLContext`` may be used
by several threads at once. Connections with TLS settings of their own
(``ssl_ca`` and the rest in the database URL) still build their own context,
verifying as PyMySQL always did.
"""

from __future__ import annotations

import ssl
from functools import cache
from typing import Any

import pymysql
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Engine

from . import autocommit_reads


@cache
def preferred_context() -> ssl.SSLContext:
    """The context of PyMySQL's preferred mode: TLS if the server offers it, nothing verified."""
    # PyMySQL's own (Connection._create_ssl_ctx({})), less the CA bundle that
    # create_default_context loads for a verification it then turns off.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.verify_flags &= ~ssl.VERIFY_X509_STRICT
    context.options |= ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3
    return context


class SharedContextConnection(pymysql.connections.Connection):
    """A PyMySQL connection whose preferred-mode TLS context is the process's shared one."""

    def _create_ssl_ctx(self, sslp: Any) -> ssl.SSLContext:
        # PyMySQL passes an empty dict exactly when no TLS setting was given.
        if isinstance(sslp, dict) and not sslp:
            return preferred_context()
        return super()._create_ssl_ctx(sslp)


def install(engine: Engine) -> None:
    """Make ``engine`` (MariaDB/MySQL through PyMySQL) open ``SharedContextConnection``s."""

    def connect(*cargs: Any, **cparams: Any) -> SharedContextConnection:
        return SharedContextConnection(*cargs, **cparams)

    # The engine's dialect is its own instance: this changes no other engine.
    # The dialect's own connect is PyMySQL's connect(), which is Connection itself.
    engine.dialect.connect = connect  # type: ignore[method-assign]


def init_app(app: Flask, db: SQLAlchemy) -> None:
    """Install on every engine of ``app`` that talks to MariaDB/MySQL through PyMySQL."""
    for engine in autocommit_reads.every_engine(app, db):
        if autocommit_reads.speaks_pymysql(engine):
            install(engine)
