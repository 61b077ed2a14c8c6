"""Whole responses for visitors who are not logged in: cached, and revalidated by ETag.

Everyone without a session sees the same home page, profile, post or API list,
so the finished response (its bytes and content type) is kept and served again
without a query or a template. What may be kept is decided twice:

- before the view, the request must be anonymous: GET or HEAD, no logged-in
  session, no flash message waiting, no remember-me cookie, no Authorization
  header, and only the query arguments the page understands;
- after it, the response must be a 200 that ``security_headers.is_private``
  finds public: no cookie set, no CSRF token rendered, no logged-in session.

A response is kept under its URL alone, with the generations
(``app/cache_scopes.py``) of the scopes it shows: the list of all posts for the
home page, one user for a profile, one post for its page. One cache read (one
MGET on Redis) fetches the kept response and the current generations together,
and it is served only if they are the ones it was rendered under; otherwise
the view answers, and its response replaces the kept one. The generations are
read before the view loads anything, so the first read after a committed write
to a scope misses, and a page rendered while a write landed is kept under the
old generations, which no request matches again. Every response kept here also
carries a weak ETag (weak: Apache may compress it), and a request whose
If-None-Match holds it gets 304 without a body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, current_app, g, request, request_finished, session
from flask.wrappers import Response

from . import cache_scopes
from .extensions import cache
from .security_headers import LOGGED_IN_SESSION_KEY, is_private
from .validation import USERNAME_MAX, normalize_username

# Bump when CachedResponse changes shape, or when a deploy changes what kept
# pages show without a write to their scopes (posts shown as Markdown: 3;
# Last-Modified kept with feeds, and numbered pagination: 4; profiles' display
# name and bio, and the time of a post's edit: 5; the header's search form: 6).
CACHE_FORMAT = 6
ViewArgs = Mapping[str, Any]


@dataclass(frozen=True)
class Cacheable:
    """What one cacheable endpoint's kept response depends on."""

    # The query arguments it understands. Another argument (a tracking tag, a
    # typo) makes the request uncacheable rather than a new key, so nobody can
    # fill the cache with variants of one page.
    arguments: frozenset[str]
    # The scopes it shows, from the URL's arguments; None when none can hold it.
    scopes: Callable[[ViewArgs], list[str] | None]


def _profile_scopes(view_args: ViewArgs) -> list[str] | None:
    key = normalize_username(str(view_args["username"]))
    # Longer than any name: a 404, and no generation made for a made-up name.
    return [cache_scopes.username_scope(key)] if len(key) <= USERNAME_MAX else None


_PAGING = frozenset({"page", "per_page"})
# Searches (site.search, and q on api.list_posts) are never kept: every query
# would be a key of its own (app/search.py).
CACHEABLE: dict[str, Cacheable] = {
    "site.index": Cacheable(frozenset({"page"}), lambda _: [cache_scopes.POSTS]),
    # Nothing from the database: only the epoch.
    "site.about": Cacheable(frozenset(), lambda _: []),
    "site.user_profile": Cacheable(frozenset({"page"}), _profile_scopes),
    "site.post_detail": Cacheable(
        frozenset(), lambda args: [cache_scopes.post_scope(args["post_id"])]
    ),
    # Kept under what their pages show: all posts, or the profile of the name in the URL.
    "feeds.site_feed": Cacheable(frozenset(), lambda _: [cache_scopes.POSTS]),
    "feeds.user_feed": Cacheable(frozenset(), _profile_scopes),
    # Each under what its addresses and dates come from (app/sitemaps.py).
    "sitemaps.index": Cacheable(frozenset(), lambda _: [cache_scopes.POSTS, cache_scopes.USERS]),
    "sitemaps.pages": Cacheable(frozenset(), lambda _: [cache_scopes.POSTS]),
    "sitemaps.users": Cacheable(frozenset(), lambda _: [cache_scopes.USERS]),
    "sitemaps.posts": Cacheable(frozenset(), lambda _: [cache_scopes.POSTS]),
    "api.list_posts": Cacheable(_PAGING, lambda _: [cache_scopes.POSTS]),
    "api.get_post": Cacheable(frozenset(), lambda args: [cache_scopes.post_scope(args["post_id"])]),
    "api.list_users": Cacheable(_PAGING, lambda _: [cache_scopes.USERS]),
    "api.get_user": Cacheable(frozenset(), lambda args: [cache_scopes.user_scope(args["user_id"])]),
    "api.list_user_posts": Cacheable(
        _PAGING, lambda args: [cache_scopes.user_scope(args["user_id"])]
    ),
}
# Browsers and proxies may keep these pages, but must ask again each time
# (a 304 when nothing changed), and never hand one to a logged-in visitor.
PUBLIC_CACHE_CONTROL = "no-cache"
_FLASHES_SESSION_KEY = "_flashes"


