"""What the account settings change, for the site and the API alike: the password, the account."""

from __future__ import annotations

from sqlalchemy import delete

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
