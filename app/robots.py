"""robots.txt: crawlers may read the public pages, and are told where the sitemap is.

What they are kept from is only what no search result should lead to: the
log-in, registration and password pages, the account settings, and the JSON
API (the same posts as the pages, as data). The API's documentation page is
allowed: people look for it. Pages that need a log-in (writing, editing,
deleting a post) are linked only for their author, so no crawler meets them.

Allow comes before the Disallow it carves out: parsers that take the first
rule that matches and those that take the longest both read it the same way.
Under a path prefix this file is served at ``<prefix>/robots.txt``, where
crawlers do not look: the host's own robots.txt is then the operator's.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request, url_for
from flask.wrappers import Response

from .public_urls import absolute_url, public_base

bp = Blueprint("robots", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


@bp.get("/robots.txt")
def robots_txt() -> Response:
    """The rules for every crawler, and the sitemap's absolute address when there is one."""
    root = request.script_root
    lines = [
        "User-agent: *",
        f"Allow: {url_for('api.docs')}",
        f"Disallow: {root}/api/",
        f"Disallow: {root}/auth/",
        f"Disallow: {url_for('settings.index')}",
    ]
    if public_base() is not None:
        lines += ["", f"Sitemap: {absolute_url('sitemaps.index')}"]
    return Response("\n".join(lines) + "\n", mimetype="text/plain")
