"""Liveness and database health, for load balancers and monitoring."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db, limiter
from . import bp


@bp.get("/health")
@limiter.exempt
def health() -> tuple[dict[str, str], int]:
    """200 when the database answers a query, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):
        db.session.rollback()
        current_app.logger.warning("health check: the database did not answer", exc_info=True)
        return {"status": "unhealthy", "database": "unavailable"}, 503
    return {"status": "healthy", "database": "ok"}, 200
