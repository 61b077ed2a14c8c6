"""The production cache without Redis: files in a folder that every process on the machine shares.

cachelib's FileSystemCache retries an operation that meets PermissionError with
a growing pause for up to about 16 seconds, for the short-lived locks of other
systems. Here a PermissionError means a file the site's user may not read, made
by a command run as another user (``sudo flask ...`` writes the cache's file
count as root): it lasts until someone changes the owner, and each cache call
would hang its request for those seconds. The folder is the site's own, so the
file is removed instead and the call goes on as a miss.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from flask_caching.backends.filesystemcache import FileSystemCache

logger = logging.getLogger(__name__)


class FolderCache(FileSystemCache):
    """FileSystemCache that removes a file it may not read rather than wait on it."""

    def _run_safely(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except PermissionError:
            path = args[0] if args else None
            if not (isinstance(path, str) and os.path.dirname(path) == self._path):
                raise
            with suppress(OSError):
                os.remove(path)
            logger.warning(
                "cache: removed %s, which this user (uid %d) may not read; run flask "
                "commands as the site's user",
                path,
                os.getuid(),
            )
            # Gone now: a read finds no file (a plain miss), a write makes a new one.
            return fn(*args, **kwargs)
