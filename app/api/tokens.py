"""Bearer tokens: obtained with the account password, revoked with the token itself."""

from __future__ import annotations

from typing import Any

from flask import current_app, g

from ..extensions import db
from ..models import ApiToken
from ..rate_limits import password_guesses
from . import bp
from .auth import basic_auth_user, token_required
from .schemas import TokenSchema


@bp.post("/tokens")
@password_guesses
def create_token() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Exchange HTTP Basic credentials for a bearer token; only its hash is kept."""
    user = basic_auth_user()
    token, secret = ApiToken.issue(user, current_app.config["API_TOKEN_LIFETIME"])
    db.session.commit()
    body = {"token": secret, "token_type": "Bearer", "expires_at": token.expires_at}
    # The only copy of the secret: no cache may keep it.
    return TokenSchema().dump(body), 201, {"Cache-Control": "no-store"}


@bp.delete("/tokens")
@token_required
def revoke_token() -> tuple[str, int]:
    """Revoke the bearer token this request was made with."""
    db.session.delete(g.api_token)
    db.session.commit()
    return "", 204
