"""Health and readiness checks, for monitoring and load balancers.

``/api/health`` says whether the app answers and its database does; it is what
monitoring watches. ``/api/ready`` says whether this node should get traffic:
the database and Redis answer, and no sysadmin is draining it. Both are exempt
from rate limits (a balancer asks every few seconds from one address) and
never cached: an old answer about a node's state is a wrong one.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .. import readiness
from ..database_faults import retry_after
from ..extensions import limiter
from . import bp
from .operations import Reply, operation
from .schemas import HealthSchema, ReadinessSchema

NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/health")
@limiter.exempt
@operation(
    replies={
        200: Reply(HealthSchema, "The database answers."),
        503: Reply(HealthSchema, "The database does not answer.", headers=("Retry-After",)),
    }
)
def health() -> tuple[dict[str, str], int, dict[str, str]]:
    """Health of the application and its database."""
    problem = readiness.database_problem()
    if problem is not None:
        current_app.logger.warning("health check: the database did not answer: %s", problem)
        headers = {**NO_STORE, "Retry-After": str(retry_after())}
        return {"status": "unhealthy", "database": "unavailable"}, 503, headers
    return {"status": "healthy", "database": "ok"}, 200, NO_STORE


@bp.get("/ready")
@limiter.exempt
@operation(
    replies={
        200: Reply(ReadinessSchema, "Ready: the balancer may send this node traffic."),
        503: Reply(
            ReadinessSchema,
            "Not ready: draining on purpose, or a part it needs does not answer.",
            headers=("Retry-After",),
        ),
    }
)
def ready() -> tuple[Any, int, dict[str, str]]:
    """Whether this node should get traffic from the load balancer."""
    found = readiness.check()
    if found.ready:
        return found, 200, NO_STORE
    return found, 503, {**NO_STORE, "Retry-After": str(retry_after())}
