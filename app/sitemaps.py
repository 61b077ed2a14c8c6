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
it: a miss costs one query (a range of ids, or the index's grouping of every
id), and is paid once per write to the scope at most, whatever the number of
crawlers. Every address is absolute, from PUBLIC_URL; without it there is no
sitemap (404), and robots.txt names none.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from xml.etree import ElementTree

from flask import Blueprint, Flask, abort
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

ElementTree.register_namespace("", SITEMAP_NAMESPACE)

Entry = tuple[str, datetime | None]
"""One address and when what it shows last changed, if known."""


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/sitemap.xml")
def index() -> Response:
    """The index of every numbered sitemap, each with the time its newest change was made."""
    urls = _public_urls()
    newest = db.session.scalar(select(func.max(Post.updated_at)))
    sitemaps: list[Entry] = [(urls("sitemaps.pages"), newest)]
    user_block = ((User.id - 1) // SITEMAP_SIZE).label("block")
    for (number,) in db.session.execute(select(user_block).distinct().order_by(user_block)):
        sitemaps.append((urls("sitemaps.users", number=int(number) + 1), None))
    post_block = ((Post.id - 1) // SITEMAP_SIZE).label("block")
    post_blocks = (
        select(post_block, func.max(Post.updated_at)).group_by(post_block).order_by(post_block)
    )
    for number, changed in db.session.execute(post_blocks):
        sitemaps.append((urls("sitemaps.posts", number=int(number) + 1), changed))
    return _answer("sitemapindex", "sitemap", sitemaps)


@bp.get("/sitemaps/pages.xml")
def pages() -> Response:
    """The pages that are neither a profile nor a post."""
    urls = _public_urls()
    newest = db.session.scalar(select(func.max(Post.updated_at)))
    return _answer("urlset", "url", [(urls("site.index"), newest), (urls("site.about"), None)])


@bp.get("/sitemaps/users-<id:number>.xml")
def users(number: int) -> Response:
    """The profiles in block ``number``, each changed when its newest post was."""
    urls = _public_urls()
    first, last = _block(number)
    query = (
        select(User.username, User.created_at, func.max(Post.updated_at))
        .outerjoin(Post, Post.user_id == User.id)
        .where(User.id.between(first, last))
        .group_by(User.id, User.username, User.created_at)
        .order_by(User.id)
    )
    entries = [
        (urls("site.user_profile", username=username), changed or created)
        for username, created, changed in db.session.execute(query)
    ]
    return _answer("urlset", "url", entries, empty_is_missing=True)


@bp.get("/sitemaps/posts-<id:number>.xml")
def posts(number: int) -> Response:
    """The posts in block ``number``."""
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
    document = ElementTree.Element(_tag(root))
    for address, changed in entries:
        element = ElementTree.SubElement(document, _tag(item))
        ElementTree.SubElement(element, _tag("loc")).text = address
        if changed is not None:
            ElementTree.SubElement(element, _tag("lastmod")).text = _w3c_datetime(changed)
    if empty_is_missing and not len(document):
        # A block the index does not name: its rows were all deleted, or never were.
        abort(404)
    body = ElementTree.tostring(document, encoding="utf-8", xml_declaration=True)
    return page_cache.answer_conditionally(Response(body, mimetype="application/xml"))


def _tag(name: str) -> str:
    return f"{{{SITEMAP_NAMESPACE}}}{name}"


def _w3c_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
