"""Full-text search over posts' titles and text

Revision ID: 05f3bf03bbb2
Revises: d688e2b43b8f
Create Date: 2026-12-03 17:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '05f3bf03bbb2'
down_revision = 'd688e2b43b8f'
branch_labels = None
depends_on = None

# The same objects app/search_schema.py makes with the posts table; written out
# here so that this revision keeps making them whatever that module becomes.
SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE posts_search USING fts5(title, body, content='posts', "
    "content_rowid='id', tokenize=\"unicode61 remove_diacritics 2 tokenchars '_'\")",
    "CREATE TRIGGER posts_search_insert AFTER INSERT ON posts BEGIN "
    "INSERT INTO posts_search (rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER posts_search_delete AFTER DELETE ON posts BEGIN "
    "INSERT INTO posts_search (posts_search, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); END",
    "CREATE TRIGGER posts_search_update AFTER UPDATE OF title, body ON posts BEGIN "
    "INSERT INTO posts_search (posts_search, rowid, title, body) "
    "VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO posts_search (rowid, title, body) VALUES (new.id, new.title, new.body); END",
    # Index the posts already there.
    "INSERT INTO posts_search (posts_search) VALUES ('rebuild')",
)
# IF EXISTS: a later revision's downgrade that copied the posts table (SQLite's
# batch mode) has dropped the triggers with the old table already.
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS posts_search_update",
    "DROP TRIGGER IF EXISTS posts_search_delete",
    "DROP TRIGGER IF EXISTS posts_search_insert",
    "DROP TABLE posts_search",
)
FULLTEXT_INDEX = 'ix_posts_title_body_fulltext'


def upgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for statement in SQLITE_CREATE:
            op.execute(statement)
    elif dialect in ('mysql', 'mariadb'):
        # InnoDB indexes the posts already there while it builds the index.
        op.create_index(FULLTEXT_INDEX, 'posts', ['title', 'body'], mysql_prefix='FULLTEXT')
    else:
        # config.py accepts only SQLite and MySQL/MariaDB; say so rather than
        # leave a database without the index search needs.
        raise RuntimeError(
            f'full-text search needs SQLite or MySQL/MariaDB, not {dialect}: '
            'this app supports only those databases'
        )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for statement in SQLITE_DROP:
            op.execute(statement)
    elif dialect in ('mysql', 'mariadb'):
        op.drop_index(FULLTEXT_INDEX, table_name='posts')
