"""Flask-Limiter, going back to its Redis storage within a few seconds of its return.

While the storage fails, Flask-Limiter counts in memory (per process) and asks
the storage again after 1, 2, 4, 8, 16 and 32 seconds, so limits could stay
per process for half a minute after Redis came back, and it logs only to a
logger nobody reads. Here a process tries the storage again every
``REDIS_RETRY_INTERVAL`` seconds, one request at a time, as the cache does, and
says once per outage in the app's log that limits are counted per process.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from flask import Flask, current_app, has_app_context
from flask.globals import request_ctx
from flask.wrappers import Response
from flask_limiter import Limiter, RequestLimit

from .redis_waits import note_wait_on_redis, waited_on_redis

logger = logging.getLogger(__name__)


class ResilientLimiter(Limiter):
    """A Limiter whose failed storage is probed at a steady interval.

    It relies on private parts of Flask-Limiter 4: the ``_storage_dead`` flag
    and the ``__should_check_backend`` hook, which Flask-Limiter consults only
    while that flag is set (tests/test_redis_outage.py fails if an upgrade
    changes either); the before-request ``_check_request_limit`` with the
    limit manager's lists of limits that apply to every route, and the
    per-request context its after-request and teardown hooks read
    (tests/test_rate_limit_scope.py fails if those change).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._probe_lock = threading.Lock()
        self._next_probe = 0.0
        self._dead_since: float | None = None
        super().__init__(*args, **kwargs)

    def init_app(self, app: Flask) -> None:
        """Bind to ``app``: its own RATELIMIT_KEY_PREFIX, its storage, no outage known yet.

        One process binds one app in production; the tests and drills bind
        many. Flask-Limiter keeps the first app's prefix for every app bound
        later in the process, so a second app would count under the first
        one's keys in a Redis they may share; and an outage one app saw must
        not carry over to the next one's storage.
        """
        self._key_prefix = ""
        with self._probe_lock:
            self._dead_since = None
            self._next_probe = 0.0
        super().init_app(app)

    @property
    def _storage_dead(self) -> bool:
        return self._dead_since is not None

    @_storage_dead.setter
    def _storage_dead(self, dead: bool) -> None:
        if dead:
            note_wait_on_redis()
        with self._probe_lock:
            now = time.monotonic()
            if dead and self._dead_since is None:
                self._dead_since = now
                # The request that found the storage dead has waited once already.
                self._next_probe = now + _retry_interval()
                logger.warning(
                    "Rate limit storage unavailable; counting limits in memory, per process"
                )
            elif not dead and self._dead_since is not None:
                outage, self._dead_since = now - self._dead_since, None
                # At the outage's own level, so production's error log shows its end too.
                logger.warning("Rate limit storage is back after %.1f s", outage)

    def uses_redis(self) -> bool:
        """Are the limits counted in Redis (rather than in each process's memory)?"""
        uri = str(current_app.config.get("RATELIMIT_STORAGE_URI") or "")
        # redis://, rediss://, redis+unix://, redis+sentinel://, redis+cluster://
        return uri.startswith("redis")

    def storage_available(self) -> bool:
        """Does the limits' storage answer? While it is known to be down, asked only when due.

        For the readiness check. Flask-Limiter never looks at its storage for an
        exempt route, so without this a node the balancer took out would never
        notice that Redis came back.
        """
        if waited_on_redis():
            return not self._storage_dead
        if self._storage_dead and not self._Limiter__should_check_backend():
            return False
        answered = bool(self.storage.check())
        if not answered:
            note_wait_on_redis()
        if self._in_memory_fallback_enabled and answered == self._storage_dead:
            # Flask-Limiter's own switch between Redis and its in-memory counts.
            self._storage_dead = not answered
        return answered

    def _check_request_limit(
        self, callable_name: str | None = None, in_middleware: bool = True
    ) -> None:
        """Flask-Limiter's check, skipped before a request when no limit could apply there.

        Before each request Flask-Limiter resolves the limits that apply to every
        route (default, application, blueprint, meta and in-memory fallback
        limits) and the route's exemptions, about 0.3 ms even on an exempt
        route. This app declares none of those: its limits sit on the views that
        need them, whose decorators run this check themselves (``in_middleware``
        False). So the check before the request is skipped while there is
        nothing it could find, and runs as before as soon as there is.
        """
        if in_middleware and not self._limits_on_every_route():
            return
        super()._check_request_limit(callable_name, in_middleware)

    def _limits_on_every_route(self) -> bool:
        """Does any limit apply outside the decorated views? Read live: cheap, never stale."""
        manager = self.limit_manager
        return bool(
            manager._default_limits
            or manager._application_limits
            or manager._blueprint_limits
            or self._meta_limits
            or self._in_memory_fallback
        )

    # Flask-Limiter's after-request hook (rate-limit headers, conditional
    # deductions) and its teardown each build, then clear, a per-request
    # context, about 5 µs per request together. Only a limit check puts
    # anything in it, so a request that checked none skips both.

    @property
    def current_limit(self) -> RequestLimit | None:
        """The most relevant limit checked in this request; None when none was."""
        return super().current_limit if _limits_checked() else None

    def _Limiter__check_conditional_deductions(self, response: Response) -> None:
        if _limits_checked():
            super()._Limiter__check_conditional_deductions(response)  # type: ignore[misc]

    def _Limiter__release_context(self, _: BaseException | None = None) -> None:
        if _limits_checked():
            super()._Limiter__release_context(_)  # type: ignore[misc]

    def _Limiter__should_check_backend(self) -> bool:
        if waited_on_redis():
            return False
        with self._probe_lock:
            now = time.monotonic()
            if now < self._next_probe:
                return False
            self._next_probe = now + _retry_interval()
        note_wait_on_redis()
        return True


def _limits_checked() -> bool:
    """Has this request checked a limit (and so has Flask-Limiter's context)?"""
    context = request_ctx._get_current_object()  # type: ignore[attr-defined]
    return "_limiter_request_context" in vars(context)


def _retry_interval() -> float:
    if has_app_context():
        return float(current_app.config.get("REDIS_RETRY_INTERVAL", 2.0))
    return 2.0
