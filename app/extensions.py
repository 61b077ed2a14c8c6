"""Flask extensions, created unbound here and bound to an app in ``create_app``."""

import hashlib
import ipaddress
from typing import Any

from flask import Flask, request
from flask_caching import Cache
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

from config import running_flask_command

from . import autocommit_reads, database_faults, lean_connections, mysql_tls
from .resilient_limiter import ResilientLimiter
from .sqlite_types import is_sqlite


class Base(DeclarativeBase):
    """Declarative base with named constraints, so migrations can alter them later."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


@event.listens_for(Engine, "connect")
def _sqlite_enforces_foreign_keys(dbapi_connection: Any, connection_record: Any) -> None:
    if is_sqlite(dbapi_connection, "Connection"):
        cursor = dbapi_connection.cursor()
        # SQLite ignores ON DELETE CASCADE unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Readers do not wait for a writer: mod_wsgi runs several processes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()


db = database_faults.ResilientSQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
cache = Cache()


def client_key() -> str:
    """Who counts as one client for rate limits: the client's address.

    That is the peer Apache saw, or behind a load balancer listed in
    TRUSTED_PROXIES the client it names (app/proxies.py); X-Forwarded-For from
    anyone else is ignored. An IPv6 client usually holds a whole /64, so the
    /64 counts as one client.
    """
    address = request.remote_addr or "unknown"
    if ":" in address:
        try:
            return str(ipaddress.ip_network(f"{address}/64", strict=False))
        except ValueError:
            return address
    return address


# Counts in memory while Redis is down, and goes back to Redis when it returns.
limiter = ResilientLimiter(client_key)


def _session_fingerprint() -> str:
    agent = request.headers.get("User-Agent", "")
    return hashlib.sha512(f"{request.remote_addr}|{agent}".encode()).hexdigest()


def init_migrate(app: Flask) -> Any:
    """Flask-Migrate bound to ``app`` (``app.extensions["migrate"]``), bound on first use."""
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate

        Migrate(app, db, render_as_batch=True)
    return app.extensions["migrate"]


def init_app(app: Flask) -> None:
    """Bind every extension to ``app``."""
    db.init_app(app)
    autocommit_reads.init_app(app, db)
    database_faults.init_app(app, db)
    lean_connections.init_app(app, db)
    mysql_tls.init_app(app, db)
    if running_flask_command():
        # Only ``flask db ...`` needs Flask-Migrate (and Alembic and Mako behind
        # it): the web processes never import them.
        init_migrate(app)
    csrf.init_app(app)
    cache.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message_category = "info"
    # A session whose client fingerprint (address and user agent) changes is
    # dropped, remember cookie included.
    login_manager.session_protection = "strong"
    # Flask-Login's own fingerprint trusts X-Forwarded-For, which any client can
    # send: use the address Apache saw, or the one a trusted proxy gave (app/proxies.py).
    login_manager._session_identifier_generator = _session_fingerprint
