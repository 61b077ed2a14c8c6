"""Users: list, read, register, and the authenticated user's own account and profile."""

from __future__ import annotations

from typing import Any

from flask import url_for
from sqlalchemy.exc import IntegrityError

from .. import listings, login_throttle, mail
from ..account_changes import (
    ADDRESS_TAKEN,
    change_password,
    delete_account,
    email_change_problem,
    mail_enabled,
    start_email_change,
)
from ..extensions import db
from ..models import User
from ..rate_limits import claim_account_creation, password_guesses, registrations
from ..validation import password_change_problem
from . import bp
from .auth import TooManyFailedLogins, current_api_user
from .errors import ApiError
from .operations import Reply, created, operation
from .pagination import page_body
from .schemas import (
    AccountDeletionSchema,
    EmailChangeStartedSchema,
    MeSchema,
    MeUpdateSchema,
    PageArgsSchema,
    PasswordChangedSchema,
    PostPageSchema,
    ProfileUpdateSchema,
    UserCreateSchema,
    UserPageSchema,
    UserSchema,
)

EMAIL_CHANGES_OFF = "Email changes are off on this site: it sends no mail to confirm them."


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


@bp.patch("/me/profile")
@operation(
    auth="bearer",
    body=ProfileUpdateSchema,
    replies={200: Reply(MeSchema, "You, with the profile as it now is.")},
)
def update_profile(body: dict[str, str | None]) -> tuple[User, dict[str, str]]:
    """Set or clear your display name and bio.

    No password needed, as for a post: nothing here proves who you are. The
    profile page and the API show the change at once.
    """
    user = current_api_user()
    for field, value in body.items():
        setattr(user, field, value)
    db.session.commit()
    return user, {"Cache-Control": "no-store"}


def _confirm_password(user: User, password: str, field: str) -> None:
    """403 naming ``field`` unless ``password`` is ``user``'s; counted as a password guess."""
    try:
        confirmed = login_throttle.confirm_password(user, password)
    except login_throttle.AccountThrottled as throttled:
        raise TooManyFailedLogins(throttled) from None
    if not confirmed:
        raise ApiError(403, "The password is wrong.", {field: ["Wrong password."]})


@bp.patch("/me")
@operation(
    auth="bearer",
    body=MeUpdateSchema,
    rate_limit=password_guesses,
    replies={
        200: Reply(
            PasswordChangedSchema,
            "The password was changed. Every token of the account, the one this "
            "request was made with included, and every site session ended: get a "
            "new token with POST /api/tokens and the new password. `notice` says "
            "whether the account's address was told.",
        ),
        202: Reply(
            EmailChangeStartedSchema,
            "A link to confirm the new address was mailed to it; nothing changed yet. "
            "When the link is followed (on the site), the address changes, the old "
            "address is told, and every token and session of the account ends, as "
            "after a password change. A newer request replaces the link. On a site "
            "that sends no mail, email changes are off: 400 naming `email`.",
        ),
    },
    errors=(403, 409, 503),
)
def update_me(body: dict[str, str]) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Change your password, or start changing your email address.

    A password change ends every token and session of the account, this token
    too: as after a password reset, nothing issued with the old password keeps
    working. An email change only mails a confirmation link to the new
    address. A wrong current password is a 403 and counts as a failed log-in.
    """
    user = current_api_user()
    if "email" in body:
        return _start_email_change(user, body["current_password"], body["email"])
    _confirm_password(user, body["current_password"], "current_password")
    problem = password_change_problem(body["current_password"], body["new_password"])
    if problem:
        raise ApiError(400, "The request body is invalid.", {"new_password": [problem]})
    notice = change_password(user, body["new_password"])
    return {**_me_fields(user), "notice": notice.value}, 200, {"Cache-Control": "no-store"}


def _me_fields(user: User) -> dict[str, Any]:
    return {name: getattr(user, name) for name in MeSchema().dump_fields}


def _start_email_change(
    user: User, password: str, address: str
) -> tuple[dict[str, Any], int, dict[str, str]]:
    if not mail_enabled():
        raise ApiError(400, EMAIL_CHANGES_OFF, {"email": [EMAIL_CHANGES_OFF]})
    _confirm_password(user, password, "current_password")
    problem = email_change_problem(user, address)
    if problem:
        raise ApiError(400, "The request body is invalid.", {"email": [problem]})
    if User.email_taken(address):
        raise ApiError(409, ADDRESS_TAKEN, {"email": [ADDRESS_TAKEN]})
    started = start_email_change(user, address)
    if started is None:
        raise ApiError(503, mail.FAILURE_MESSAGE)
    reply = {
        **_me_fields(user),
        "pending_email": started.new_address,
        "link_expires_at": started.expires_at,
    }
    return reply, 202, {"Cache-Control": "no-store"}


@bp.delete("/me")
@operation(
    auth="bearer",
    body=AccountDeletionSchema,
    rate_limit=password_guesses,
    replies={204: Reply(None, "The account, its posts and its tokens were deleted.")},
    errors=(403,),
)
def delete_me(body: dict[str, str]) -> None:
    """Delete your account, with its posts and tokens; the username is free again.

    A wrong password is a 403 and counts as a failed log-in.
    """
    user = current_api_user()
    _confirm_password(user, body["password"], "password")
    delete_account(user)