@dataclass(frozen=True)
class CachedResponse:
    """A finished response and the generations of the scopes it was rendered under."""

    body: bytes
    content_type: str
    etag: str
    generations: cache_scopes.Generations
    # Served again as Last-Modified, for the views that date what they show (feeds).
    last_modified: datetime | None = None


@dataclass(frozen=True)
class PageKey:
    """Where this request's response is kept, and the scopes it shows."""

    key: str
    scopes: list[str]


def init_app(app: Flask) -> None:
    """Serve kept responses before the view runs; keep new ones once they are final."""
    app.before_request(serve_from_cache)
    request_finished.connect(_keep_and_tag, app)


def page_key() -> PageKey | None:
    """This request's key and scopes, or None when its answer may differ from an anonymous one."""
    if request.method not in ("GET", "HEAD"):
        return None
    cacheable = CACHEABLE.get(request.endpoint or "")
    if cacheable is None or not cacheable.arguments.issuperset(request.args):
        return None
    if "Authorization" in request.headers:
        return None
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        return None
    if LOGGED_IN_SESSION_KEY in session or _FLASHES_SESSION_KEY in session:
        return None
    scopes = cacheable.scopes(request.view_args or {})
    if scopes is None:
        return None
    arguments = "&".join(f"{name}={request.args[name]}" for name in sorted(request.args))
    key = f"page:v{CACHE_FORMAT}:{request.script_root}{request.path}?{arguments}"
    return PageKey(key, scopes)


def serve_from_cache() -> Response | None:
    """The kept response for this request, or None to let the view answer."""
    where = page_key()
    if where is None:
        return None
    kept, generations = cache_scopes.read_with(where.key, where.scopes)
    if not isinstance(kept, CachedResponse) or kept.generations != generations:
        # Kept by _keep_and_tag under the generations read here, before the view.
        g.page_to_keep = (where.key, generations)
        return None
    response = Response(kept.body, content_type=kept.content_type)
    response.last_modified = kept.last_modified
    _tag(response, kept.etag)
    response.make_conditional(request)
    return response


def answer_conditionally(response: Response) -> Response:
    """Tag ``response`` with its body's ETag, and answer 304 to a request that holds it.

    For views whose every response may be revalidated, whoever asks (feeds).
    The tag is the one the page cache gives; a response it is about to keep
    is answered conditionally once kept (a 304 now would leave no body to keep).
    """
    response.set_etag(etag_of(response.get_data()), weak=True)
    if "page_to_keep" not in g:
        response.make_conditional(request)
    return response


def _keep_and_tag(sender: Flask, response: Response, **_: Any) -> None:
    to_keep = g.pop("page_to_keep", None)
    if to_keep is None or response.status_code != 200 or response.is_streamed:
        return
    if is_private(response):
        return
    key, generations = to_keep
    body = response.get_data()
    kept = CachedResponse(
        body, response.content_type or "", etag_of(body), generations, response.last_modified
    )
    cache.set(key, kept)
    _tag(response, kept.etag)
    response.make_conditional(request)


def _tag(response: Response, etag: str) -> None:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    response.vary.add("Cookie")


def etag_of(body: bytes) -> str:
    """The ETag of a response whose body is ``body``."""
    return hashlib.blake2b(body, digest_size=16).hexdigest()
