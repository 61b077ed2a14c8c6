"""What the account settings change, for the site and the API alike: the password, the account."""

from __future__ import annotations

from sqlalchemy.orm.exc import StaleDataError

from . import listings
from .extensions import db
from .models import User


def change_password(user: User, new_password: str) -> None:
    """Store ``new_password``; every session, remember-me cookie and API token of ``user`` ends.

    The caller has checked the current password. To keep the browser that made
    the change logged in, log it in again afterwards (``login_sessions.log_in``).
    """
    user.set_password(new_password)
    db.session.commit()


def delete_account(user: User) -> None:
    """Delete ``user`` with their posts and API tokens, and leave nothing of them cached.

    The database deletes the posts and tokens (ON DELETE CASCADE), so a request
    of the same account that is still running finds nothing left to act on. The
    username is free again as soon as this returns.
    """
    db.session.delete(user)
    try:
        db.session.commit()
    except StaleDataError:
        # Another request of the same account deleted it first: what was asked for is done.
        db.session.rollback()
    listings.forget_everything()
