"""The sitemap (sitemaps.org 0.9): every public page, for search engines.

``/sitemap.xml`` is an index of numbered sitemaps, so that no file outgrows
the protocol's 50,000 addresses whatever the number of posts:

- ``/sitemaps/pages.xml``: the home page and the about page;
- ``/sitemaps/users-<n>.xml``: the profiles of the users whose ids fall in
  the n-th block of ``SITEMAP_SIZE`` ids;
- ``/sitemaps/posts-<n>.xml``: the posts whose ids fall in the n-th block.

Blocks of ids, not pages of rows: a block is read as one range of the
primary key, however deep, where OFFSET would step over every row before it,
and a post keeps its sitemap for good. The index lists only blocks that hold
a row (ids of deleted rows leave gaps), so no sitemap it names is empty.

Each file is kept whole like the pages (``app/page_cache.py``), under the
scopes whose writes change it, and answered with 304 to a crawler that holds
it. A miss costs one query, paid once per write to the scope at most,
whatever the number of crawlers. At 100,000 posts on MariaDB, in process: the
index 64 ms (the distinct blocks of both primary keys), a block of 10,000
posts 115-165 ms (half of it the driver reading the rows), a block of
profiles 3 ms, the pages 2 ms; a kept one about 1 ms. Every address is
absolute, from PUBLIC_URL; without it there is no sitemap (404), and
robots.txt names none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from flask import Blueprint, Flask, abort, current_app
from flask.wrappers import Response
from sqlalchemy import func, select

from . import page_cache
from .extensions import db
from .models import Post, User
from .public_urls import PublicUrlMissing, PublicUrls

bp = Blueprint("sitemaps", __name__)

SITEMAP_NAMESPACE = "http://www.sitemaps.org/schemas/sitemap/0.9"
# Addresses per numbered sitemap; the protocol allows 50,000. Fewer keeps a
# miss cheap (one range of 10,000 ids) and a file near a megabyte.
SITEMAP_SIZE = 10_000
NO_SITEMAP = "This site publishes no sitemap."

Entry = tuple[str, datetime | None]
"""One address and when what it shows last changed, if known."""


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/sitemap.xml")
def index() -> Response:
    """The index of every numbered sitemap."""
    urls = _public_urls()
    sitemaps: list[Entry] = [(urls("sitemaps.pages"), None)]
    # Both read the primary key's index alone. No lastmod here: the newest
    # change in a block would read every row (120 ms per 100,000 posts on
    # MariaDB), and a crawler that asks for an unchanged sitemap gets 304.
    for kind, model in (("sitemaps.users", User), ("sitemaps.posts", Post)):
        block = ((model.id - 1) // SITEMAP_SIZE).label("block")
        for number in db.session.scalars(select(block).distinct().order_by(block)):
            sitemaps.append((urls(kind, number=int(number) + 1), None))
    return _answer("sitemapindex", "sitemap", sitemaps)


@bp.get("/sitemaps/pages.xml")
def pages() -> Response:
    """The pages that are neither a profile nor a post.

    The home page changed when the newest of the posts it shows first did
    (written or edited): read from those few rows, through the list's index.
    """
    urls = _public_urls()
    first_page = (
        select(Post.updated_at)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(current_app.config["POSTS_PER_PAGE"])
        .subquery()
    )
    home_changed = db.session.scalar(select(func.max(first_page.c.updated_at)))
    return _answer(
        "urlset", "url", [(urls("site.index"), home_changed), (urls("site.about"), None)]
    )


@bp.get("/sitemaps/users-<id:number>.xml")
def users(number: int) -> Response:
    """The profiles in block ``number``.

    Without lastmod: a profile changes with its newest posts, and finding
    those for thousands of users at once reads every post they wrote. A date
    that is only sometimes right would be worse than none.
    """
    urls = _public_urls()
    first, last = _block(number)
    query = select(User.username).where(User.id.between(first, last)).order_by(User.id)
    entries = [
        (urls("site.user_profile", username=username), None)
        for username in db.session.scalars(query)
    ]
    return _answer("urlset", "url", entries, empty_is_missing=True)


@bp.get("/sitemaps/posts-<id:number>.xml")
def posts(number: int) -> Response:
    """The posts in block ``number``, each with the time it was last written."""
    urls = _public_urls()
    first, last = _block(number)
    query = select(Post.id, Post.updated_at).where(Post.id.between(first, last)).order_by(Post.id)
    entries = [
        (urls("site.post_detail", post_id=post_id), changed)
        for post_id, changed in db.session.execute(query)
    ]
    return _answer("urlset", "url", entries, empty_is_missing=True)


def _public_urls() -> PublicUrls:
    try:
        return PublicUrls()
    except PublicUrlMissing:
        abort(404, description=NO_SITEMAP)


def _block(number: int) -> tuple[int, int]:
    """The first and last id of block ``number`` (counted from 1)."""
    return (number - 1) * SITEMAP_SIZE + 1, number * SITEMAP_SIZE


def _answer(
    root: str, item: str, entries: Iterable[Entry], empty_is_missing: bool = False
) -> Response:
    # Written out directly: ElementTree took 110 ms for a block of 10,000
    # addresses, this takes a tenth of it. Every value is escaped.
    parts = [f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{SITEMAP_NAMESPACE}">']
    for address, changed in entries:
        lastmod = f"<lastmod>{_w3c_datetime(changed)}</lastmod>" if changed else ""
        parts.append(f"<{item}><loc>{escape(address)}</loc>{lastmod}</{item}>")
    if empty_is_missing and len(parts) == 1:
        # A block the index does not name: its rows were all deleted, or never were.
        abort(404)
    parts.append(f"</{root}>\n")
    body = "\n".join(parts).encode()
    return page_cache.answer_conditionally(Response(body, mimetype="application/xml"))


def _w3c_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
