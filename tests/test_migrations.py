"""``flask db``: the committed migrations build exactly the models' schema, and remove it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect

from tests.cli_helpers import flask_command
from tests.helpers import drop_every_table

# Each test runs the real ``flask`` command in subprocesses.
pytestmark = [pytest.mark.db, pytest.mark.slow]


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite in a temporary folder, or TEST_DATABASE_URL emptied."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'migrations.db'}"
    drop_every_table(url)
    yield url
    drop_every_table(url)


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_the_schema_check_finds_no_difference_downgrade_removes_it(
    empty_database: str,
) -> None:
    upgrade = flask_command("db", "upgrade", database_url=empty_database)
    assert upgrade.returncode == 0, upgrade.stderr
    assert {"users", "posts", "api_tokens", "alembic_version"} <= _tables(empty_database)

    check = flask_command("db", "check", database_url=empty_database)
    assert check.returncode == 0, check.stderr + check.stdout
    assert "No new upgrade operations detected" in check.stdout + check.stderr

    downgrade = flask_command("db", "downgrade", "base", database_url=empty_database)
    assert downgrade.returncode == 0, downgrade.stderr
    assert _tables(empty_database) <= {"alembic_version"}


def test_check_fails_on_a_database_that_was_never_migrated(empty_database: str) -> None:
    check = flask_command("db", "check", database_url=empty_database)
    assert check.returncode != 0


def test_commands_print_no_deprecation_warnings(empty_database: str) -> None:
    upgrade = flask_command("db", "upgrade", database_url=empty_database)
    assert upgrade.returncode == 0
    assert "Warning" not in upgrade.stderr
