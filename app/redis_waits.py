"""At most one wait on a failing Redis per request.

The cache and the rate limiter each wait up to ``REDIS_SOCKET_TIMEOUT`` for a
hung Redis before treating it as down, and each tries it again now and then.
Once either has waited (or is about to probe) in a request, neither touches
Redis again for the rest of that request, so a request waits at most one
timeout, however many Redis calls it would otherwise make.
"""

from __future__ import annotations

from flask import g, has_app_context


def waited_on_redis() -> bool:
    """Has this request (or app context) already waited on a failing Redis?"""
    return has_app_context() and bool(g.get("_waited_on_redis", False))


def note_wait_on_redis() -> None:
    """Record that this request waited on Redis, or is about to probe it."""
    if has_app_context():
        g._waited_on_redis = True
