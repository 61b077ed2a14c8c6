"""``flask db``: the committed migrations build exactly the models' schema, and remove it."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, make_url, text

from app import create_app
from app.extensions import db
from app.migration_lock import lock_name
from app.search import SearchOrder, search_posts
from tests.cli_helpers import PROJECT, flask_command, start_flask_command
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


# Several nodes deploying at once: runs started together, and rounds of them.
RUNNERS = 3
ROUNDS = 3
# The newest committed revision, as Alembic reads it from migrations/.
HEAD = ScriptDirectory(str(PROJECT / "migrations")).get_current_head()


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


def test_every_migration_keeps_the_rows_already_there(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows written under the first revision survive every later one, children included.

    SQLite changes a column by copying its table and dropping the old one; with
    foreign keys on, dropping ``users`` would delete every post and token.
    """
    first = ScriptDirectory(str(PROJECT / "migrations")).get_base()
    assert flask_command("db", "upgrade", first, database_url=empty_database).returncode == 0
    engine = create_engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, username_key, email, password_hash, "
                    "session_token, created_at) VALUES (1, 'Ada', 'ada', 'ada@example.com', "
                    "'hash', 'session', '2026-01-01 00:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO posts (title, body, user_id, created_at, updated_at) VALUES "
                    "('Kept', 'Body', 1, '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO api_tokens (token_hash, user_id, created_at, expires_at) "
                    "VALUES ('digest', 1, '2026-01-01 00:00:00', '2027-01-01 00:00:00')"
                )
            )

        upgrade = flask_command("db", "upgrade", database_url=empty_database)

        assert upgrade.returncode == 0, upgrade.stderr
        with engine.connect() as connection:
            counts = [
                connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar()
                for table in ("users", "posts", "api_tokens")
            ]
        assert counts == [1, 1, 1]
        with engine.connect() as connection:
            # Counted from the posts already there (app/post_counts.py).
            assert connection.execute(text("SELECT post_count FROM users")).scalar() == 1
            # No profile yet: nothing for `flask posts render` to do.
            profile = connection.execute(text("SELECT display_name, bio, bio_html FROM users"))
            assert tuple(profile.one()) == (None, None, None)
        # Indexed for search.
        assert _titles_found(empty_database, "kept body", monkeypatch) == ["Kept"]
    finally:
        engine.dispose()


# The revision that adds posts' stored rendering (body_html, excerpt).
RENDERING_REVISION = "37df9a644ce3"


def test_posts_from_before_rendering_get_it_from_flask_posts_render(empty_database: str) -> None:
    """The revision leaves existing posts without HTML; the command the deploy guide runs next
    stores it, and leaves their edit time as it was."""
    scripts = ScriptDirectory(str(PROJECT / "migrations"))
    before = scripts.get_revision(RENDERING_REVISION).down_revision
    assert isinstance(before, str)
    upgrade = flask_command("db", "upgrade", before, database_url=empty_database)
    assert upgrade.returncode == 0, upgrade.stderr
    engine = create_engine(empty_database)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO users (id, username, username_key, email, password_hash, "
                    "session_token, token_generation, created_at, post_count) VALUES (1, 'Ada', "
                    "'ada', 'ada@example.com', 'hash', 'session', 'generation', "
                    "'2026-01-01 00:00:00', 1)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO posts (title, body, user_id, created_at, updated_at) VALUES "
                    "('Old', '# Old *post*', 1, '2026-01-01 00:00:00', '2026-01-02 00:00:00')"
                )
            )
        assert flask_command("db", "upgrade", database_url=empty_database).returncode == 0
        query = text("SELECT body_html, excerpt, updated_at FROM posts")
        with engine.connect() as connection:
            assert tuple(connection.execute(query).one())[:2] == (None, None)

        rendered = flask_command("posts", "render", database_url=empty_database)

        assert rendered.returncode == 0, rendered.stderr
        assert "1 posts rendered." in rendered.stdout
        with engine.connect() as connection:
            html, excerpt, updated_at = connection.execute(query).one()
        assert (html, excerpt) == ("<h2>Old <em>post</em></h2>\n", "Old post.")
        assert str(updated_at).startswith("2026-01-02 00:00:00")
    finally:
        engine.dispose()


