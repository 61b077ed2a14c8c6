"""A request whose account is deleted while it runs: logged out, never a 500.

Deleting an account removes its rows in one statement (``account_changes``).
A request of the same account already past authentication may then insert a
row that names the user (a post, a token), which a foreign key refuses, or
update the user's row (a password change), which matches nothing. That is
not a bug to log with a traceback: the person acting is simply gone. The
site logs the browser out and says why; the API answers 401 as for any
revoked credential.
"""

from __future__ import annotations

from typing import Any, cast

from flask import flash, g, redirect, session, url_for
from flask_login import current_user, logout_user
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import ObjectDeletedError, StaleDataError
from werkzeug.wrappers import Response

from .extensions import db
from .models import User

MESSAGE = "Your account was deleted, so you have been logged out."


def _acting_user_id() -> int | None:
    """The id of whoever this request acts for, read without loading the row again."""
    user = g.get("api_user")
    if user is None and current_user.is_authenticated:
        user = current_user._get_current_object()
    if not isinstance(user, User):
        return None
    identity: tuple[Any, ...] | None = inspect(user).identity
    return cast(int, identity[0]) if identity else None


def deleted_mid_request(error: BaseException | None) -> bool:
    """True if ``error`` comes from writing for an account that no longer exists.

    An insert naming it is refused by a foreign key (IntegrityError); an update
    of its row matches nothing (StaleDataError); reading its expired row finds
    nothing (ObjectDeletedError).
    """
    if not isinstance(error, (IntegrityError, StaleDataError, ObjectDeletedError)):
        return False
    cached = g.get("account_deleted_mid_request")
    if cached is not None:
        return bool(cached)
    db.session.rollback()
    user_id = _acting_user_id()
    gone = user_id is not None and db.session.get(User, user_id) is None
    g.account_deleted_mid_request = gone
    return gone


def log_out_if_gone() -> None:
    """Log this browser out if its account no longer exists (deleted by another request)."""
    user_id = _acting_user_id()
    if user_id is not None and db.session.get(User, user_id) is None:
        session.clear()
        logout_user()


def answer_for_site() -> Response:
    """Log this browser out and send it to the log-in page with the reason."""
    session.clear()
    logout_user()
    flash(MESSAGE, "info")
    return redirect(url_for("accounts.login"))


def api_message() -> str:
    """The 401's message: the credential the request was made with is no longer valid."""
    return "This account was deleted while the request ran: its credentials are no longer valid."
