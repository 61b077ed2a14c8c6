"""What Flask-Login keeps in the session and the remember-me cookie, and how it is checked.

The value is ``<session token>.<browser digest>``:

- The session token is the account's credential generation
  (``User.session_token``, see ``User.revoke_credentials``). Every request
  looks the user up by it, so replacing it ends every session and remember-me
  cookie of the account at once.
- The browser digest binds the value to the User-Agent it was issued to, with
  version numbers left out so a browser update does not log anyone out. A
  remember-me cookie replayed by another browser, a script or another operating
  system is refused and deleted. It is not bound to the address: phones change
  address with every network and IPv6 privacy addresses rotate daily, and the
  cookie exists precisely to outlast such changes. (The session cookie is bound
  to both, by Flask-Login's "strong" protection.)

Both cookies are signed with SECRET_KEY, so neither part can be altered. The
binding stops a copied cookie replayed on its own; someone who also copies the
User-Agent string gets past it, and only logging out or revoking the account's
credentials stops them.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from flask import Flask, current_app, request, session
from flask_login import COOKIE_NAME, login_user, user_loaded_from_cookie
from sqlalchemy import bindparam, select
from sqlalchemy.orm import load_only, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from . import autocommit_reads
from .extensions import db, login_manager
from .models import User

_VERSION_NUMBERS = re.compile(r"\d+")
# What every logged-in request needs of its user: the check (the session token)
# and the page's header. The driver parses a description of every column a
# SELECT returns, so the other columns (the profile, hashes, nonces) are read
# on first use, by the few views that need them, in one more query.
_EVERY_REQUEST = load_only(User.id, User.username, User.session_token)
_BY_TOKEN = select(User.id, User.username).where(User.session_token == bindparam("token"))


def browser_digest() -> str:
    """A digest of this request's User-Agent, without its version numbers."""
    agent = _VERSION_NUMBERS.sub("", request.headers.get("User-Agent", ""))
    return hashlib.sha256(agent.encode()).hexdigest()[:32]


def log_in(user: User, *, remember: bool = False, fresh: bool = True) -> None:
    """Log ``user`` in for this browser; use it instead of ``flask_login.login_user``."""
    login_user(user, remember=remember, fresh=fresh)
    # The remember-me cookie is written from this value after the request.
    session["_user_id"] = f"{user.get_id()}.{browser_digest()}"


@login_manager.user_loader
def load_user(login_id: str) -> User | None:
    """The user a session or remember-me cookie names, if it is still valid here."""
    token, _, digest = login_id.rpartition(".")
    user = None
    if token and hmac.compare_digest(digest, browser_digest()):
        user = _user_with_token(token)
    if user is None:
        _forget_login()
    return user


def _user_with_token(token: str) -> User | None:
    """The user whose session token is ``token``, read from the database now.

    On MariaDB/MySQL the row is read on the autocommit pool, a lone statement
    that leaves no transaction to roll back, and the user is built from it
    without the ORM's loading machinery (about a third of this read's cost):
    the instance joins this request's session as a persistent object, and
    anything else of it is read on first use. On SQLite, whose connection the
    session shares, through the session.
    """
    engine = autocommit_reads.engine_of(current_app)
    if engine is None:
        return db.session.scalar(
            select(User).where(User.session_token == token).options(_EVERY_REQUEST)
        )
    with engine.connect() as connection:
        row = connection.execute(_BY_TOKEN, {"token": token}).first()
    if row is None:
        return None
    present = db.session.identity_map.get(identity_key(User, row.id))
    if present is not None:
        return present  # already read by this request: one instance per row
    user = User.__mapper__.class_manager.new_instance()
    for name, value in (("id", row.id), ("username", row.username), ("session_token", token)):
        set_committed_value(user, name, value)
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def _forget_login() -> None:
    # Drop what the refused value left in the session, and have Flask-Login
    # delete the remember-me cookie that may have brought it.
    session.pop("_user_id", None)
    session.pop("_fresh", None)
    session["_remember"] = "clear"


def init_app(app: Flask) -> None:
    app.before_request(_let_the_remember_cookie_follow_a_new_address)


def _let_the_remember_cookie_follow_a_new_address() -> None:
    """Re-check a moved browser by its remember-me cookie instead of only dropping it.

    "Strong" protection ends a session whose address or User-Agent changed, and
    deletes the remember-me cookie with it; a phone changing networks would
    lose both. When such a session comes with a remember-me cookie, its log-in
    is forgotten here, before Flask-Login looks, so the cookie decides: same
    browser, the user is logged in again; another browser, it is refused and
    deleted by ``load_user``.
    """
    # The cookie first: reading the session would add "Vary: Cookie" to every response.
    cookie_name = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    if cookie_name not in request.cookies or "_user_id" not in session:
        return
    fingerprint = login_manager._session_identifier_generator()
    if session.get("_id") != fingerprint:
        session.pop("_user_id", None)
        session.pop("_fresh", None)
        session["_id"] = fingerprint


@user_loaded_from_cookie.connect
def _bind_remembered_session(sender: Flask, user: User) -> None:
    """Finish the log-in a remember cookie restored, as a log-in form would.

    Flask-Login does not store the session identifier when it restores a user from
    the remember cookie, so "strong" session protection would wipe the session and
    the remember cookie on the very next request.
    """
    log_in(user, fresh=False)
