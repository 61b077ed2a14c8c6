"""Work Flask repeats on every request with the same answer, done once per process.

- ``ensure_sync``: Flask asks ``inspect.iscoroutinefunction`` of every hook and
  view on every request (about ten per request here) to decide whether to wrap
  it. A function's nature does not change: decided once per function.
- ``url_for``: a page builds about ten internal URLs, and werkzeug rebuilds each
  from its rule every time. Within a request a URL depends only on the script
  root, the endpoint and its arguments, so built ones are kept (a bounded LRU).
  External URLs, anchors, schemes and methods are built as usual, and so are
  static URLs, which carry a hash of the file's current content
  (``static_urls``). In debug mode nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask.globals import _cv_request

# Distinct URLs a process keeps: the site's pages, a few hundred list pages and
# profiles. Beyond it the least used are built again, never wrong.
KEPT_URLS = 4096


class LighterRequestsMixin:
    """Mix into a ``Flask`` subclass (before ``Flask``) to drop the per-request repeats."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_functions: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._built_url = lru_cache(maxsize=KEPT_URLS)(self._build_url)

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` as Flask calls it, decided on first use of ``func``."""
        try:
            return self._sync_functions[func]
        except KeyError:
            synced = super().ensure_sync(func)  # type: ignore[misc]
            self._sync_functions[func] = synced
            return synced
        except TypeError:  # unhashable: decide every time, as Flask does
            return super().ensure_sync(func)  # type: ignore[misc]

    def url_for(
        self,
        endpoint: str,
        *,
        _anchor: str | None = None,
        _method: str | None = None,
        _scheme: str | None = None,
        _external: bool | None = None,
        **values: Any,
    ) -> str:
        """Flask's ``url_for``, with internal URLs built within a request kept."""
        context = _cv_request.get(None)
        plain = _anchor is None and _method is None and _scheme is None and not _external
        if context is None or not plain or self.debug or endpoint == "static":  # type: ignore[attr-defined]
            return super().url_for(  # type: ignore[misc]
                endpoint,
                _anchor=_anchor,
                _method=_method,
                _scheme=_scheme,
                _external=_external,
                **values,
            )
        if endpoint[:1] == ".":
            # Relative to the request's blueprint: the key needs the full name.
            blueprint = context.request.blueprint
            endpoint = f"{blueprint}{endpoint}" if blueprint else endpoint[1:]
        try:
            return self._built_url(context.request.script_root, endpoint, tuple(values.items()))
        except TypeError:  # an unhashable argument: build it, keep nothing
            return super().url_for(endpoint, **values)  # type: ignore[misc]

    def _build_url(
        self, script_root: str, endpoint: str, values: tuple[tuple[str, Any], ...]
    ) -> str:
        # script_root is part of the key only: the request's adapter already uses it.
        return super().url_for(endpoint, **dict(values))  # type: ignore[misc]
