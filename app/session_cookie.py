"""Flask's signed session cookie, with its signing serializer built once per key set.

Flask builds a new ``URLSafeTimedSerializer`` (and its signer) to open and
again to save the session of every request. The keys rarely change, so the
serializer is kept and rebuilt only when ``SECRET_KEY`` or
``SECRET_KEY_FALLBACKS`` differ from the ones it was built with (the tests
change them on a live app).
"""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CachedSigningSessionInterface(SecureCookieSessionInterface):
    """The stock cookie session, signing with a serializer reused across requests."""

    def __init__(self) -> None:
        # One tuple, replaced whole: threads racing on a key change build one
        # serializer each, and every reader sees a matching pair.
        self._built: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """The serializer for ``app``'s current keys, built on first use of those keys."""
        keys = (app.secret_key, *(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        built = self._built
        if built is None or built[0] != keys:
            built = self._built = (keys, super().get_signing_serializer(app))
        return built[1]


def init_app(app: Flask) -> None:
    """Give ``app`` its own cached-serializer session interface."""
    app.session_interface = CachedSigningSessionInterface()
