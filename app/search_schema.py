"""The full-text index over posts' titles and text, which the models' metadata cannot hold.

- SQLite: ``posts_search``, an FTS5 table over ``posts`` with external content
  (it holds the index only; the text stays in ``posts``), kept in step by
  three triggers on ``posts``. The ``unicode61`` tokenizer folds case and
  diacritics, and keeps ``_`` inside words, as MariaDB does.
- MariaDB: a FULLTEXT index on ``posts (title, body)``, which InnoDB keeps itself.

SQLAlchemy cannot declare a virtual table or a trigger, and an index declared
on the model would be made on SQLite too. So ``create_with`` makes these with
the posts table when ``create_all`` makes it (as the tests do), and the
migration that added search makes the same objects on a migrated database
(tests/test_migrations.py compares the two). ``is_search_object`` keeps
Alembic's comparison of models and database away from them
(``migrations/env.py``).
"""

from __future__ import annotations

from sqlalchemy import DDL, FromClause, event

FTS_TABLE = "posts_search"
FULLTEXT_INDEX = "ix_posts_title_body_fulltext"
MARIADB_DIALECTS = ("mysql", "mariadb")

SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE posts_search USING fts5(title, body, content='posts', "
    "content_rowid='id', tokenize=\"unicode61 remove_diacritics 2 tokenchars '_'\")",
    "CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_search (rowid, title, body) VALUES (new.id, new.title, new.body); END",
    # An external-content index forgets a row by being told the text it indexed.
    "CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_search (posts_search, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    # Only when the text changes, not when another column of the row does.
    "CREATE TRIGGER posts_search_update AFTER UPDATE OF title, body ON posts BEGIN "
    "INSERT INTO posts_search (posts_search, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO posts_search (rowid, title, body) VALUES (new.id, new.title, new.body); END",
)
# The triggers go with the posts table; the FTS5 table would stay behind.
SQLITE_DROP = ("DROP TABLE IF EXISTS posts_search",)
MARIADB_CREATE = (f"CREATE FULLTEXT INDEX {FULLTEXT_INDEX} ON posts (title, body)",)


def create_with(posts: FromClause) -> None:
    """Make (and drop) the index whenever SQLAlchemy creates (or drops) ``posts``."""
    for statement in SQLITE_CREATE:
        event.listen(posts, "after_create", DDL(statement).execute_if(dialect="sqlite"))
    for statement in MARIADB_CREATE:
        for dialect in MARIADB_DIALECTS:
            event.listen(posts, "after_create", DDL(statement).execute_if(dialect=dialect))
    for statement in SQLITE_DROP:
        event.listen(posts, "after_drop", DDL(statement).execute_if(dialect="sqlite"))


def is_search_object(name: str | None, type_: str) -> bool:
    """Is this table or index, found in a database, part of the full-text index?

    The FTS5 table's own storage is tables named after it (``posts_search_data``...).
    """
    if name is None:
        return False
    if type_ == "table":
        return name == FTS_TABLE or name.startswith(f"{FTS_TABLE}_")
    return type_ == "index" and name == FULLTEXT_INDEX
