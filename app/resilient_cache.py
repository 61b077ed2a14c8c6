"""A Redis cache backend that degrades to "no cache" while Redis is down or hung.

Flask-Caching's own Redis backend raises on every connection error, which turns
each cached page into a 500 for the whole outage. This one answers a miss
instead, so callers load from the database, and a per-process circuit breaker
skips Redis for a short interval after a failure: a hung Redis then costs one
timeout per interval, not one per cache call. Selected in config.py through
``CACHE_TYPE`` when ``CACHE_REDIS_URL`` is set.

Writes made during an outage could not reach Redis, so what Redis still holds
may be stale when it returns. Before the first call after an outage, the
backend sends :data:`cache_recovered`; receivers use the backend (the sender)
to invalidate what they keep there, and only once they have succeeded is Redis
used again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

import redis
from blinker import Namespace
from flask import Flask
from flask_caching.backends.rediscache import RedisCache

from .redis_waits import note_wait_on_redis, waited_on_redis

T = TypeVar("T")
Timeout = int | timedelta | None

logger = logging.getLogger(__name__)

_signals = Namespace()
cache_recovered = _signals.signal("cache-recovered")
"""Sent with the backend as sender when Redis answers again after an outage."""


class CircuitBreaker:
    """Tells callers when to leave a failing service alone, per process.

    Closed (the service works): every call goes through. After a failure it
    opens for ``retry_interval`` seconds, during which no call goes through;
    then exactly one caller is let through as a probe, and the breaker closes
    only when that caller reports success.
    """

    def __init__(self, retry_interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_interval = retry_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._next_probe = 0.0

    @property
    def is_open(self) -> bool:
        """True from a failure until a probe succeeds."""
        return self._down_since is not None

    def allows(self) -> bool:
        """May the caller use the service now? While open, True for one probe per interval."""
        if self._down_since is None:
            return True
        with self._lock:
            if self._down_since is None:
                return True
            now = self._clock()
            if now < self._next_probe:
                return False
            # This caller is the probe; everyone else waits for the next interval.
            self._next_probe = now + self.retry_interval
            return True

    def failed(self) -> bool:
        """Record a failure; True if it started an outage (and so deserves a log line)."""
        with self._lock:
            now = self._clock()
            self._next_probe = now + self.retry_interval
            if self._down_since is None:
                self._down_since = now
                return True
            return False

    def succeeded(self) -> float | None:
        """Record a successful probe; the outage's length if this ended one."""
        with self._lock:
            if self._down_since is None:
                return None
            outage, self._down_since = self._clock() - self._down_since, None
            return outage


class ResilientRedisCache(RedisCache):
    """Flask-Caching's Redis backend, answering misses instead of raising while Redis fails.

    ``retry_interval`` is how long to leave Redis alone after a failure. The
    client's own timeouts (``CACHE_OPTIONS``) bound what one failing call costs.
    """

    def __init__(self, *args: Any, retry_interval: float = 2.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.breaker = CircuitBreaker(retry_interval)
        self._recovering = threading.local()

    @classmethod
    def factory(
        cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> ResilientRedisCache:
        """Build the backend from the app's CACHE_* settings (Flask-Caching calls this)."""
        client = redis.from_url(config["CACHE_REDIS_URL"], **(config.get("CACHE_OPTIONS") or {}))
        return cls(
            client,
            default_timeout=kwargs["default_timeout"],
            key_prefix=config.get("CACHE_KEY_PREFIX"),
            retry_interval=config.get("REDIS_RETRY_INTERVAL", 2.0),
        )

    def _call(self, operation: Callable[[], T], fallback: T) -> T:
        if getattr(self._recovering, "active", False):
            # A recovery receiver's call: its failure must abort the recovery.
            return operation()
        if waited_on_redis() or not self.breaker.allows():
            return fallback
        try:
            if self.breaker.is_open:
                self._recover()
            return operation()
        except (redis.RedisError, OSError) as error:
            note_wait_on_redis()
            if self.breaker.failed():
                logger.warning(
                    "Redis cache unavailable (%s: %s); serving from the database, "
                    "retrying Redis every %g s",
                    type(error).__name__,
                    error,
                    self.breaker.retry_interval,
                )
            return fallback

    def _recover(self) -> None:
        self._read_client.ping()
        self._recovering.active = True
        try:
            cache_recovered.send(self)
        finally:
            self._recovering.active = False
        outage = self.breaker.succeeded()
        if outage is not None:
            # At the outage's own level, so production's error log shows its end too.
            logger.warning(
                "Redis cache is back after %.1f s; cached lists were invalidated", outage
            )

    def available(self) -> bool:
        """Does Redis answer? While it is known to be down, asked only when a probe is due.

        For the readiness check: a successful probe ends the outage (and runs the
        recovery) as any cache call would, so a node that gets no other traffic
        still comes back.
        """
        answered = self._call(lambda: bool(self._read_client.ping()), False)
        return answered and not self.breaker.is_open

    def get(self, key: str) -> Any:
        return self._call(lambda: super(ResilientRedisCache, self).get(key), None)

    def get_many(self, *keys: str) -> list[Any]:
        return self._call(
            lambda: super(ResilientRedisCache, self).get_many(*keys), [None] * len(keys)
        )

    def set(self, key: str, value: Any, timeout: Timeout = None) -> Any:
        return self._call(lambda: super(ResilientRedisCache, self).set(key, value, timeout), False)

    def add(self, key: str, value: Any, timeout: Timeout = None) -> Any:
        return self._call(lambda: super(ResilientRedisCache, self).add(key, value, timeout), False)

    def set_many(self, mapping: dict[str, Any], timeout: Timeout = None) -> list[Any]:
        return self._call(lambda: super(ResilientRedisCache, self).set_many(mapping, timeout), [])

    def delete(self, key: str) -> bool:
        return self._call(lambda: super(ResilientRedisCache, self).delete(key), False)

    def delete_many(self, *keys: str) -> list[Any]:
        return self._call(lambda: super(ResilientRedisCache, self).delete_many(*keys), [])

    def has(self, key: str) -> bool:
        return self._call(lambda: super(ResilientRedisCache, self).has(key), False)

    def clear(self) -> bool:
        return self._call(lambda: super(ResilientRedisCache, self).clear(), False)

    def inc(self, key: str, delta: int = 1) -> Any:
        return self._call(lambda: super(ResilientRedisCache, self).inc(key, delta), None)

    def dec(self, key: str, delta: int = 1) -> Any:
        return self._call(lambda: super(ResilientRedisCache, self).dec(key, delta), None)

    def unlink(self, *keys: str) -> Any:
        return self._call(lambda: super(ResilientRedisCache, self).unlink(*keys), None)
