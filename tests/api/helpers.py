"""Helpers shared by the API tests (imported as ``tests.api.helpers``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.test import TestResponse

from tests.helpers import PASSWORD, basic_auth, bearer

ERROR_KEYS = {"status", "error", "message"}
PAGE_KEYS = {"items", "page", "per_page", "total", "pages", "links"}
LINK_KEYS = {"self", "first", "last", "next", "prev"}
USER_KEYS = {"id", "username", "display_name", "bio", "bio_html", "created_at"}
POST_KEYS = {"id", "title", "body", "body_html", "author", "created_at", "updated_at"}


def assert_json_error(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert ``response`` is the API's one error shape for ``status``; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body, dict)
    assert ERROR_KEYS <= set(body) <= ERROR_KEYS | {"errors"}
    assert body["status"] == status
    assert body["error"] == HTTP_STATUS_CODES[status]
    assert isinstance(body["message"], str)
    assert body["message"]
    if "errors" in body:
        assert isinstance(body["errors"], dict)
        assert body["errors"]
    return body


def field_errors(response: TestResponse) -> dict[str, Any]:
    """The per-field messages of a 400 response."""
    body = assert_json_error(response, 400)
    assert "errors" in body, body
    return body["errors"]


def aware(timestamp: str) -> datetime:
    """Parse an ISO 8601 timestamp and insist that it carries a timezone offset."""
    value = datetime.fromisoformat(timestamp)
    assert value.tzinfo is not None, f"{timestamp!r} has no timezone offset"
    return value


def link_parts(link: str) -> tuple[str, dict[str, list[str]]]:
    """The path and the parsed query string of a pagination link."""
    parts = urlsplit(link)
    return parts.path, parse_qs(parts.query)


def get_token(client: FlaskClient, login: str, password: str = PASSWORD) -> str:
    response = client.post("/api/tokens", headers=basic_auth(login, password))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["token"]


def create_post(
    client: FlaskClient, token: str, title: str = "A title", body: str = "Some text."
) -> dict[str, Any]:
    """Publish a post through the API; return its JSON representation."""
    response = client.post("/api/posts", json={"title": title, "body": body}, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def new_user_body(**overrides: Any) -> dict[str, Any]:
    """A valid POST /api/users body, with ``overrides`` applied."""
    body: dict[str, Any] = {
        "username": "ada_l",
        "email": "ada@example.com",
        "password": "a long enough password",
    }
    body.update(overrides)
    return body
