"""Bearer tokens: obtained with the account password, revoked with the token itself."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..extensions import db
from ..models import ApiToken
from ..rate_limits import password_guesses
from . import bp
from .auth import current_api_token, current_api_user
from .operations import Reply, operation
from .schemas import TokenSchema


@bp.post("/tokens")
@operation(
    auth="basic", rate_limit=password_guesses, replies={201: Reply(TokenSchema, "A new token.")}
)
def create_token() -> tuple[dict[str, Any], dict[str, str]]:
    """Get a bearer token with your username (or email) and password.

    Only the token's hash is kept.
    """
    token, secret = ApiToken.issue(current_api_user(), current_app.config["API_TOKEN_LIFETIME"])
    db.session.commit()
    body = {"token": secret, "token_type": "Bearer", "expires_at": token.expires_at}
    # The only copy of the secret: no cache may keep it.
    return body, {"Cache-Control": "no-store"}


@bp.delete("/tokens")
@operation(auth="bearer", replies={204: None})
def revoke_token() -> None:
    """Revoke the token this request is made with."""
    db.session.delete(current_api_token())
    db.session.commit()
