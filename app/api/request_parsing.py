"""Reading what a client sent: the JSON body and the query string, checked by a schema.

Anything unusable becomes an ApiError a client can act on (400 with per-field
messages, 415 for a body that is not JSON), never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from .errors import ApiError


def json_body() -> Any:
    """The request's JSON document, or an ApiError a client can act on."""
    if not request.is_json:
        raise ApiError(415, "Send the request body as JSON with Content-Type: application/json.")
    try:
        data = request.get_json()
    except RecursionError:
        raise ApiError(400, "The JSON document is nested too deeply.") from None
    except UnsupportedMediaType:
        raise ApiError(415, "Send the request body as JSON.") from None
    except BadRequest:
        raise ApiError(400, "The request body is not valid JSON.") from None
    try:
        # JSON may escape lone UTF-16 surrogates ("\ud800") that no database
        # or password hash accepts.
        json.dumps(data, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ApiError(400, "The JSON document holds text that is not valid Unicode.") from None
    return data


def load_body(schema: Schema) -> dict[str, Any]:
    """Validate the JSON body with ``schema``; 400 with per-field messages if it fails."""
    data = json_body()
    if not isinstance(data, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return _load(schema, data, "The request body is invalid.")


def load_optional_body(schema: Schema) -> dict[str, Any]:
    """Like ``load_body``, but an empty request body stands for ``{}`` (the schema's defaults)."""
    if not request.get_data(cache=True):
        return _load(schema, {}, "The request body is invalid.")
    return load_body(schema)


def load_args(schema: Schema) -> dict[str, Any]:
    """Validate the query string with ``schema``; unknown arguments are ignored."""
    return _load(schema, request.args.to_dict(), "The query string is invalid.")


def _load(schema: Schema, data: dict[str, Any], message: str) -> dict[str, Any]:
    try:
        result: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise ApiError(400, message, messages) from None
    return result
