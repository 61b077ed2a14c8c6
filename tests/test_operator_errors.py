"""A sysadmin's mistakes with the database get one line saying what is wrong and what to do.

Each case runs the real ``flask`` command, as the deploy guide does, and reads
what it prints: never a traceback.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pymysql
import pytest

from tests.cli_helpers import flask_command
from tests.helpers import skip_or_fail

# Each case starts the real ``flask`` command in a subprocess.
pytestmark = pytest.mark.slow

MARIADB = "mysql+pymysql://{account}@127.0.0.1/{database}"
# The key is made per run: a key written in the repository is one production must refuse.
PRODUCTION = {"config": "production", "SECRET_KEY": secrets.token_hex(32), "MAIL_ENABLED": "false"}


@pytest.fixture
def mariadb_answers() -> None:
    try:
        pymysql.connect(host="127.0.0.1", user="root", connect_timeout=3).close()
    except pymysql.MySQLError as error:
        skip_or_fail(f"MariaDB on 127.0.0.1:3306 does not answer: {error}")


def assert_one_line(result, *fragments: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_upgrade_into_a_database_that_does_not_exist(mariadb_answers: None) -> None:
    url = MARIADB.format(account="root", database="flaskapp_never_created")

    result = flask_command("db", "upgrade", database_url=url, **PRODUCTION)

    assert_one_line(result, "Unknown database 'flaskapp_never_created'", "CREATE DATABASE")


def test_upgrade_as_a_user_mariadb_refuses(mariadb_answers: None) -> None:
    url = MARIADB.format(account="nobody_here:wrong", database="test")

    result = flask_command("db", "upgrade", database_url=url, **PRODUCTION)

    assert_one_line(result, "Access denied for user 'nobody_here'", "deploy guide, step 6a")


def test_upgrade_with_the_database_server_down() -> None:
    result = flask_command(
        "db", "upgrade", database_url="mysql+pymysql://app:pw@127.0.0.1:1/app", **PRODUCTION
    )

    assert_one_line(result, "Can't connect", "start MariaDB")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql+pymysql://root@127.0.0.1:notaport/test", "is not a database URL"),
        ("not a url at all", "is not a database URL"),
        ("postgresql://app@127.0.0.1/app", "names postgresql, which this app does not support"),
        ("mysql://app@127.0.0.1/app", "write mysql+pymysql://"),
    ],
    ids=["bad-port", "garbage", "postgresql", "driverless-mysql"],
)
def test_an_unusable_database_url_is_named_before_any_command_runs(url: str, fragment: str) -> None:
    """Not Flask's misleading "No such command 'db'", which a failed app load used to give."""
    result = flask_command("db", "upgrade", database_url=url, **PRODUCTION)

    line = assert_one_line(result, "Configuration error: DATABASE_URL", fragment)
    assert "mysql+pymysql://USER:PASSWORD@HOST/DBNAME" in line


def test_seed_before_the_schema_exists(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"

    result = flask_command("seed", database_url=url)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: the database failed: SQLite: no such table: users. "
        'To fix it: run "flask db upgrade" (create the database first if it is missing).'
    )
