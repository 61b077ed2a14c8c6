"""Liveness and database health, for load balancers and monitoring."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..database_faults import classify, retry_after, rollback_quietly
from ..extensions import db, limiter
from . import bp
from .operations import Reply, operation
from .schemas import HealthSchema


@bp.get("/health")
@limiter.exempt
@operation(
    replies={
        200: Reply(HealthSchema, "The database answers."),
        503: Reply(HealthSchema, "The database does not answer."),
    }
)
def health() -> tuple[dict[str, str], int] | tuple[dict[str, str], int, dict[str, str]]:
    """Health of the application and its database."""
    try:
        db.session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as error:
        rollback_quietly(db.session)
        fault = classify(error)
        cause = fault.cause if fault else f"{type(error).__name__}: {error}"
        current_app.logger.warning("health check: the database did not answer: %s", cause)
        headers = {"Retry-After": str(retry_after())}
        return {"status": "unhealthy", "database": "unavailable"}, 503, headers
    return {"status": "healthy", "database": "ok"}, 200
