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
from .auth import current_api_user, token_required
from .errors import ApiError
from .pagination import page_body
from .request_parsing import load_args, load_body
from .schemas import (
    MeSchema,
    PageArgsSchema,
    PostSchema,
    UserCreateSchema,
    UserSchema,
)


def _get_user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise ApiError(404, f"There is no user with id {user_id}.")
    return user


@bp.get("/users")
def list_users() -> dict[str, Any]:
    """Every user, oldest first, one page at a time."""
    args = load_args(PageArgsSchema())
    page = listings.users(args["page"], args["per_page"])
    return page_body(page, UserSchema(), "api.list_users")


@bp.get("/users/<id:user_id>")
def get_user(user_id: int) -> dict[str, Any]:
    return UserSchema().dump(_get_user_or_404(user_id))


@bp.get("/users/<id:user_id>/posts")
def list_user_posts(user_id: int) -> dict[str, Any]:
    """One user's posts, newest first."""
    args = load_args(PageArgsSchema())
    user = _get_user_or_404(user_id)
    page = listings.posts_by(user.id, args["page"], args["per_page"])
    return page_body(page, PostSchema(), "api.list_user_posts", user_id=user.id)


@bp.post("/users")
@registrations
def create_user() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Register a new account."""
    data = load_body(UserCreateSchema())
    conflicts = {}
    if User.username_taken(data["username"]):
        conflicts["username"] = ["That username is taken."]
    if User.email_taken(data["email"]):
        conflicts["email"] = ["An account with that email already exists."]
    if conflicts:
        raise ApiError(409, "An account with those details already exists.", conflicts)
    claim_account_creation()
    user = User(username=data["username"], email=data["email"], password=data["password"])
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        # Another request registered the same name between our check and insert.
        db.session.rollback()
        raise ApiError(409, "An account with those details already exists.") from None
    location = url_for("api.get_user", user_id=user.id)
    return UserSchema().dump(user), 201, {"Location": location}


@bp.get("/me")
@token_required
def me() -> tuple[dict[str, Any], int, dict[str, str]]:
    """The authenticated user, including their email address."""
    return MeSchema().dump(current_api_user()), 200, {"Cache-Control": "no-store"}
