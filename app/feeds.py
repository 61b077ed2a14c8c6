"""Atom feeds (RFC 4287) of the latest posts: the whole site's, and each user's.

Every address in a feed is absolute and built from PUBLIC_URL
(``app/public_urls.py``), never from the request's Host: a feed is read by
programs far from the request that fetched it. Without PUBLIC_URL the site
publishes no feeds (404), and its pages do not link to any.

A feed is kept whole like the pages it follows (``app/page_cache.py``: the
site's under the list of all posts, a user's under their profile), carries
its newest ``updated`` as Last-Modified, and is answered with 304 to a reader
that already holds it (ETag or Last-Modified).

Each entry's id is the post's absolute address: stable for as long as the
site keeps its address, which is what a reader already relies on to follow
the links. The feed's ``updated`` is the latest ``updated`` among its entries;
an empty feed has the Unix epoch, so it stays the same (and so does its
ETag) until a first post appears, rather than changing at every request.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, abort, current_app
from flask.wrappers import Response
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from . import page_cache
from .extensions import db
from .models import Post, User
from .public_urls import PublicUrlMissing, PublicUrls
from .validation import normalize_username

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

bp = Blueprint("feeds", __name__)

ATOM_NAMESPACE = "http://www.w3.org/2005/Atom"
ATOM_MIMETYPE = "application/atom+xml"
# How many of the latest posts a feed carries: readers poll for what is new.
FEED_ENTRIES = 20
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
NO_FEEDS = "This site publishes no feeds."
# Characters XML 1.0 cannot hold at all, escaped or not. The text rules keep
# them out of posts written through the site and the API; a row written with
# plain SQL could still hold one, and must not make the whole feed unreadable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def entry_html(post: Post) -> str:
    """The post's text as the HTML of its feed entry: the one place that decides it.

    The post's own rendering (Markdown, sanitised: ``app/post_rendering.py``),
    the same HTML its page shows.
    """
    return post.body_html


@bp.get("/feed.atom")
def site_feed() -> Response:
    """The latest posts of everyone."""
    urls = _public_urls()
    title = current_app.config["SITE_NAME"]
    return _answer(
        _feed(
            urls,
            title=title,
            subtitle=f"The latest posts on {title}",
            self_url=urls("feeds.site_feed"),
            page_url=urls("site.index"),
            posts=_latest_posts(None),
        )
    )


@bp.get("/users/<username>/feed.atom")
def user_feed(username: str) -> Response:
    """The latest posts of one user."""
    urls = _public_urls()
    user = db.first_or_404(
        select(User).where(User.username_key == normalize_username(username)),
        description="There is no user with that name.",
    )
    site_name = current_app.config["SITE_NAME"]
    return _answer(
        _feed(
            urls,
            title=f"{user.username} · {site_name}",
            subtitle=f"The latest posts by {user.username} on {site_name}",
            self_url=urls("feeds.user_feed", username=user.username),
            page_url=urls("site.user_profile", username=user.username),
            posts=_latest_posts(user.id),
        )
    )


def _public_urls() -> PublicUrls:
    try:
        return PublicUrls()
    except PublicUrlMissing:
        abort(404, description=NO_FEEDS)


def _latest_posts(user_id: int | None) -> list[Post]:
    # The same (created_at, id) order and indexes as the lists on the pages.
    query = (
        select(Post)
        .options(joinedload(Post.author))
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(FEED_ENTRIES)
    )
    if user_id is not None:
        query = query.where(Post.user_id == user_id)
    return list(db.session.scalars(query))


def _feed(
    urls: PublicUrls,
    *,
    title: str,
    subtitle: str,
    self_url: str,
    page_url: str,
    posts: list[Post],
) -> tuple[bytes, datetime]:
    """The feed document, and when it was last updated."""
    updated = max((post.updated_at for post in posts), default=EMPTY_FEED_UPDATED)
    tree = _element_tree()
    feed = tree.Element(_atom("feed"))
    _text(feed, "id", self_url)
    _text(feed, "title", title)
    _text(feed, "subtitle", subtitle)
    _text(feed, "updated", _timestamp(updated))
    _link(feed, "self", self_url, ATOM_MIMETYPE)
    _link(feed, "alternate", page_url, "text/html")
    for post in posts:
        post_url = urls("site.post_detail", post_id=post.id)
        entry = tree.SubElement(feed, _atom("entry"))
        _text(entry, "id", post_url)
        _text(entry, "title", post.title)
        _link(entry, "alternate", post_url, "text/html")
        author = tree.SubElement(entry, _atom("author"))
        _text(author, "name", post.author.username)
        _text(author, "uri", urls("site.user_profile", username=post.author.username))
        _text(entry, "published", _timestamp(post.created_at))
        _text(entry, "updated", _timestamp(post.updated_at))
        _text(entry, "content", entry_html(post)).set("type", "html")
    document = tree.tostring(feed, encoding="utf-8", xml_declaration=True)
    return document, updated


def _answer(feed: tuple[bytes, datetime]) -> Response:
    document, updated = feed
    response = Response(document, mimetype=ATOM_MIMETYPE)
    response.last_modified = updated
    return page_cache.answer_conditionally(response)


def _atom(name: str) -> str:
    return f"{{{ATOM_NAMESPACE}}}{name}"


@cache
def _element_tree() -> ModuleType:
    # Imported by a process's first feed, not at its start: most processes never
    # build one, and the XML modules cost each of them about 0.25 MiB.
    from xml.etree import ElementTree

    ElementTree.register_namespace("", ATOM_NAMESPACE)
    return ElementTree


def _text(parent: Element, name: str, value: str) -> Element:
    element = _element_tree().SubElement(parent, _atom(name))
    element.text = _NOT_XML.sub("\ufffd", value)
    return element


def _link(parent: Element, rel: str, href: str, mimetype: str) -> None:
    _element_tree().SubElement(parent, _atom("link"), rel=rel, type=mimetype, href=href)


def _timestamp(moment: datetime) -> str:
    """An RFC 3339 date-time in UTC, as Atom wants it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
