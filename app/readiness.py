"""Is this node ready for traffic? What a load balancer asks every few seconds.

Ready means: the database answers, every Redis store the app is configured with
answers (unless ``READY_NEEDS_REDIS`` is off), and no sysadmin has asked the
node to drain by creating ``DRAIN_FILE``.

Cheap by design. The database gets one statement, ``DO 1`` on MariaDB/MySQL
(it answers with a bare OK packet, where ``SELECT 1`` sends a result set to
parse) and ``SELECT 1`` elsewhere. Redis is asked through the
cache's and the rate limiter's own outage state: while either already knows
Redis is down, it is not asked again until its next probe is due, and that
probe is what brings it back, so a node the balancer took out (and so gets no
other traffic) still notices when Redis returns. A request waits on a failing
Redis at most once (``redis_waits``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from .database_faults import classify
from .extensions import cache, db, limiter
from .resilient_cache import ResilientRedisCache

logger = logging.getLogger(__name__)

Part = Literal["ok", "unavailable"]
RedisPart = Literal["ok", "unavailable", "not used"]


@dataclass(frozen=True)
class Readiness:
    """What the readiness check found."""

    database: Part
    redis: RedisPart
    draining: bool
    # READY_NEEDS_REDIS: whether a Redis outage takes the node out.
    redis_required: bool = True
    # What is wrong, for the log; empty when nothing is.
    cause: str = ""

    @property
    def status(self) -> Literal["ready", "draining", "unavailable"]:
        """The verdict: draining (on purpose) wins over a failed part."""
        if self.draining:
            return "draining"
        if self.database != "ok" or (self.redis == "unavailable" and self.redis_required):
            return "unavailable"
        return "ready"

    @property
    def ready(self) -> bool:
        return self.status == "ready"


def check() -> Readiness:
    """Check this node's database, Redis stores and drain file (inside a request)."""
    database, database_cause = _database()
    redis, redis_cause = _redis()
    draining = drain_requested()
    causes = [cause for cause in (database_cause, redis_cause) if cause]
    if draining:
        causes.insert(0, f"draining: {current_app.config['DRAIN_FILE']} exists")
    readiness = Readiness(
        database, redis, draining, current_app.config["READY_NEEDS_REDIS"], "; ".join(causes)
    )
    _verdicts.note(readiness.cause)
    return readiness


def drain_requested() -> bool:
    """Has a sysadmin asked this node to leave the balancer (``DRAIN_FILE`` exists)?"""
    return Path(current_app.config["DRAIN_FILE"]).exists()


# The cheapest statement each server answers; SELECT 1 where none is listed.
_PROBES = {"mysql": "DO 1", "mariadb": "DO 1"}


def database_problem() -> str | None:
    """Why the database does not answer a statement now, or None when it does.

    Asked on a pooled connection of its own, not through the request's ORM
    session: a check needs no session, and opening and closing one cost the
    health check about 90 µs of its 440. Still one round trip (see
    ``lean_connections``), and a failed check leaves nothing behind: the
    connection goes back to the pool, or is dropped if the server broke it.
    """
    try:
        with db.engine.connect() as connection:
            connection.exec_driver_sql(_PROBES.get(connection.dialect.name, "SELECT 1"))
    except (SQLAlchemyError, OSError) as error:
        fault = classify(error)
        return fault.cause if fault else f"{type(error).__name__}: {error}"
    return None


def _database() -> tuple[Part, str]:
    problem = database_problem()
    if problem is not None:
        return "unavailable", f"database: {problem}"
    return "ok", ""


def _redis() -> tuple[RedisPart, str]:
    """Do the Redis stores in use answer? Each asked at most once, only when due."""
    stores: list[tuple[str, bool]] = []
    backend = cache.cache
    if isinstance(backend, ResilientRedisCache):
        stores.append(("cache", backend.available()))
    if current_app.config["RATELIMIT_ENABLED"] and limiter.uses_redis():
        stores.append(("rate limits", limiter.storage_available()))
    if not stores:
        return "not used", ""
    down = [name for name, answers in stores if not answers]
    if not down:
        return "ok", ""
    return "unavailable", f"Redis ({', '.join(down)}) does not answer"


class _VerdictLog:
    """One log line when this process's verdict changes, not one per check."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cause = ""

    def note(self, cause: str) -> None:
        with self._lock:
            previous, self._cause = self._cause, cause
        if cause == previous:
            return
        if cause:
            logger.warning("readiness: %s", cause)
        else:
            # At the outage's own level, so production's error log shows its end too.
            logger.warning("readiness: ready for traffic again")


_verdicts = _VerdictLog()
