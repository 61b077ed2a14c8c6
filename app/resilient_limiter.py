"""Flask-Limiter, going back to its Redis storage within a few seconds of its return.

While the storage fails, Flask-Limiter counts in memory (per process) and asks
the storage again after 1, 2, 4, 8, 16 and 32 seconds, so limits could stay
per process for half a minute after Redis came back. Here a process tries the
storage again every ``REDIS_RETRY_INTERVAL`` seconds, one request at a time, as
the cache does.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import current_app
from flask_limiter import Limiter


class ResilientLimiter(Limiter):
    """A Limiter whose failed storage is probed at a steady interval."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._probe_lock = threading.Lock()
        self._next_probe = 0.0

    # Flask-Limiter 4 calls this private hook only while its storage is marked
    # dead, to decide whether this request checks the storage again.
    # tests/test_redis_outage.py fails if an upgrade stops calling it.
    def _Limiter__should_check_backend(self) -> bool:
        interval = float(current_app.config.get("REDIS_RETRY_INTERVAL", 2.0))
        with self._probe_lock:
            now = time.monotonic()
            if now < self._next_probe:
                return False
            self._next_probe = now + interval
            return True
