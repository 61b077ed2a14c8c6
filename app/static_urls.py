"""Static file URLs that carry a hash of the file, so caches may keep them for a year.

Apache serves /static with a one-year lifetime; when a file changes, its URL
(``?v=...``) changes with it, so browsers fetch the new one at once.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

from flask import Flask, current_app


def init_app(app: Flask) -> None:
    app.url_defaults(_add_version)


def _add_version(endpoint: str, values: dict[str, Any]) -> None:
    if endpoint != "static" or "v" in values or "filename" not in values:
        return
    folder = current_app.static_folder
    if folder is None:
        return
    path = os.path.join(folder, values["filename"])
    try:
        stat = os.stat(path)
    except OSError:
        return
    values["v"] = _file_hash(path, stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    # mtime and size are part of the cache key: an edited file is hashed again.
    with open(path, "rb") as file:
        return hashlib.sha256(file.read()).hexdigest()[:12]
