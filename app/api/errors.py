"""The API's one error shape: ``{"status", "error", "message"[, "errors"]}``."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.wrappers import Response
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES


class ApiError(HTTPException):
    """An HTTP error with optional per-field messages, rendered as JSON."""

    def __init__(self, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(description=message)
        self.code = code
        self.errors = errors


def error_response(
    status: int, message: str | None = None, errors: dict[str, Any] | None = None
) -> Response:
    """A JSON error: ``{"status", "error", "message"[, "errors"]}``."""
    body: dict[str, Any] = {
        "status": status,
        "error": HTTP_STATUS_CODES.get(status, "Error"),
        "message": message or HTTP_STATUS_CODES.get(status, "Error"),
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    return response
