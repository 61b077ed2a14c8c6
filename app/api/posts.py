"""Posts: list and read for anyone; write, change and delete with a token."""

from __future__ import annotations

from typing import Any

from flask import url_for

from .. import listings
from ..extensions import db
from ..models import Post
from ..rate_limits import claim_search
from ..search import search_posts
from . import bp
from .auth import current_api_user
from .errors import ApiError
from .operations import created, operation
from .pagination import page_body
from .schemas import (
    PostCreateSchema,
    PostListArgsSchema,
    PostPageSchema,
    PostSchema,
    PostUpdateSchema,
)


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
@operation(query=PostListArgsSchema, replies={200: PostPageSchema}, errors=(429,))
def list_posts(query: dict[str, Any]) -> dict[str, Any]:
    """List posts, newest first, or search them with q."""
    if "q" not in query:
        page = listings.latest_posts(query["page"], query["per_page"])
        return page_body(page, "api.list_posts")
    # A search is never cached (app/search.py); its links keep the query and the order.
    claim_search()
    found = search_posts(query["q"], query["page"], query["per_page"], query["order"])
    return page_body(found, "api.list_posts", q=query["q"], order=query["order"].value)


@bp.get("/posts/<id:post_id>")
@operation(replies={200: PostSchema})
def get_post(post_id: int) -> Post:
    """One post."""
    return _get_post_or_404(post_id)


@bp.post("/posts")
@operation(auth="bearer", body=PostCreateSchema, replies={201: created(PostSchema, "Published.")})
def create_post(body: dict[str, str]) -> tuple[Post, dict[str, str]]:
    """Publish a post."""
    post = Post(title=body["title"], body=body["body"], author=current_api_user())
    db.session.add(post)
    db.session.commit()
    return post, {"Location": url_for("api.get_post", post_id=post.id)}


@bp.patch("/posts/<id:post_id>")
@operation(auth="bearer", body=PostUpdateSchema, replies={200: PostSchema}, errors=(403,))
def update_post(post_id: int, body: dict[str, str]) -> Post:
    """Change your post's title or body."""
    post = _get_own_post(post_id)
    for field, value in body.items():
        setattr(post, field, value)
    db.session.commit()
    return post


@bp.delete("/posts/<id:post_id>")
@operation(auth="bearer", replies={204: None}, errors=(403,))
def delete_post(post_id: int) -> None:
    """Delete your post."""
    db.session.delete(_get_own_post(post_id))
    db.session.commit()
