"""The site's lists of posts as finished HTML, kept in the cache for every visitor.

A whole page can be kept only for anonymous visitors (``app/page_cache.py``):
a logged-in visitor's page carries their name and a CSRF token. The list of
posts in it does not: it is the same HTML for everyone, so it is kept here,
under the same scope generations as the list it shows (``app/cache_scopes.py``),
and a logged-in visitor's page renders only its frame around it. A hit costs
one cache read and neither the list's data nor its template.

What is kept holds no personal data: post titles, excerpts, author names and
links, the same for every visitor. Anything that depends on who is looking
(the empty state's "write your first post") stays in the page's template.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import abort, get_template_attribute, request
from markupsafe import Markup

from . import cache_scopes, listings
from .extensions import cache
from .page import Page

# Bump when RenderedList or the list's markup changes shape: entries of the old
# shape are then never read back after a deploy (Markdown excerpts: 2;
# numbered pagination: 3).
CACHE_FORMAT = 3
_TEMPLATE = "_post_list_section.html"


@dataclass(frozen=True)
class RenderedList:
    """One page of a list of posts, rendered: the list and its pagination links."""

    html: Markup
    """Empty when the list has no posts (the page shows its own empty state)."""
    total: int
    """How many posts the whole list has, on every page."""


@dataclass(frozen=True)
class _Kept:
    generations: cache_scopes.Generations
    html: str
    total: int
    out_of_range: bool


def latest_posts(page: int, per_page: int) -> RenderedList:
    """The home page's list: every post, newest first; 404 past the last page."""
    return _rendered(
        cache_scopes.POSTS,
        f"posts:{page}:{per_page}",
        lambda: listings.latest_posts(page, per_page),
        lambda posts: _render(posts, show_author=True, endpoint="site.index"),
    )


def posts_by(user_id: int, username: str, page: int, per_page: int) -> RenderedList:
    """A profile's list: one user's posts, newest first; 404 past the last page."""
    return _rendered(
        cache_scopes.user_scope(user_id),
        f"posts-by:{user_id}:{page}:{per_page}",
        lambda: listings.posts_by(user_id, page, per_page),
        # A rename replaces the epoch, so links kept with the old name are never served.
        lambda posts: _render(
            posts, show_author=False, endpoint="site.user_profile", username=username
        ),
    )


def _rendered(
    scope: str,
    name: str,
    load: Callable[[], Page[listings.PostView]],
    render: Callable[[Page[listings.PostView]], str],
) -> RenderedList:
    # The links are built for this mount point: a site served under a path
    # prefix keeps its own copies.
    key = f"rendered-lists:v{CACHE_FORMAT}:{request.script_root}:{name}"
    # Generations read before anything is loaded: a list rendered while a write
    # landed is kept under the old ones and never served after it.
    kept, generations = cache_scopes.read_with(key, [scope])
    if not (isinstance(kept, _Kept) and kept.generations == generations):
        posts = load()
        html = render(posts) if posts.items else ""
        kept = _Kept(generations, html, posts.total, posts.out_of_range)
        cache.set(key, kept)
    if kept.out_of_range:
        abort(404)
    return RenderedList(Markup(kept.html), kept.total)


def _render(posts: Page[listings.PostView], **arguments: Any) -> str:
    section = get_template_attribute(_TEMPLATE, "render_post_list_section")
    return str(section(posts, **arguments))
