"""URL converters shared by the site and the API."""

from __future__ import annotations

from flask import Flask
from werkzeug.routing import IntegerConverter, Map

from .models import MAX_ID


class IdConverter(IntegerConverter):
    """A row id in a URL: ASCII digits only, 1 to MAX_ID.

    Werkzeug's ``int`` also takes other scripts' digits ("١" is 1) and any size;
    an id no row can have is simply not found.
    """

    regex = r"[0-9]{1,10}"

    def __init__(self, map: Map) -> None:  # noqa: A002 (Werkzeug's parameter name)
        super().__init__(map, min=1, max=MAX_ID)


def init_app(app: Flask) -> None:
    app.url_map.converters["id"] = IdConverter
