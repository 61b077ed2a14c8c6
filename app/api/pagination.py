"""The envelope around every list the API returns."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import url_for
from sqlalchemy import Select, func, select

from ..extensions import db
from ..page import Page

T = TypeVar("T")


def page_body(page: Page[Any], endpoint: str, **view_args: Any) -> dict[str, Any]:
    """``items``, ``page``, ``per_page``, ``total``, ``pages`` and navigation ``links``.

    The items are left as they are: the operation's page schema dumps them.
    """

    def link(number: int | None) -> str | None:
        if number is None:
            return None
        return url_for(endpoint, page=number, per_page=page.per_page, **view_args)

    return {
        "items": page.items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
        "links": {
            "self": link(page.page),
            "first": link(1),
            "last": link(page.pages),
            "next": link(page.next_num),
            # Past the end, "prev" is the last page that has items.
            "prev": link(min(page.prev_num, page.pages) if page.prev_num else None),
        },
    }


def page_of(query: Select[T], page: int, per_page: int) -> Page[T]:
    """One page of the rows ``query`` selects, in its order, with their total."""
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)))
    return Page(items=items, page=page, per_page=per_page, total=total or 0)
