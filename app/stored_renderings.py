"""``flask posts render``: store the rendering of posts that lack one, or of every post.

A post's HTML and excerpt are stored when its body is written (``Post.body``,
``app/post_rendering.py``). Two kinds of rows lack them: posts written before
the columns existed, and posts that a node still running the older code wrote
during a deploy. Both are shown all the same, rendered on each read until this
command stores their rendering. After a change to what rendering produces (the
sanitiser's allowlist, a Markdown option), ``--all`` renders every post again.

Rows are read and written in batches by id, each batch in a transaction of its
own that locks its rows (``SELECT ... FOR UPDATE`` on MariaDB), so an author
saving an edit meanwhile waits for the batch rather than having their new
rendering replaced by one of the old text. ``updated_at`` is left as it was:
re-rendering is no edit. The stored rows change behind the ORM, so afterwards
the epoch is replaced (``app/cache_scopes.py``) and no kept page shows the old
rendering.
"""

from __future__ import annotations

import click
from flask import Flask
from sqlalchemy import Table, bindparam, or_, select, update

from . import cache_scopes, post_rendering
from .extensions import db
from .models import Post

BATCH = 200

_posts = Post.__table__
assert isinstance(_posts, Table)
_store = (
    update(_posts)
    .where(_posts.c.id == bindparam("post_id"))
    # Named as itself, so the column's onupdate (the edit time) does not apply.
    .values(
        body_html=bindparam("new_html"),
        excerpt=bindparam("new_excerpt"),
        updated_at=_posts.c.updated_at,
    )
)


def render_stored(every_post: bool = False) -> int:
    """Store the rendering of each post without one (of every post if ``every_post``).

    Returns how many posts were rendered. Replaces the cache's epoch if any was.
    """
    rendered = 0
    after = 0
    while True:
        query = select(_posts.c.id, _posts.c.body).where(_posts.c.id > after)
        if not every_post:
            query = query.where(or_(_posts.c.body_html.is_(None), _posts.c.excerpt.is_(None)))
        query = query.order_by(_posts.c.id).limit(BATCH).with_for_update()
        connection = db.session.connection()
        rows = connection.execute(query).all()
        if not rows:
            db.session.commit()
            break
        values = []
        for post_id, body in rows:
            result = post_rendering.render(body)
            values.append(
                {"post_id": post_id, "new_html": result.html, "new_excerpt": result.excerpt}
            )
        connection.execute(_store, values)
        db.session.commit()
        rendered += len(rows)
        after = rows[-1].id
    if rendered:
        cache_scopes.bump([cache_scopes.EPOCH])
    return rendered


def init_app(app: Flask) -> None:
    app.cli.add_command(posts_group)


@click.group("posts")
def posts_group() -> None:
    """Posts' stored renderings."""


@posts_group.command("render")
@click.option(
    "--all",
    "every_post",
    is_flag=True,
    help="Render every post, not only those without a stored rendering "
    "(after a change to the Markdown options or the sanitiser).",
)
def render_command(every_post: bool) -> None:
    """Store the HTML and excerpt of the posts that have none (run after `flask db upgrade`)."""
    count = render_stored(every_post)
    click.echo(f"{count} posts rendered.")
