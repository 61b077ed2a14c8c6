"""The envelope around every list the API returns."""

from __future__ import annotations

from typing import Any

from flask import url_for
from marshmallow import Schema

from ..page import Page


def page_body(
    page: Page[Any], item_schema: Schema, endpoint: str, **view_args: Any
) -> dict[str, Any]:
    """``items``, ``page``, ``per_page``, ``total``, ``pages`` and navigation ``links``."""

    def link(number: int | None) -> str | None:
        if number is None:
            return None
        return url_for(endpoint, page=number, per_page=page.per_page, **view_args)

    return {
        "items": item_schema.dump(page.items, many=True),
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
