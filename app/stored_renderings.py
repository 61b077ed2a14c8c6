"""``flask posts render``: store the rendering of posts and bios that lack one, or of all.

A post's HTML and excerpt are stored when its body is written (``Post.body``,
``app/post_rendering.py``), and a bio's HTML when the bio is (``User.bio``,
``app/bio_rendering.py``). Two kinds of rows lack them: posts written before
the columns existed, and rows that a node still running older code, or plain
SQL, wrote. Both are shown all the same, rendered on each read until this
command stores their rendering. After a change to what rendering produces
(the sanitiser's allowlist, a Markdown option), ``--all`` renders every post
and every bio again: bios follow the posts' rules, so one command covers both.

Rows are read and written in batches by id, each batch in a transaction of its
own that locks its rows (``SELECT ... FOR UPDATE`` on MariaDB), so an author
saving an edit meanwhile waits for the batch rather than having their new
rendering replaced by one of the old text. A post's ``updated_at`` is left as
it was: re-rendering is no edit. The stored rows change behind the ORM, so
afterwards the epoch is replaced (``app/cache_scopes.py``) and no kept page
shows the old rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import click
from flask import Flask
from sqlalchemy import FromClause, Table, Update, bindparam, or_, select, update

from . import bio_rendering, cache_scopes, post_rendering
from .extensions import db
from .models import Post, User

BATCH = 200

_posts = Post.__table__
_users = User.__table__
assert isinstance(_posts, Table)
assert isinstance(_users, Table)
_store_post = (
    update(_posts)
    .where(_posts.c.id == bindparam("row_id"))
    # Named as itself, so the column's onupdate (the edit time) does not apply.
    .values(
        body_html=bindparam("new_html"),
        excerpt=bindparam("new_excerpt"),
        updated_at=_posts.c.updated_at,
    )
)
_store_bio = (
    update(_users).where(_users.c.id == bindparam("row_id")).values(bio_html=bindparam("new_html"))
)


class Rendered(NamedTuple):
    """How many rows ``render_stored`` rendered, of each kind."""

    posts: int
    bios: int


def _post_rendering(body: str) -> dict[str, str]:
    result = post_rendering.render(body)
    return {"new_html": result.html, "new_excerpt": result.excerpt}


def _bio_rendering(bio: str) -> dict[str, str]:
    return {"new_html": bio_rendering.render(bio)}


def render_stored(every_row: bool = False) -> Rendered:
    """Store the rendering of each post and bio without one (of every one if ``every_row``).

    Returns how many were rendered. Replaces the cache's epoch if any was.
    """
    rendered = Rendered(
        posts=_render_in_batches(
            _posts, "body", ["body_html", "excerpt"], _store_post, _post_rendering, every_row
        ),
        bios=_render_in_batches(_users, "bio", ["bio_html"], _store_bio, _bio_rendering, every_row),
    )
    if any(rendered):
        cache_scopes.bump([cache_scopes.EPOCH])
    return rendered


def _render_in_batches(
    table: FromClause,
    markdown: str,
    stored: list[str],
    store: Update,
    render: Callable[[str], dict[str, str]],
    every_row: bool,
) -> int:
    """Render the rows of ``table`` that have Markdown in column ``markdown`` and lack any of
    the ``stored`` columns (every row with Markdown if ``every_row``), ``BATCH`` at a time.

    Returns how many rows were rendered.
    """
    source = table.c[markdown]
    rendered = 0
    after = 0
    while True:
        query = select(table.c.id, source).where(table.c.id > after, source.is_not(None))
        if not every_row:
            query = query.where(or_(*(table.c[name].is_(None) for name in stored)))
        query = query.order_by(table.c.id).limit(BATCH).with_for_update()
        connection = db.session.connection()
        rows = connection.execute(query).all()
        if not rows:
            db.session.commit()
            return rendered
        connection.execute(store, [{"row_id": row_id, **render(text)} for row_id, text in rows])
        db.session.commit()
        rendered += len(rows)
        after = rows[-1].id


def init_app(app: Flask) -> None:
    app.cli.add_command(posts_group)


@click.group("posts")
def posts_group() -> None:
    """Posts' (and bios') stored renderings."""


@posts_group.command("render")
@click.option(
    "--all",
    "every_row",
    is_flag=True,
    help="Render every post and bio, not only those without a stored rendering "
    "(after a change to the Markdown options or the sanitiser).",
)
def render_command(every_row: bool) -> None:
    """Store the HTML of the posts and bios that have none (run after `flask db upgrade`)."""
    rendered = render_stored(every_row)
    click.echo(f"{rendered.posts} posts rendered.")
    click.echo(f"{rendered.bios} bios rendered.")
