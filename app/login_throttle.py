"""Password checks with a per-account throttle: log-ins, and actions that ask for it again.

The per-client limit (``RATELIMIT_LOGIN``) cannot stop guesses spread over many
addresses. This module also counts log-in attempts per account, whoever makes
them, under ``RATELIMIT_LOGIN_ACCOUNT`` (a modest cap per window). Once the cap
is reached every attempt on that account is refused, the right password
included, until the window ends; the answer says how long to wait.

- The counter lives in the rate limiter's storage (``limiter.limiter``), so with
  Redis it is shared by every process and machine, and while Redis is down it
  falls back to per-process memory exactly as the other limits do.
- The counter is keyed by the account the typed login names, so its username
  and its email address share one counter. A login that names no account gets
  a counter of its own under the same rules and the same answer, so the
  throttle does not tell whether an account exists.
- Every attempt is counted before the password is checked (concurrent guesses
  cannot slip past the cap), and a successful log-in clears the count: the
  owner's earlier typos do not linger, and only someone who knows the password
  can clear it.
- So that an attacker cannot keep the owner out by guessing every window, a
  browser the owner logged in from before carries a signed device cookie
  (``remember_device``) and is counted on its own: the owner's browser keeps
  working while the account is paused for everyone else.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from datetime import timedelta

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from limits import parse
from werkzeug.wrappers import Response

from .models import User
from .rate_limits import in_limit_storage, seconds_left
from .validation import normalize_email, normalize_username

DEVICE_COOKIE = "known_device"
DEVICE_COOKIE_LIFETIME = timedelta(days=365)


class AccountThrottled(Exception):
    """Too many log-in attempts on one account: refused for ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(throttle_message(retry_after))


def throttle_message(retry_after: int) -> str:
    """What the person is told: the same words for every login, known or not."""
    if retry_after < 60:
        wait = f"{retry_after} second{'s' if retry_after != 1 else ''}"
    else:
        minutes = math.ceil(retry_after / 60)
        wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
    return (
        "Too many failed log-ins for this account. To protect it, log-ins are "
        f"paused: please try again in {wait}."
    )


def authenticate(login: str, password: str) -> User | None:
    """The user with this username or email and password, or None.

    Raises AccountThrottled, without checking the password, when the account
    the login names has had too many attempts in the current window, unless
    this browser is one the account's owner logged in from before (see
    ``remember_device``): that browser gets a counter of its own.
    """
    return _throttled(login, User.find_by_login(login), password)


def confirm_password(user: User, password: str) -> bool:
    """Is ``password`` the password of ``user``, who is already logged in?

    For actions that ask for the password again (changing it, deleting the
    account). Counted against the same per-account throttle as log-ins, so a
    stolen session or token cannot be used to guess the password either;
    raises AccountThrottled the same way.
    """
    return _throttled(user.username, user, password) is not None


def _throttled(login: str, user: User | None, password: str) -> User | None:
    """``User.check_login(user, password)``, counted against ``login``'s account."""
    if not current_app.config.get("RATELIMIT_ENABLED", True):
        return User.check_login(user, password)
    item = parse(str(current_app.config["RATELIMIT_LOGIN_ACCOUNT"]))
    identifiers = _identifiers(login, user)
    device = _known_device(user)
    if device is not None:
        # The owner's own browser: its attempts are counted apart, so guesses
        # from elsewhere cannot pause it, and a stolen device cookie still
        # allows only the same few guesses per window.
        identifiers = (*identifiers, "device", device)
    allowed = in_limit_storage(
        lambda strategy: strategy.hit(item, *identifiers), True, "the per-account log-in throttle"
    )
    if not allowed:
        # One line per refused attempt: a run of these is a guessing attack.
        current_app.logger.warning(
            "log-in throttle: attempt refused for %s (%s reached)",
            f"account id {user.id}" if user is not None else "a login that names no account",
            item,
        )
        raise AccountThrottled(seconds_left(item, identifiers))
    authenticated = User.check_login(user, password)
    if authenticated is not None:
        in_limit_storage(
            lambda strategy: strategy.clear(item, *identifiers), None, "the log-in throttle"
        )
    return authenticated


def remember_device(response: Response, user: User) -> None:
    """After a correct password: mark this browser as one ``user`` logs in from.

    A signed cookie naming the account and a random device id. It logs no one
    in; it only lets this browser keep trying its account's password while
    guesses from elsewhere have paused the account (OWASP's "device cookie").
    """
    value = _device_serializer().dumps({"user": user.id, "device": secrets.token_hex(16)})
    response.set_cookie(
        DEVICE_COOKIE,
        value,
        max_age=int(DEVICE_COOKIE_LIFETIME.total_seconds()),
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )


def _known_device(user: User | None) -> str | None:
    """The device id of this browser's valid device cookie for ``user``, if any."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if user is None or not raw:
        return None
    try:
        data = _device_serializer().loads(raw, max_age=int(DEVICE_COOKIE_LIFETIME.total_seconds()))
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("user") != user.id:
        return None
    device = data.get("device")
    return device if isinstance(device, str) else None


def _device_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(str(current_app.config["SECRET_KEY"]), salt="known-device")


def _identifiers(login: str, user: User | None) -> tuple[str, ...]:
    if user is not None:
        subject = f"user-{user.id}"
    else:
        # The same normalisation as the lookup, so "Bob" and "bob " share a
        # counter; hashed, so typed email addresses are not key names.
        typed = normalize_email(login) if "@" in login else normalize_username(login)
        subject = "login-" + hashlib.sha256(typed.encode()).hexdigest()[:32]
    return (str(current_app.config["RATELIMIT_KEY_PREFIX"]), "login-account", subject)