def _titles_found(url: str, query: str, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the app's search finds in the database at ``url``."""
    monkeypatch.setenv("TEST_DATABASE_URL", url)
    app = create_app("testing")
    with app.app_context():
        try:
            return [post.title for post in search_posts(query, 1, 20, SearchOrder.NEWEST).items]
        finally:
            db.session.remove()
            db.engine.dispose()


def _search_objects(url: str) -> list[tuple[object, ...]]:
    """The full-text index's objects in the database at ``url``, as the database describes them.

    SQLite: the FTS5 table, the tables it keeps its index in and the triggers
    (all named posts_search...). MariaDB: every index of posts, column by column.
    """
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                query = (
                    "SELECT type, name, tbl_name, sql FROM sqlite_master "
                    "WHERE name LIKE 'posts_search%' ORDER BY name"
                )
            else:
                query = (
                    "SELECT index_name, index_type, non_unique, seq_in_index, column_name "
                    "FROM information_schema.statistics WHERE table_schema = DATABASE() "
                    "AND table_name = 'posts' ORDER BY index_name, seq_in_index"
                )
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def test_the_migrations_make_the_full_text_index_the_models_make(empty_database: str) -> None:
    """The revision that added search wrote the index out; the models make it with the table.

    The tests build their tables with ``create_all``: what they search must be
    what a migrated site searches. A later revision that rebuilds the posts
    table (SQLite's batch mode copies it) would drop the triggers: this fails then.
    """
    upgrade = flask_command("db", "upgrade", database_url=empty_database)
    assert upgrade.returncode == 0, upgrade.stderr
    migrated = _search_objects(empty_database)

    drop_every_table(empty_database)
    engine = create_engine(empty_database)
    try:
        db.metadata.create_all(engine)
    finally:
        engine.dispose()

    kinds = {row[0] for row in migrated} | {row[1] for row in migrated}
    assert {"trigger", "FULLTEXT"} & kinds, migrated
    assert _search_objects(empty_database) == migrated


def test_check_fails_on_a_database_that_was_never_migrated(empty_database: str) -> None:
    check = flask_command("db", "check", database_url=empty_database)
    assert check.returncode != 0


def test_commands_print_no_deprecation_warnings(empty_database: str) -> None:
    upgrade = flask_command("db", "upgrade", database_url=empty_database)
    assert upgrade.returncode == 0
    assert "Warning" not in upgrade.stderr


def _versions(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    finally:
        engine.dispose()


def test_upgrades_started_together_on_an_empty_database_all_succeed(
    empty_database: str, tmp_path: Path
) -> None:
    # Without the migration lock, each round failed here with "Table 'users' already
    # exists" (MariaDB) or "table users already exists" (SQLite) in all but one runner.
    for round_ in range(ROUNDS):
        drop_every_table(empty_database)
        runners = [
            start_flask_command("db", "upgrade", database_url=empty_database, cache_dir=tmp_path)
            for _ in range(RUNNERS)
        ]
        outcomes = [(runner.wait(timeout=120), runner.communicate()[1]) for runner in runners]

        # The error line of each failed runner, not its whole traceback.
        failed = [stderr.strip().splitlines()[-3:] for status, stderr in outcomes if status != 0]
        assert failed == [], f"round {round_ + 1}: {failed}"
        assert _versions(empty_database) == [HEAD]
        check = flask_command("db", "check", database_url=empty_database)
        assert check.returncode == 0, check.stderr + check.stdout
        assert "No new upgrade operations detected" in check.stdout + check.stderr


@contextlib.contextmanager
def _migration_lock_held(url: str) -> Iterator[str]:
    """Hold ``url``'s migration lock as a running ``flask db`` command would; yield its name."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(parsed.database), isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield "SQLite"
        finally:
            connection.close()
        return
    engine = create_engine(url)
    name = lock_name(str(parsed.database))
    try:
        with engine.connect() as connection:
            got = connection.execute(text("SELECT GET_LOCK(:name, 0)"), {"name": name}).scalar()
            assert got == 1
            yield name
    finally:
        engine.dispose()


def test_an_upgrade_waits_for_the_lock_then_gives_up_with_one_line_naming_it(
    empty_database: str, tmp_path: Path
) -> None:
    with _migration_lock_held(empty_database) as name:
        started = time.monotonic()
        upgrade = flask_command(
            "db", "upgrade", database_url=empty_database, MIGRATION_LOCK_TIMEOUT="2"
        )
        waited = time.monotonic() - started

    assert upgrade.returncode == 1
    assert name in upgrade.stderr
    assert "MIGRATION_LOCK_TIMEOUT" in upgrade.stderr
    assert "Traceback" not in upgrade.stderr
    assert 2 <= waited < 30
    assert _tables(empty_database) <= {"alembic_version"}

    again = flask_command("db", "upgrade", database_url=empty_database)
    assert again.returncode == 0, again.stderr
    assert _versions(empty_database) == [HEAD]


def test_the_web_app_never_imports_the_migration_tools(empty_database: str) -> None:
    """Only ``flask db`` needs Flask-Migrate, Alembic and Mako: a server's processes skip them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.update(FLASK_CONFIG="testing", TEST_DATABASE_URL=empty_database)
    probe = (
        "import sys, wsgi; "
        "print(sorted(m for m in ('flask_migrate', 'alembic', 'mako') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    # The flask command still has them: its db group runs (the tests above run it all).
    assert flask_command("db", "current", database_url=empty_database).returncode == 0
