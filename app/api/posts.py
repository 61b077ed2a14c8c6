"""Posts: list and read for anyone; write, change and delete with a token."""

from __future__ import annotations

from typing import Any

from flask import url_for

from .. import listings
from ..extensions import db
from ..models import Post
from . import bp
from .auth import current_api_user, token_required
from .errors import ApiError
from .pagination import page_body
from .request_parsing import load_args, load_body
from .schemas import PageArgsSchema, PostCreateSchema, PostSchema, PostUpdateSchema


def _get_post_or_404(post_id: int) -> Post:
    post = Post.with_author(post_id)
    if post is None:
        raise ApiError(404, f"There is no post with id {post_id}.")
    return post


def _get_own_post(post_id: int) -> Post:
    post = _get_post_or_404(post_id)
    if not post.is_editable_by(current_api_user()):
        raise ApiError(403, "Only the author of a post may change or delete it.")
    return post


@bp.get("/posts")
def list_posts() -> dict[str, Any]:
    """Every post, newest first, one page at a time."""
    args = load_args(PageArgsSchema())
    page = listings.latest_posts(args["page"], args["per_page"])
    return page_body(page, PostSchema(), "api.list_posts")


@bp.get("/posts/<id:post_id>")
def get_post(post_id: int) -> dict[str, Any]:
    return PostSchema().dump(_get_post_or_404(post_id))


@bp.post("/posts")
@token_required
def create_post() -> tuple[dict[str, Any], int, dict[str, str]]:
    """Publish a post as the token's user."""
    data = load_body(PostCreateSchema())
    post = Post(title=data["title"], body=data["body"], author=current_api_user())
    db.session.add(post)
    db.session.commit()
    location = url_for("api.get_post", post_id=post.id)
    return PostSchema().dump(post), 201, {"Location": location}


@bp.patch("/posts/<id:post_id>")
@token_required
def update_post(post_id: int) -> dict[str, Any]:
    """Change the title or body of one of your own posts."""
    post = _get_own_post(post_id)
    data = load_body(PostUpdateSchema(partial=True))
    for field, value in data.items():
        setattr(post, field, value)
    db.session.commit()
    return PostSchema().dump(post)


@bp.delete("/posts/<id:post_id>")
@token_required
def delete_post(post_id: int) -> tuple[str, int]:
    """Delete one of your own posts."""
    db.session.delete(_get_own_post(post_id))
    db.session.commit()
    return "", 204
