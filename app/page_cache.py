"""Whole responses for visitors who are not logged in: cached, and revalidated by ETag.

Everyone without a session sees the same home page, profile, post or API list,
so the finished response (its bytes and content type) is kept and served again
without a query or a template. What may be kept is decided twice:

- before the view, the request must be anonymous: GET or HEAD, no logged-in
  session, no flash message waiting, no remember-me cookie, no Authorization
  header, and only the query arguments the page understands;
- after it, the response must be a 200 that ``security_headers.is_private``
  finds public: no cookie set, no CSRF token rendered, no logged-in session.

Keys carry the listings' generation, read before the view loads anything, so
the first read after any committed write misses, and a page rendered while a
write landed is stored under the old generation, where nobody reads it again.
Every response kept here also carries a weak ETag (weak: Apache may compress
it), and a request whose If-None-Match holds it gets 304 without a body.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, g, request, request_finished, session
from flask.wrappers import Response

from . import listings
from .extensions import cache
from .security_headers import LOGGED_IN_SESSION_KEY, is_private

# Bump when CachedResponse changes shape.
CACHE_FORMAT = 1
# The cacheable endpoints and the query arguments each understands. Another
# argument (a tracking tag, a typo) makes the request uncacheable rather than
# a new key, so nobody can fill the cache with variants of one page.
CACHEABLE: dict[str, frozenset[str]] = {
    "site.index": frozenset({"page"}),
    "site.about": frozenset(),
    "site.user_profile": frozenset({"page"}),
    "site.post_detail": frozenset(),
    "api.list_posts": frozenset({"page", "per_page"}),
    "api.get_post": frozenset(),
    "api.list_users": frozenset({"page", "per_page"}),
    "api.get_user": frozenset(),
    "api.list_user_posts": frozenset({"page", "per_page"}),
}
# Browsers and proxies may keep these pages, but must ask again each time
# (a 304 when nothing changed), and never hand one to a logged-in visitor.
PUBLIC_CACHE_CONTROL = "no-cache"
_FLASHES_SESSION_KEY = "_flashes"


@dataclass(frozen=True)
class CachedResponse:
    body: bytes
    content_type: str
    etag: str


def init_app(app: Flask) -> None:
    """Serve kept responses before the view runs; keep new ones once they are final."""
    app.before_request(serve_from_cache)
    request_finished.connect(_keep_and_tag, app)


def cache_key() -> str | None:
    """This request's key, or None when its answer may differ from an anonymous one."""
    if request.method not in ("GET", "HEAD"):
        return None
    understood = CACHEABLE.get(request.endpoint or "")
    if understood is None or not understood.issuperset(request.args):
        return None
    if "Authorization" in request.headers:
        return None
    if current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies:
        return None
    if LOGGED_IN_SESSION_KEY in session or _FLASHES_SESSION_KEY in session:
        return None
    arguments = "&".join(f"{name}={request.args[name]}" for name in sorted(request.args))
    return (
        f"page:v{CACHE_FORMAT}:{listings.generation()}:"
        f"{request.script_root}{request.path}?{arguments}"
    )


def serve_from_cache() -> Response | None:
    """The kept response for this request, or None to let the view answer."""
    key = cache_key()
    if key is None:
        return None
    kept: CachedResponse | None = cache.get(key)
    if kept is None:
        g.page_cache_key = key
        return None
    response = Response(kept.body, content_type=kept.content_type)
    _tag(response, kept.etag)
    response.make_conditional(request)
    return response


def _keep_and_tag(sender: Flask, response: Response, **_: Any) -> None:
    key = g.pop("page_cache_key", None)
    if key is None or response.status_code != 200 or response.is_streamed:
        return
    if is_private(response):
        return
    body = response.get_data()
    kept = CachedResponse(body, response.content_type or "", _etag_of(body))
    cache.set(key, kept)
    _tag(response, kept.etag)
    response.make_conditional(request)


def _tag(response: Response, etag: str) -> None:
    response.set_etag(etag, weak=True)
    response.headers["Cache-Control"] = PUBLIC_CACHE_CONTROL
    response.vary.add("Cookie")


def _etag_of(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()
