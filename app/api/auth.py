"""API authentication: HTTP Basic to obtain a token, bearer tokens for everything else.

The API never looks at the session cookie, so a browser cannot be tricked into
making authenticated API calls: that is why the blueprint is exempt from CSRF.
"""

from __future__ import annotations

from typing import Any, Literal, cast

from flask import g, request

from .. import login_throttle
from ..models import ApiToken, User
from .errors import ApiError


class Unauthorized(ApiError):
    """401 with the WWW-Authenticate challenge for ``scheme``."""

    def __init__(self, message: str, scheme: str, error: str | None = None) -> None:
        super().__init__(401, message)
        challenge = f'{scheme} realm="api"'
        if error:
            challenge += f', error="{error}"'
        self.challenge = challenge

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("WWW-Authenticate", self.challenge)]


class TooManyFailedLogins(ApiError):
    """429 with Retry-After: the account's log-in throttle is closed for now."""

    def __init__(self, throttled: login_throttle.AccountThrottled) -> None:
        super().__init__(429, str(throttled))
        self.retry_after = throttled.retry_after

    def get_headers(self, *args: Any, **kwargs: Any) -> list[tuple[str, str]]:
        return [("Retry-After", str(self.retry_after))]


def basic_auth_user() -> User:
    """The user named by valid HTTP Basic credentials (username or email)."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
        raise Unauthorized("Send your username and password with HTTP Basic auth.", "Basic")
    try:
        user = login_throttle.authenticate(auth.username, auth.password)
    except login_throttle.AccountThrottled as throttled:
        raise TooManyFailedLogins(throttled) from None
    if user is None:
        raise Unauthorized("Invalid username, email or password.", "Basic")
    return user


def bearer_token() -> ApiToken:
    """The valid, unexpired token in the Authorization header."""
    auth = request.authorization
    if auth is None or auth.type != "bearer" or not auth.token:
        raise Unauthorized("This needs a bearer token: POST /api/tokens to get one.", "Bearer")
    token = ApiToken.find_valid(auth.token)
    if token is None:
        raise Unauthorized(
            "The token is invalid, expired or revoked.", "Bearer", error="invalid_token"
        )
    return token


def authenticate(scheme: Literal["bearer", "basic"]) -> None:
    """Check this request's credentials for ``scheme``; ``current_api_user()`` is then theirs."""
    if scheme == "basic":
        g.api_user = basic_auth_user()
        return
    token = bearer_token()
    token.record_use()
    g.api_token = token
    g.api_user = token.user


def current_api_token() -> ApiToken:
    """The bearer token this request was made with (after ``authenticate("bearer")``)."""
    return cast(ApiToken, g.api_token)


def current_api_user() -> User:
    """The user whose token authenticated this request (after ``authenticate``)."""
    return cast(User, g.api_user)
