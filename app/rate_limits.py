"""Rate limits shared by the site and the API.

A password guess costs the same through the log-in form and through
POST /api/tokens, and so does a registration through either door: each pair
shares one counter per client.
"""

from __future__ import annotations

from flask import current_app

from .extensions import limiter


def _password_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _register_limit() -> str:
    return str(current_app.config["RATELIMIT_REGISTER"])


password_guesses = limiter.shared_limit(_password_limit, scope="password", methods=["POST"])
registrations = limiter.shared_limit(_register_limit, scope="register", methods=["POST"])
