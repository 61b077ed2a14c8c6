"""Bearer tokens: obtained with the account password, listed and revoked with a token."""

from __future__ import annotations

from typing import Any

from flask import current_app

from ..extensions import db
from ..models import ApiToken
from ..rate_limits import password_guesses
from . import bp
from .auth import current_api_token, current_api_user
from .errors import ApiError
from .operations import Reply, operation
from .pagination import page_body, page_of
from .schemas import PageArgsSchema, TokenCreateSchema, TokenPageSchema, TokenSchema

NO_STORE = {"Cache-Control": "no-store"}


@bp.post("/tokens")
@operation(
    auth="basic",
    rate_limit=password_guesses,
    body=TokenCreateSchema,
    body_required=False,
    replies={201: Reply(TokenSchema, "A new token.")},
)
def create_token(body: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Get a bearer token with your username (or email) and password.

    Only the token's hash is kept, with its label and first characters.
    """
    token, secret = ApiToken.issue(
        current_api_user(), current_app.config["API_TOKEN_LIFETIME"], body["label"]
    )
    db.session.commit()
    reply = {
        "id": token.id,
        "label": token.label,
        "prefix": token.prefix,
        "token": secret,
        "token_type": "Bearer",
        "created_at": token.created_at,
        "expires_at": token.expires_at,
    }
    # The only copy of the secret: no cache may keep it.
    return reply, NO_STORE


@bp.get("/tokens")
@operation(auth="bearer", query=PageArgsSchema, replies={200: TokenPageSchema})
def list_tokens(query: dict[str, int]) -> tuple[dict[str, Any], dict[str, str]]:
    """Your unexpired tokens, newest first, without their secrets."""
    current = current_api_token().id
    page = page_of(ApiToken.active_of(current_api_user().id), query["page"], query["per_page"])
    body = page_body(page, "api.list_tokens")
    body["items"] = [
        {
            "id": token.id,
            "label": token.label,
            "prefix": token.prefix,
            "created_at": token.created_at,
            "last_used_at": token.last_used_at,
            "expires_at": token.expires_at,
            "current": token.id == current,
        }
        for token in page.items
    ]
    return body, NO_STORE


@bp.delete("/tokens")
@operation(auth="bearer", replies={204: None})
def revoke_token() -> None:
    """Revoke the token this request is made with."""
    db.session.delete(current_api_token())
    db.session.commit()


@bp.delete("/tokens/<id:token_id>")
@operation(auth="bearer", replies={204: None})
def revoke_token_by_id(token_id: int) -> None:
    """Revoke one of your tokens, by its id.

    Another account's token is "not found" too: ids cannot be probed.
    """
    token = ApiToken.owned_by(current_api_user().id, token_id)
    if token is None:
        raise ApiError(404, f"You have no token with id {token_id}.")
    db.session.delete(token)
    db.session.commit()
