"""What the account settings change, for the site and the API alike: password, address, account.

Each change that concerns the account's security is told to the account's
address by mail (when MAIL_ENABLED): a password change to the address, an
email change to the old address once the new one is confirmed. A notice that
could not be sent never undoes the change; it is logged (``mail.send`` does)
and the caller tells the person (``Notice.FAILED``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from . import listings, mail
from .account_links import Action, LinkRefused, RedeemedLink, claim, consume, issue, redeem
from .extensions import db
from .models import User, utcnow
from .rate_limits import require_mail_to
from .validation import normalize_email


class Notice(Enum):
    """What became of the mail telling the account's owner about a change."""

    SENT = "sent"
    # The mail server did not take it (logged); the change stands.
    FAILED = "failed"
    # MAIL_ENABLED is false: the site sends no mail.
    OFF = "off"


# What a person is told of an address another account has, as at registration.
ADDRESS_TAKEN = "An account with that email already exists."


class AddressTaken(Exception):
    """Another account has the address (now): nothing was changed."""


@dataclass(frozen=True)
class EmailChangeStarted:
    """A confirmation link was mailed to ``new_address``; it works until ``expires_at``."""

    new_address: str
    expires_at: datetime


def mail_enabled() -> bool:
    """Does this site send mail? Email changes exist only then (MAIL_ENABLED)."""
    return bool(current_app.config.get("MAIL_ENABLED"))


def _notify(address: str, subject: str, template: str, **context: object) -> Notice:
    if not mail_enabled():
        return Notice.OFF
    return Notice.SENT if mail.send(address, subject, template, **context) else Notice.FAILED


def change_password(user: User, new_password: str) -> Notice:
    """Store ``new_password``; every session, remember-me cookie and API token of ``user`` ends.

    The caller has checked the current password. To keep the browser that made
    the change logged in, log it in again afterwards (``login_sessions.log_in``).
    Then the account's address is told; the returned Notice says whether it was.
    """
    user.set_password(new_password)
    db.session.commit()
    return _notify(user.email, "Your password was changed", "password_changed", user=user)


def email_change_problem(user: User, new_address: str) -> str | None:
    """Why ``user`` cannot ask to move to ``new_address`` (already valid syntax), or None.

    The address taken by another account is not a problem here but
    ``AddressTaken`` (``User.email_taken``): the API answers it with its own status.
    """
    if normalize_email(new_address) == user.email:
        return "That is already your email address."
    return None


def start_email_change(user: User, new_address: str) -> EmailChangeStarted | None:
    """Mail a confirmation link to ``new_address``; None if the mail could not be sent.

    The caller has checked the password, ``email_change_problem`` and that the
    address is free. Past RATELIMIT_EMAIL_CHANGE_ADDRESS links to that address,
    429 (``rate_limits.require_mail_to``). Nothing changes until the link is followed
    (``confirm_email_change``); a newer request replaces the link. When the mail
    fails, the link is withdrawn, so that "nothing was sent" is true.
    """
    address = normalize_email(new_address)
    require_mail_to(address, "RATELIMIT_EMAIL_CHANGE_ADDRESS")
    token = issue(user, Action.EMAIL_CHANGE, email=address)
    # Stored before it is sent: a link that arrives first must already work.
    db.session.commit()
    expires_at = utcnow() + timedelta(seconds=Action.EMAIL_CHANGE.lifetime)
    sent = mail.send(
        address,
        "Confirm your new email address",
        "email_change_confirm",
        user=user,
        link=mail.external_url("settings.email_confirm", token=token),
        expires_at=expires_at,
    )
    if not sent:
        consume(user, Action.EMAIL_CHANGE)
        db.session.commit()
        return None
    return EmailChangeStarted(address, expires_at)


def pending_email_change(token: str) -> RedeemedLink:
    """The account and new address of a valid email change ``token``, or ``LinkRefused``."""
    return redeem(token, Action.EMAIL_CHANGE)


def confirm_email_change(token: str) -> tuple[User, str, Notice]:
    """Give the account of ``token`` the address it carries; return it, the old address, the notice.

    Raises ``LinkRefused`` for a link that is expired, used, replaced or not
    one of ours, and ``AddressTaken`` if another account has the address by
    now (checked first, and enforced by the unique index when two accounts
    confirm the same address at once): nothing changed then.

    The address is a credential (log-ins and password resets use it), so, as
    for a password change, every session, remember-me cookie, API token and
    emailed link of the account ends (``User.revoke_credentials``); the
    caller logs the confirming browser in again if it is the owner's. The old
    address is told afterwards, so that an owner who did not ask finds out.
    """
    link = pending_email_change(token)
    user, address = link.user, link.data.get("email")
    if not isinstance(address, str) or not address:
        # Signed by us, so never; but a link without an address changes nothing.
        raise LinkRefused(LinkRefused.INVALID)
    if User.email_taken(address) and user.email != address:
        raise AddressTaken
    old_address = user.email
    try:
        # Two confirmations of the same link at once, or one and the account's
        # deletion: one gets it. The claimed row stays locked until the commit.
        claim(link)
        # Revoking loads the tokens, a query that would flush the new address early.
        user.revoke_credentials()
        user.email = address
        db.session.commit()
    except IntegrityError:
        # Another account confirmed the same address between the check and now.
        db.session.rollback()
        raise AddressTaken from None
    notice = _notify(
        old_address,
        "Your email address was changed",
        "email_changed",
        user=user,
        old_address=old_address,
        new_address=address,
    )
    return user, old_address, notice


def delete_account(user: User) -> None:
    """Delete ``user`` with their posts and API tokens, and leave nothing of them cached.

    The database deletes the posts and tokens (ON DELETE CASCADE). A statement
    rather than ``session.delete``: when another request of the same account
    deleted it a moment earlier, this one deletes nothing, which is what was
    asked for, instead of failing on a row that is gone. The username is free
    again as soon as this returns.
    """
    db.session.execute(delete(User).where(User.id == user.id))
    db.session.commit()
    # The commit saw no User object change, so the lists must be dropped here; all
    # of them, so that no stale copy holds the name or the posts either.
    listings.forget_everything()
