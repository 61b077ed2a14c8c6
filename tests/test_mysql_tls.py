"""PyMySQL connections share one preferred-mode TLS context per process (app/mysql_tls.py)."""

from __future__ import annotations

import ssl

import pymysql
import pytest

from app import autocommit_reads, create_app
from app.extensions import db
from app.mysql_tls import SharedContextConnection

# Nothing listens on port 1; defer_connect keeps the connections from trying.
UNREACHABLE = {"host": "127.0.0.1", "port": 1, "user": "nobody", "defer_connect": True}


def test_connections_without_tls_settings_share_one_context_that_verifies_nothing() -> None:
    first = SharedContextConnection(**UNREACHABLE)
    second = SharedContextConnection(**UNREACHABLE)

    # PyMySQL's preferred mode, as before: TLS tried, not required.
    assert first.ssl
    assert not first._ssl_required
    assert first.ctx is second.ctx
    assert first.ctx.verify_mode == ssl.CERT_NONE
    assert first.ctx.check_hostname is False


def test_the_shared_context_has_pymysqls_settings_without_the_ca_bundle() -> None:
    shared = SharedContextConnection(**UNREACHABLE).ctx
    own = pymysql.connections.Connection(**UNREACHABLE).ctx

    for setting in (
        "protocol",
        "verify_mode",
        "check_hostname",
        "verify_flags",
        "options",
        "minimum_version",
        "maximum_version",
    ):
        assert getattr(shared, setting) == getattr(own, setting), setting
    assert [c["name"] for c in shared.get_ciphers()] == [c["name"] for c in own.get_ciphers()]
    assert shared.cert_store_stats()["x509_ca"] == 0


def test_connections_with_tls_settings_still_get_their_own_context() -> None:
    first = SharedContextConnection(**UNREACHABLE, ssl_verify_cert=True)
    second = SharedContextConnection(**UNREACHABLE, ssl_verify_cert=True)

    assert first._ssl_required
    assert first.ctx is not second.ctx
    assert first.ctx is not SharedContextConnection(**UNREACHABLE).ctx
    assert first.ctx.verify_mode == ssl.CERT_REQUIRED


def test_an_app_on_mariadb_opens_shared_context_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_DATABASE_URL", "mysql+pymysql://nobody@127.0.0.1:1/none")
    app = create_app("testing")
    with app.app_context():
        connection = db.engine.dialect.connect(**UNREACHABLE)
    reads = autocommit_reads.engine_of(app)

    assert isinstance(connection, SharedContextConnection)
    assert reads is not None
    assert isinstance(reads.dialect.connect(**UNREACHABLE), SharedContextConnection)
