"""Rate limits shared by the site and the API.

A password guess costs the same through the log-in form, POST /api/tokens
and every action that asks for the password again (the account settings,
PATCH and DELETE /api/me), and so does a registration through either door: each group
shares one counter per client.

Registrations are counted twice. Only attempts that create an account count
against ``RATELIMIT_REGISTER``, so a person whose form has a typo is not
locked out; every attempt, refused or not, counts against the much higher
``RATELIMIT_REGISTER_ATTEMPTS``, which bounds scripted abuse of the form (such
as probing which usernames and emails are taken).

Password reset mail is limited twice as well: requests per client
(``password_reset_requests``, site and API together) and mails per target
address (``claim_mail_to``), whoever asks, so that many clients together
cannot flood one inbox; so are the links confirming an email change, which a
logged-in user can send to any address.

The creation limit is counted by the view itself (``claim_account_creation``),
in one atomic step just before the insert. A decorator can only test its
counter before the view and add to it after the response, so requests sent
at once would all pass the test.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app
from limits import RateLimitItem, parse
from limits.strategies import RateLimiter
from werkzeug.exceptions import TooManyRequests

from .extensions import client_key, limiter

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _password_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _register_attempts_limit() -> str:
    return str(current_app.config["RATELIMIT_REGISTER_ATTEMPTS"])


def _password_reset_limit() -> str:
    return str(current_app.config["RATELIMIT_PASSWORD_RESET"])


# PATCH and DELETE: the API's /api/me checks the password with those methods.
password_guesses = limiter.shared_limit(
    _password_limit, scope="password", methods=["POST", "PATCH", "DELETE"]
)
_registration_attempts = limiter.shared_limit(
    _register_attempts_limit, scope="register-attempts", methods=["POST"]
)
password_reset_requests = limiter.shared_limit(
    _password_reset_limit, scope="password-reset", methods=["POST"]
)


def registrations(view: F) -> F:
    """The all-attempts limit; the view calls ``claim_account_creation()`` before it inserts."""
    return cast(F, _registration_attempts(view))


def claim_account_creation() -> None:
    """Count the account this request is about to create; 429 past ``RATELIMIT_REGISTER``."""
    _claim_for_client(
        "RATELIMIT_REGISTER",
        "register",
        "the registration limit",
        "Too many requests: the limit here is {limit}. Please wait.",
    )


def claim_search() -> None:
    """Count a search by this client (site and API together); 429 past ``RATELIMIT_SEARCH``.

    Counted by the views, only for a query that will be searched: the search
    page without words, a refused query and the plain list of posts cost
    nothing, and the cached list is served before any view runs.
    """
    _claim_for_client(
        "RATELIMIT_SEARCH",
        "search",
        "the search limit",
        "Too many searches: the limit is {limit}. Please wait a little and search again.",
    )


def _claim_for_client(setting: str, scope: str, what: str, refusal: str) -> None:
    """Count one use of ``scope`` by this client against ``setting``; past it, 429."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return
    item = parse(str(current_app.config[setting]))
    identifiers = (str(current_app.config["RATELIMIT_KEY_PREFIX"]), scope, client_key())
    allowed = in_limit_storage(lambda strategy: strategy.hit(item, *identifiers), True, what)
    if not allowed:
        raise TooManyRequests(
            refusal.format(limit=item), retry_after=seconds_left(item, identifiers)
        )


def _mail_limit(address: str, limit_setting: str) -> tuple[RateLimitItem, tuple[str, ...]]:
    item = parse(str(current_app.config[limit_setting]))
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:32]
    return item, (str(current_app.config["RATELIMIT_KEY_PREFIX"]), limit_setting, digest)


def claim_mail_to(address: str, limit_setting: str) -> bool:
    """Count a mail to ``address`` (normalised) against ``limit_setting``; False past it.

    For mail sent to an address nobody has shown to be theirs: a password
    reset (counted for every address asked about, with or without an account,
    so the count tells nothing about who has one) and the link confirming an
    email change. The key is a keyed digest of the address: the limit storage
    (Redis) never holds the addresses themselves.
    """
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return True
    item, identifiers = _mail_limit(address, limit_setting)
    return in_limit_storage(
        lambda strategy: strategy.hit(item, *identifiers), True, f"the {limit_setting} limit"
    )


def require_mail_to(address: str, limit_setting: str) -> None:
    """``claim_mail_to``, or 429 with Retry-After where saying so reveals nothing."""
    if not claim_mail_to(address, limit_setting):
        item, identifiers = _mail_limit(address, limit_setting)
        raise TooManyRequests(
            f"Too many links were mailed to that address lately: the limit is {item}. Please wait.",
            retry_after=seconds_left(item, identifiers),
        )


def seconds_left(item: RateLimitItem, identifiers: tuple[str, ...]) -> int:
    """Seconds until the window of ``item`` for ``identifiers`` starts again."""
    fallback = float(item.get_expiry())
    reset_time = in_limit_storage(
        lambda strategy: float(strategy.get_window_stats(item, *identifiers).reset_time),
        time.time() + fallback,
        "a rate limit's window",
    )
    return max(1, math.ceil(reset_time - time.time()))


def in_limit_storage(operation: Callable[[RateLimiter], T], default: T, what: str) -> T:
    """Run ``operation`` on the limiter's current strategy, for limits a view counts itself.

    ``limiter.limiter`` is the shared storage, or the in-memory fallback once
    Flask-Limiter has found the storage down (the decorated limit on the same
    view checks it first). If the storage fails here anyway, the attempt is not
    counted when RATELIMIT_SWALLOW_ERRORS says to fail open, as the other limits do.
    """
    try:
        return operation(limiter.limiter)
    except Exception:
        if not current_app.config.get("RATELIMIT_SWALLOW_ERRORS", False):
            raise
        current_app.logger.warning(
            "%s could not reach the rate-limit storage; this attempt was not counted", what
        )
        return default
