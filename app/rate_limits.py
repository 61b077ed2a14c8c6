"""Rate limits shared by the site and the API.

A password guess costs the same through the log-in form and through
POST /api/tokens, and so does a registration through either door: each pair
shares one counter per client.

Registrations are counted twice. Only attempts that create an account count
against ``RATELIMIT_REGISTER``, so a person whose form has a typo is not
locked out; every attempt, refused or not, counts against the much higher
``RATELIMIT_REGISTER_ATTEMPTS``, which bounds scripted abuse of the form (such
as probing which usernames and emails are taken).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g
from flask.wrappers import Response

from .extensions import limiter

F = TypeVar("F", bound=Callable[..., Any])


def _password_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _register_limit() -> str:
    return str(current_app.config["RATELIMIT_REGISTER"])


def _register_attempts_limit() -> str:
    return str(current_app.config["RATELIMIT_REGISTER_ATTEMPTS"])


def account_created() -> None:
    """Tell the registration limit that this request created an account."""
    g.account_created = True


def _created_an_account(response: Response) -> bool:
    return bool(g.get("account_created", False))


password_guesses = limiter.shared_limit(_password_limit, scope="password", methods=["POST"])
_accounts_created = limiter.shared_limit(
    _register_limit, scope="register", methods=["POST"], deduct_when=_created_an_account
)
_registration_attempts = limiter.shared_limit(
    _register_attempts_limit, scope="register-attempts", methods=["POST"]
)


def registrations(view: F) -> F:
    """Both registration limits; the view calls ``account_created()`` when it made one."""
    return cast(F, _registration_attempts(_accounts_created(view)))
