"""Which cache scopes a committed write changed, and their new generations after the commit.

What each write changes (``app/cache_scopes.py`` names the scopes):

- a post created, edited or deleted: the list of all posts, its author's
  profile and posts (by id and by name) and the post itself;
- a user created: the list of users, and that user by id and by name;
- a user's display name or bio changed: the list of users, and that user by
  id and by name. Both show only on the profile page and in the API's
  representations of the user; lists of posts and post pages name authors by
  their username alone, so no other entry holds them;
- a user renamed or deleted: the epoch, so everything. Authors' names appear
  in every list and on every post page, and both events are rare.

Anything else, such as a new password or session token, is in no cached
entry and changes nothing here.

Scopes are noted after each flush (ids exist only then; the attributes'
history still tells what changed) and the generations are replaced once the
transaction commits, all in one cache call; a rollback forgets them.
Statements that bypass the ORM's objects (``delete_account``, bulk SQL) are
not seen here: their callers say what to drop.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_app_context
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from . import cache_scopes
from .models import Post, User

_PENDING = "changed_cache_scopes"
# What a user writes about themselves; the stored rendering follows the bio.
PROFILE_FIELDS = ("display_name", "bio")


def _post_scopes(session: Session, post_id: int | None, user_id: int | None) -> set[str]:
    """The scopes that show a post by ``user_id``; all of them (the epoch) if either is unknown."""
    if post_id is None or user_id is None:
        return {cache_scopes.EPOCH}
    scopes = {
        cache_scopes.POSTS,
        cache_scopes.post_scope(post_id),
        cache_scopes.user_scope(user_id),
    }
    username_key = _username_key(session, user_id)
    if username_key is not None:
        scopes.add(cache_scopes.username_scope(username_key))
    return scopes


def _user_scopes(user: User) -> set[str]:
    """The scopes that show ``user`` but not their posts: the users list and their profile."""
    return {
        cache_scopes.USERS,
        cache_scopes.user_scope(user.id),
        cache_scopes.username_scope(user.username_key),
    }


def _changed_scopes(session: Session) -> set[str]:
    scopes: set[str] = set()
    for obj in session.new:
        if isinstance(obj, Post):
            scopes |= _post_scopes(session, obj.id, obj.user_id)
        elif isinstance(obj, User):
            scopes |= _user_scopes(obj)
    for obj in session.deleted:
        if isinstance(obj, Post):
            # Only what was loaded: the row is gone, so an attribute that was
            # not loaded before could not be read any more.
            loaded = inspect(obj).dict
            scopes |= _post_scopes(session, loaded.get("id"), loaded.get("user_id"))
        elif isinstance(obj, User):
            scopes.add(cache_scopes.EPOCH)
    for obj in session.dirty:
        if isinstance(obj, Post) and session.is_modified(obj):
            # Moved to another author (no page does this): two profiles to
            # find for a change that does not happen, so everything is dropped.
            moved = _changed(obj, "user_id")
            scopes |= {cache_scopes.EPOCH} if moved else _post_scopes(session, obj.id, obj.user_id)
        elif isinstance(obj, User) and _changed(obj, "username"):
            scopes.add(cache_scopes.EPOCH)
        elif isinstance(obj, User) and any(_changed(obj, name) for name in PROFILE_FIELDS):
            scopes |= _user_scopes(obj)
    return scopes


def _changed(obj: object, attribute: str) -> bool:
    return bool(inspect(obj).attrs[attribute].history.has_changes())


def _username_key(session: Session, user_id: int) -> str | None:
    """The author's normalised name: from the loaded row if there is one, else one query.

    The site's profile URL carries the name, not the id, and its scope must be
    known before its view loads anything, so a post's write names the scope
    by name too. Views that write a post have its author loaded; a write from
    a shell may not.
    """
    loaded = session.identity_map.get(identity_key(User, user_id))
    if loaded is not None:
        known: object = inspect(loaded).dict.get("username_key")
        if isinstance(known, str):
            return known
    # On the connection, as post_counts does: a flush is under way, and only
    # the one column is wanted, not a User loaded into the session.
    key = session.connection().scalar(select(User.username_key).where(User.id == user_id))
    return key if isinstance(key, str) else None


def _note_changed_scopes(session: Session, flush_context: Any) -> None:
    scopes = _changed_scopes(session)
    if scopes:
        session.info.setdefault(_PENDING, set()).update(scopes)


def _bump_after_commit(session: Session) -> None:
    scopes = session.info.pop(_PENDING, None)
    if scopes and has_app_context():
        cache_scopes.bump(scopes)


def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


_LISTENERS = (
    ("after_flush", _note_changed_scopes),
    ("after_commit", _bump_after_commit),
    ("after_rollback", _forget_after_rollback),
)


def init_app(app: Flask) -> None:
    """Watch every session's writes (once per process, however many apps are made)."""
    for name, listener in _LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
