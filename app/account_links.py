"""Signed, time-limited, single-use links for account actions sent by email.

A link's token carries the user's id, a nonce and the action's data (the new
address of an email change), signed with SECRET_KEY by itsdangerous, with the
action's name as the salt: a token made for one action is worthless for
another, and nothing in it can be altered.

Single use without a table of tokens: each action has a nonce column on the
user. Issuing a link stores a fresh nonce (so every older link of that kind
stops working), using it (``claim``, atomic) clears it, and so does ``User.revoke_credentials``
(a password change or reset ends every link sent before it). The nonce is
compared in constant time.

Why a link is refused is told apart (expired, used or replaced, not valid at
all) so the page can say so, but never which account it was for.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update

from .extensions import db
from .models import User

# For a page whose address holds a link's token: no Referer carries it on, no cache keeps it.
LINK_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


class Action(Enum):
    """An account action confirmed by an emailed link: its nonce column and lifetime setting."""

    PASSWORD_RESET = ("password-reset", "password_reset_nonce", "PASSWORD_RESET_LINK_SECONDS")
    EMAIL_CHANGE = ("email-change", "email_change_nonce", "EMAIL_CHANGE_LINK_SECONDS")

    def __init__(self, salt: str, column: str, lifetime_setting: str) -> None:
        self.salt = salt
        self.column = column
        self.lifetime_setting = lifetime_setting

    @property
    def lifetime(self) -> int:
        """Seconds a link works for, from the configuration."""
        return int(current_app.config[self.lifetime_setting])


class LinkRefused(Exception):
    """The link cannot be used; ``reason`` is one of the class's reason constants."""

    EXPIRED = "expired"
    USED = "used"
    INVALID = "invalid"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RedeemedLink:
    """A valid link: whose it is, what it carries, and the nonce that makes it valid."""

    user: User
    data: dict[str, Any]
    action: Action
    nonce: str


def _serializer(action: Action) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=action.salt)


def issue(user: User, action: Action, **data: Any) -> str:
    """A token for ``action`` on ``user``'s account; every older one of that kind dies.

    The caller commits (the new nonce must be stored before the link is sent).
    """
    nonce = secrets.token_hex(16)
    setattr(user, action.column, nonce)
    return str(_serializer(action).dumps({"user": user.id, "nonce": nonce, "data": data}))


def redeem(token: str, action: Action) -> RedeemedLink:
    """The user and data of a valid ``token``, or LinkRefused saying why.

    The link stays valid until ``claim`` or ``consume`` (or a credential
    change) clears it, so a page may check it on GET and use it on POST.
    """
    try:
        payload = _serializer(action).loads(token, max_age=action.lifetime)
    except SignatureExpired:
        raise LinkRefused(LinkRefused.EXPIRED) from None
    except BadSignature:
        raise LinkRefused(LinkRefused.INVALID) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int):
        raise LinkRefused(LinkRefused.INVALID)
    user = db.session.get(User, payload["user"])
    stored = getattr(user, action.column, None) if user is not None else None
    nonce = payload.get("nonce")
    if user is None or stored is None or not isinstance(nonce, str):
        raise LinkRefused(LinkRefused.USED)
    if not hmac.compare_digest(stored.encode(), nonce.encode()):
        raise LinkRefused(LinkRefused.USED)
    data = payload.get("data")
    return RedeemedLink(
        user=user, data=data if isinstance(data, dict) else {}, action=action, nonce=nonce
    )


def claim(link: RedeemedLink) -> None:
    """Use ``link`` up, atomically: LinkRefused(USED) if another request used it first.

    One conditional UPDATE clears the nonce only if it is still this link's.
    Two requests with the same link at once cannot both pass: the database
    lets one row update match, and the other finds the nonce gone. The caller
    commits with the change the link allows.
    """
    column = getattr(User, link.action.column)
    cleared = db.session.execute(
        update(User)
        .where(User.id == link.user.id, column == link.nonce)
        .values({link.action.column: None})
        .execution_options(synchronize_session=False)
    )
    if getattr(cleared, "rowcount", 0) != 1:
        db.session.rollback()
        raise LinkRefused(LinkRefused.USED)
    setattr(link.user, link.action.column, None)


def consume(user: User, action: Action) -> None:
    """Make every link of ``action`` for ``user`` unusable (the caller commits)."""
    setattr(user, action.column, None)
