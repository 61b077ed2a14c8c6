"""The OpenAPI 3 document of the API, built from the operations declared on its views.

Nothing here names an endpoint: every route of the ``api`` blueprint is read
from the URL map, and its ``@operation`` (see ``operations.py``) says what it
takes and answers. A route without one is a programming error, reported when
the document is first built.

The document is built, and apispec imported, on the first request for it, not
when a server process starts: few processes are ever asked for it, and it and
apispec cost each of them about 0.4 MiB. That first request waits some 10 ms.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, current_app, request
from marshmallow import Schema
from werkzeug.routing import Rule

from .. import __version__
from ..extensions import limiter
from . import bp
from .docs import DOCS_ENDPOINT
from .operations import HEADERS, Operation, operation_of
from .schemas import ErrorSchema

ERRORS = {
    400: ("BadRequest", "The input is invalid; `errors` holds a message per field."),
    401: ("Unauthorized", "Missing, invalid, expired or revoked credentials."),
    403: (
        "Forbidden",
        "Authenticated, but not allowed to do this, or the password given to confirm it is wrong.",
    ),
    404: ("NotFound", "No such resource."),
    409: ("Conflict", "The username or email address is taken."),
    413: ("PayloadTooLarge", "The request body is larger than the server accepts."),
    415: ("UnsupportedMediaType", "The request body is not JSON."),
    429: ("TooManyRequests", "Rate limit reached; retry after the Retry-After delay."),
    503: (
        "ServiceUnavailable",
        "A mail the operation sends could not be sent: nothing changed; try again later.",
    ),
}
SECURITY_SCHEMES = {"bearer": "bearerAuth", "basic": "basicAuth"}
# <converter(arguments):name> or <name> in a Werkzeug rule.
RULE_VARIABLE = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
DOCUMENT_ENDPOINT = "api.openapi_document"
# Routes of the blueprint that are about the API, not part of it: the
# document itself and its page for people (``docs.py``).
NOT_OPERATIONS = frozenset({DOCUMENT_ENDPOINT, DOCS_ENDPOINT})


def _json(schema: type[Schema] | str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_and_parameters(rule: Rule, app: Flask) -> tuple[str, list[dict[str, Any]]]:
    """``/api/posts/<id:post_id>`` as ``/api/posts/{post_id}``, with its parameters."""
    parameters = []
    for match in RULE_VARIABLE.finditer(rule.rule):
        name, converter = match["name"], app.url_map.converters[match["converter"] or "default"]
        parameters.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": f"The {name.removesuffix('_id').replace('_', ' ')}'s id.",
                "schema": getattr(converter, "openapi_schema", {"type": "string"}),
            }
        )
    return RULE_VARIABLE.sub(r"{\g<name>}", rule.rule), parameters


def _operation_document(described: Operation, path_parameters: list[Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, reply in sorted(described.replies.items()):
        description = reply.describe(status)
        response: dict[str, Any] = {"description": description}
        if reply.schema is not None:
            response = _json(reply.schema, description)
        if reply.headers:
            response["headers"] = {
                name: {"description": HEADERS[name], "schema": {"type": "string"}}
                for name in reply.headers
            }
        responses[str(status)] = response
    codes = set(described.error_codes) | ({404} if path_parameters else set())
    for code in sorted(codes):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERRORS[code][0]}"}
    document: dict[str, Any] = {
        "summary": described.summary,
        "operationId": described.operation_id,
        "tags": [described.tag],
        "responses": responses,
    }
    parameters = list(path_parameters)
    if described.query is not None:
        parameters.append({"in": "query", "schema": described.query})
    if parameters:
        document["parameters"] = parameters
    if described.body is not None:
        document["requestBody"] = {
            "required": described.body_required,
            "content": {"application/json": {"schema": described.body}},
        }
    if described.auth is not None:
        document["security"] = [{SECURITY_SCHEMES[described.auth]: []}]
    return document


def build_document(app: Flask) -> dict[str, Any]:
    """The document for ``app``'s API routes, without ``servers`` (that depends on the mount)."""
    from apispec import APISpec
    from apispec.ext.marshmallow import MarshmallowPlugin

    spec = APISpec(
        title="Flask Site API",
        version=__version__,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Public reads need no credentials. Writes need a bearer token "
            "from POST /api/tokens. Every error has the Error shape."
        },
    )
    for scheme, name in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, {"type": "http", "scheme": scheme})
    spec.components.schema("Error", schema=ErrorSchema)
    for name, description in ERRORS.values():
        spec.components.response(name, _json(ErrorSchema, description))

    for rule in app.url_map.iter_rules():
        if rule.endpoint.partition(".")[0] != bp.name or rule.endpoint in NOT_OPERATIONS:
            continue
        described = operation_of(app.view_functions[rule.endpoint])
        if described is None:
            raise LookupError(f"API route {rule.rule} ({rule.endpoint}) has no @operation")
        for schema in (described.body, described.query):
            extra = getattr(schema, "openapi_extra", None)
            name = schema.__name__.removesuffix("Schema") if schema else ""
            if extra and name not in spec.components.schemas:
                spec.components.schema(name, extra, schema=schema)
        path, parameters = _path_and_parameters(rule, app)
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        spec.path(
            path=path,
            operations={
                method.lower(): _operation_document(described, parameters) for method in methods
            },
        )
    return spec.to_dict()


def cache_document(app: Flask) -> None:
    """Build ``app``'s document once, into ``app.extensions``."""
    if "openapi_document" not in app.extensions:
        app.extensions["openapi_document"] = build_document(app)


@bp.get("/openapi.json")
@limiter.exempt
def openapi_document() -> Response:
    """This API's OpenAPI 3 description."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cache_document(app)
    # Serialized once per mount point (SCRIPT_NAME comes from the server's
    # configuration, not from the client), not on every request.
    serialized: dict[str, bytes] = app.extensions.setdefault("openapi_json", {})
    mount = request.script_root or "/"
    if mount not in serialized:
        document = {**app.extensions["openapi_document"], "servers": [{"url": mount}]}
        serialized[mount] = app.json.response(document).get_data()
    return app.response_class(serialized[mount], mimetype=app.json.mimetype)
