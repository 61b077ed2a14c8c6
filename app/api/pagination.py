"""The envelope around every list the API returns."""

from __future__ import annotations

from typing import Any

from flask import url_for

from ..page import Page


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
