"""The JSON API, mounted under /api."""

from __future__ import annotations

from flask import Blueprint, Flask

from ..extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")

# Routes register themselves on ``bp`` when their modules are imported.
from . import docs, health, openapi, password_reset, posts, tokens, users  # noqa: E402, F401


def init_app(app: Flask) -> None:
    # Token authentication only, never the session cookie: CSRF cannot apply.
    csrf.exempt(bp)
    app.register_blueprint(bp)
