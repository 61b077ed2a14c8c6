"""The OpenAPI 3 document of the API, generated from the marshmallow schemas."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import request

from .. import __version__
from ..extensions import limiter
from ..models import MAX_ID
from . import bp
from .schemas import (
    MAX_PAGE,
    ErrorSchema,
    HealthSchema,
    MeSchema,
    PostCreateSchema,
    PostPageSchema,
    PostSchema,
    PostUpdateSchema,
    TokenSchema,
    UserCreateSchema,
    UserPageSchema,
    UserSchema,
)

API_VERSION = __version__

ERRORS = {
    400: ("BadRequest", "The input is invalid; `errors` holds a message per field."),
    401: ("Unauthorized", "Missing, invalid, expired or revoked credentials."),
    403: ("Forbidden", "Authenticated, but not allowed to do this."),
    404: ("NotFound", "No such resource."),
    409: ("Conflict", "The username or email address is taken."),
    413: ("PayloadTooLarge", "The request body is larger than the server accepts."),
    415: ("UnsupportedMediaType", "The request body is not JSON."),
    429: ("TooManyRequests", "Rate limit reached; retry after the Retry-After delay."),
}

PAGE_PARAMETERS = [
    {
        "name": "page",
        "in": "query",
        "description": "Page number, from 1.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
    },
    {
        "name": "per_page",
        "in": "query",
        "description": "Items per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
]


def _id(name: str, what: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {what}'s id.",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


def _json(schema: str | type, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"$ref": f"#/components/responses/{ERRORS[code][0]}"} for code in codes}


def _body(schema: type) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]
CREATED = {"Location": {"description": "The new resource's URL.", "schema": {"type": "string"}}}

OPERATIONS: dict[str, dict[str, Any]] = {
    "/api/health": {
        "get": {
            "summary": "Health of the application and its database",
            "operationId": "health",
            "tags": ["health"],
            "responses": {
                "200": _json(HealthSchema, "The database answers."),
                "503": _json(HealthSchema, "The database does not answer."),
            },
        }
    },
    "/api/users": {
        "get": {
            "summary": "List users",
            "operationId": "listUsers",
            "tags": ["users"],
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": _json(UserPageSchema, "A page of users."), **_errors(400)},
        },
        "post": {
            "summary": "Register a new account",
            "operationId": "createUser",
            "tags": ["users"],
            "requestBody": _body(UserCreateSchema),
            "responses": {
                "201": {**_json(UserSchema, "The account was created."), "headers": CREATED},
                **_errors(400, 409, 413, 415, 429),
            },
        },
    },
    "/api/users/{user_id}": {
        "get": {
            "summary": "One user",
            "operationId": "getUser",
            "tags": ["users"],
            "parameters": [_id("user_id", "user")],
            "responses": {"200": _json(UserSchema, "The user."), **_errors(404)},
        }
    },
    "/api/users/{user_id}/posts": {
        "get": {
            "summary": "One user's posts, newest first",
            "operationId": "listUserPosts",
            "tags": ["posts"],
            "parameters": [_id("user_id", "user"), *PAGE_PARAMETERS],
            "responses": {"200": _json(PostPageSchema, "A page of posts."), **_errors(400, 404)},
        }
    },
    "/api/me": {
        "get": {
            "summary": "The authenticated user, with their email address",
            "operationId": "getMe",
            "tags": ["users"],
            "security": BEARER,
            "responses": {"200": _json(MeSchema, "You."), **_errors(401)},
        }
    },
    "/api/posts": {
        "get": {
            "summary": "List posts, newest first",
            "operationId": "listPosts",
            "tags": ["posts"],
            "parameters": PAGE_PARAMETERS,
            "responses": {"200": _json(PostPageSchema, "A page of posts."), **_errors(400)},
        },
        "post": {
            "summary": "Publish a post",
            "operationId": "createPost",
            "tags": ["posts"],
            "security": BEARER,
            "requestBody": _body(PostCreateSchema),
            "responses": {
                "201": {**_json(PostSchema, "The post was published."), "headers": CREATED},
                **_errors(400, 401, 413, 415),
            },
        },
    },
    "/api/posts/{post_id}": {
        "get": {
            "summary": "One post",
            "operationId": "getPost",
            "tags": ["posts"],
            "parameters": [_id("post_id", "post")],
            "responses": {"200": _json(PostSchema, "The post."), **_errors(404)},
        },
        "patch": {
            "summary": "Change your post's title or body",
            "operationId": "updatePost",
            "tags": ["posts"],
            "security": BEARER,
            "parameters": [_id("post_id", "post")],
            "requestBody": _body(PostUpdateSchema),
            "responses": {
                "200": _json(PostSchema, "The changed post."),
                **_errors(400, 401, 403, 404, 413, 415),
            },
        },
        "delete": {
            "summary": "Delete your post",
            "operationId": "deletePost",
            "tags": ["posts"],
            "security": BEARER,
            "parameters": [_id("post_id", "post")],
            "responses": {"204": {"description": "Deleted."}, **_errors(401, 403, 404)},
        },
    },
    "/api/tokens": {
        "post": {
            "summary": "Get a bearer token with your username (or email) and password",
            "operationId": "createToken",
            "tags": ["tokens"],
            "security": [{"basicAuth": []}],
            "responses": {"201": _json(TokenSchema, "A new token."), **_errors(401, 429)},
        },
        "delete": {
            "summary": "Revoke the token this request is made with",
            "operationId": "revokeToken",
            "tags": ["tokens"],
            "security": BEARER,
            "responses": {"204": {"description": "Revoked."}, **_errors(401)},
        },
    },
}


@cache
def build_spec() -> dict[str, Any]:
    """The document, without ``servers`` (which depends on where the app is mounted)."""
    spec = APISpec(
        title="Flask Site API",
        version=API_VERSION,
        openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Public reads need no credentials. Writes need a bearer token "
            "from POST /api/tokens. Every error has the Error shape."
        },
    )
    spec.components.security_scheme("basicAuth", {"type": "http", "scheme": "basic"})
    spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Error", schema=ErrorSchema)
    # A PATCH must change something: an empty object is answered with 400.
    spec.components.schema("PostUpdate", {"minProperties": 1}, schema=PostUpdateSchema)
    for name, description in ERRORS.values():
        spec.components.response(name, _json(ErrorSchema, description))
    for path, operations in OPERATIONS.items():
        spec.path(path=path, operations=copy.deepcopy(operations))
    return spec.to_dict()


@bp.get("/openapi.json")
@limiter.exempt
def openapi_document() -> dict[str, Any]:
    """This API's OpenAPI 3 description."""
    document = dict(build_spec())
    document["servers"] = [{"url": request.script_root or "/"}]
    return document
