"""Password reset: ask for the reset link by email (the link opens a page of the site).

The operation exists only while MAIL_ENABLED is true: it is added to the URL
map when the blueprint is registered on an app that sends mail, so without
mail it answers 404 and the OpenAPI document, built from the URL map, does
not list it.
"""

from __future__ import annotations

from flask.blueprints import BlueprintSetupState

from .. import password_reset
from ..rate_limits import password_reset_requests
from . import bp
from .operations import Reply, operation
from .schemas import MessageSchema, PasswordResetRequestSchema


@operation(
    body=PasswordResetRequestSchema,
    rate_limit=password_reset_requests,
    replies={
        202: Reply(
            MessageSchema,
            "The same answer for every address: if an account uses it, a link to choose "
            "a new password is sent there.",
        )
    },
)
def request_password_reset(body: dict[str, str]) -> tuple[dict[str, str], int]:
    """Ask for a password reset link by email.

    The answer, and the time it takes, are the same whether or not an account
    uses the address. The link works once, for PASSWORD_RESET_LINK_SECONDS,
    and leads to the site's page for choosing the new password. Mail to one
    address is also limited per hour, whoever asks; past that limit nothing is
    sent, and the answer is still the same.
    """
    password_reset.request_link(body["email"])
    return {"message": password_reset.answer()}, 202


@bp.record
def _add_when_mail_is_on(state: BlueprintSetupState) -> None:
    if state.app.config["MAIL_ENABLED"]:
        state.add_url_rule("/password-reset", view_func=request_password_reset, methods=["POST"])
