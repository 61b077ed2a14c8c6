"""SQLite objects told apart without importing sqlite3 (app/sqlite_types.py)."""

from __future__ import annotations

import sqlite3

from app.sqlite_types import is_sqlite


def test_sqlite_connections_and_errors_are_recognised() -> None:
    connection = sqlite3.connect(":memory:")
    try:
        assert is_sqlite(connection, "Connection")
        assert is_sqlite(sqlite3.OperationalError("database is locked"), "OperationalError")
        assert is_sqlite(sqlite3.OperationalError("locked"), "Error")
    finally:
        connection.close()


def test_other_objects_are_not_sqlite_ones() -> None:
    assert not is_sqlite(object(), "Connection")
    assert not is_sqlite(OSError("database is locked"), "OperationalError")
    assert not is_sqlite(sqlite3.IntegrityError("duplicate"), "OperationalError")
