"""Users: list, read, register, and the authenticated user's own record."""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy.exc import IntegrityError

from .. import listings
from ..extensions import db
from ..models import User
from ..rate_limits import claim_account_creation, registrations
from . import bp
from .auth import current_api_user
from .errors import ApiError
from .operations import created, operation
from .pagination import page_body
from .schemas import (
    MeSchema,
    PageArgsSchema,
    PostPageSchema,
    UserCreateSchema,
    UserPageSchema,
    UserSchema,
)


def _get_user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, f"There is no user with id {user_id}.")
    return user


@bp.get("/users")
@operation(query=PageArgsSchema, replies={200: UserPageSchema})
def list_users(query: dict[str, int]) -> dict[str, Any]:
    """List users, oldest first."""
    page = listings.users(query["page"], query["per_page"])
    return page_body(page, "api.list_users")


@bp.get("/users/<id:user_id>")
@operation(replies={200: UserSchema})
def get_user(user_id: int) -> User:
    """One user."""
    return _get_user_or_404(user_id)


@bp.get("/users/<id:user_id>/posts")
@operation(query=PageArgsSchema, replies={200: PostPageSchema})
def list_user_posts(user_id: int, query: dict[str, int]) -> dict[str, Any]:
    """One user's posts, newest first."""
    user = _get_user_or_404(user_id)
    page = listings.posts_by(user.id, query["page"], query["per_page"])
    return page_body(page, "api.list_user_posts", user_id=user.id)


@bp.post("/users")
@operation(
    body=UserCreateSchema,
    rate_limit=registrations,
    replies={201: created(UserSchema, "The account was created.")},
    errors=(409,),
)
def create_user(body: dict[str, str]) -> tuple[User, dict[str, str]]:
    """Register a new account."""
    conflicts = {}
    if User.username_taken(body["username"]):
        conflicts["username"] = ["That username is taken."]
    if User.email_taken(body["email"]):
        conflicts["email"] = ["An account with that email already exists."]
    if conflicts:
        raise ApiError(409, "An account with those details already exists.", conflicts)
    claim_account_creation()
    user = User(username=body["username"], email=body["email"], password=body["password"])
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Another request registered the same name between our check and insert.
        db.session.rollback()
        raise ApiError(409, "An account with those details already exists.") from None
    return user, {"Location": url_for("api.get_user", user_id=user.id)}


@bp.get("/me")
@operation(auth="bearer", replies={200: MeSchema})
def get_me() -> tuple[User, dict[str, str]]:
    """The authenticated user, with their email address."""
    return current_api_user(), {"Cache-Control": "no-store"}
