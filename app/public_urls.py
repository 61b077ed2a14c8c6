"""Absolute addresses of the site's pages, built from PUBLIC_URL and never from a request.

Mail, feeds and the sitemap hand links to programs that follow them later and
elsewhere. The request's Host header is the client's to choose, so a link
built from it could point at anyone's host; PUBLIC_URL is the operator's
word for where the site is, its path prefix included.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app


class PublicUrlMissing(RuntimeError):
    """PUBLIC_URL is not set, so no absolute address can be made."""


def public_base(app: Flask | None = None) -> str | None:
    """PUBLIC_URL without its trailing slash, or None when it is not set."""
    app = app or current_app
    return (app.config.get("PUBLIC_URL") or "").rstrip("/") or None


class PublicUrls:
    """Builds absolute addresses for one app: bound once, then cheap for each of many links."""

    def __init__(self, app: Flask | None = None) -> None:
        self._app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        base = public_base(self._app)
        if base is None:
            raise PublicUrlMissing("PUBLIC_URL is not set")
        self.base = base
        # The path within the site alone: the prefix is part of PUBLIC_URL.
        self._adapter = self._app.url_map.bind("localhost", script_name="/")

    def __call__(self, endpoint: str, **values: Any) -> str:
        """The absolute address of ``endpoint`` with ``values``, as ``url_for`` takes them."""
        self._app.inject_url_defaults(endpoint, values)
        return self.base + self._adapter.build(endpoint, values)


def absolute_url(endpoint: str, **values: Any) -> str:
    """One absolute address; raises PublicUrlMissing when PUBLIC_URL is not set."""
    return PublicUrls()(endpoint, **values)
