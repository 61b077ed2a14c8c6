"""Security headers on every response: the Content Security Policy and its companions.

This module is the one definition. The app sends these headers itself, so it is
safe under any WSGI server; ``flask apache-config`` renders the same values into
the vhost for what Apache serves on its own (static files, its error pages).

HSTS is not here: only the server that terminates TLS knows the site is HTTPS
everywhere, and a wrong HSTS header locks visitors out for as long as its
max-age. Apache sends it (deploy/apache/_common.conf.j2).

Responses that carry a CSRF token or belong to a logged-in session are marked
``Cache-Control: private, no-store`` so that no shared cache (a proxy, a CDN)
keeps a copy and hands it to someone else.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request_finished, session
from flask.wrappers import Response

# HTML pages (and anything else that is not JSON). Everything is refused unless a
# directive below allows it; to let pages load a new kind of resource, add a
# directive here (e.g. "font-src": ("'self'",)), never 'unsafe-inline'.
PAGE_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "script-src": ("'self'",),
    "style-src": ("'self'",),
    "img-src": ("'self'",),
    "object-src": ("'none'",),
    "base-uri": ("'none'",),
    "form-action": ("'self'",),
    "frame-ancestors": ("'none'",),
}

# JSON is data, never a document: it may load nothing and be framed by no one.
JSON_POLICY: dict[str, tuple[str, ...]] = {
    "default-src": ("'none'",),
    "frame-ancestors": ("'none'",),
}

# Sent with every response, whatever its type.
COMMON_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: Flask-WTF refuses HTTPS form posts without a same-site Referer.
    "Referrer-Policy": "strict-origin-when-cross-origin",
    # For browsers older than CSP's frame-ancestors.
    "X-Frame-Options": "DENY",
}

PRIVATE_CACHE_CONTROL = "private, no-store"
# Flask-Login keeps the logged-in user's id under this session key.
LOGGED_IN_SESSION_KEY = "_user_id"


def serialize(policy: dict[str, tuple[str, ...]]) -> str:
    """The policy as a header value: ``directive source ...; directive ...``."""
    return "; ".join(" ".join((directive, *sources)) for directive, sources in policy.items())


PAGE_CSP = serialize(PAGE_POLICY)
JSON_CSP = serialize(JSON_POLICY)


def apache_headers() -> dict[str, str]:
    """What Apache adds to the responses it makes itself (static files, error pages)."""
    return {"Content-Security-Policy": PAGE_CSP, **COMMON_HEADERS}


def init_app(app: Flask) -> None:
    app.after_request(add_security_headers)
    # Decided last, once Flask has written the session cookie (after every
    # after_request function), so nothing a later hook adds is missed.
    request_finished.connect(_keep_private_responses_out_of_shared_caches, app)


# The common headers with their names lower-cased, as header names compare.
_COMMON_BY_KEY = tuple((name.lower(), name, value) for name, value in COMMON_HEADERS.items())


def add_security_headers(response: Response) -> Response:
    """Add the policy for the response's type and the common headers.

    A header a view set itself is kept, so one view can send a different policy.
    """
    headers = response.headers
    # One pass over the names already set: Werkzeug's setdefault raises and
    # catches an exception for every name it does not find, which made this
    # hook cost about 11 µs of every request instead of 1.5.
    present = {name.lower() for name, _ in headers.items()}
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", JSON_CSP if response.is_json else PAGE_CSP)
    for key, name, value in _COMMON_BY_KEY:
        if key not in present:
            headers.add(name, value)
    return response


def is_private(response: Response) -> bool:
    """Does ``response`` carry a CSRF token, a cookie or a logged-in user's page?"""
    if "Set-Cookie" in response.headers:
        return True
    if current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token") in g:
        # The page rendered a CSRF token (a form, or the log-out button).
        return True
    return LOGGED_IN_SESSION_KEY in session


def _keep_private_responses_out_of_shared_caches(
    sender: Flask, response: Response, **_: Any
) -> None:
    if is_private(response):
        response.headers["Cache-Control"] = PRIVATE_CACHE_CONTROL
        # The same URL shows another page to another session.
        response.vary.add("Cookie")
