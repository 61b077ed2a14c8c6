"""URL converters shared by the site and the API."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import BaseConverter

from .models import MAX_ID


class IdConverter(BaseConverter):
    """A row id in a URL: 1 to 10 ASCII digits.

    Werkzeug's ``int`` also takes other scripts' digits ("١" is 1) and any size.
    Ten digits fit in a 64-bit integer, which every database compares without
    overflowing, so an id no row can have (0, or past the largest INT column
    value, MAX_ID) is looked up and simply not found: a 404 like any unknown id.
    Refusing it here instead would make Werkzeug answer 405 for the URL's other
    methods, with an Allow header naming methods that do not exist there.
    """

    regex = r"[0-9]{1,10}"
    part_isolating = True
    # What the OpenAPI document says such a path parameter holds; a row it
    # names may not exist, so the operation can answer 404.
    openapi_schema: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: int) -> str:
        return str(int(value))


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
