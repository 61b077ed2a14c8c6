"""Every error under /api is JSON of one shape; every response carries a request id."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.models import User
from tests.api.helpers import assert_json_error, new_user_body
from tests.helpers import bearer

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
ONE_MIB = 1024 * 1024


class Boom(RuntimeError):
    pass


SECRET_DETAIL = "db password is hunter2"


def _boom() -> Any:
    raise Boom(SECRET_DETAIL)


@pytest.fixture
def boom_app(app: Flask) -> Flask:
    """The app with a route under /api that fails, and exceptions handled as in production."""
    app.add_url_rule("/api/boom", "boom", _boom)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


# --- The one error shape -------------------------------------------------------------------


def test_400_is_json_with_per_field_errors(client: FlaskClient) -> None:
    body = assert_json_error(client.post("/api/users", json={"username": "ab"}), 400)

    assert set(body["errors"]) == {"username", "email", "password"}
    assert all(isinstance(messages, list) for messages in body["errors"].values())


def test_401_is_json_with_a_challenge(client: FlaskClient) -> None:
    response = client.get("/api/me")

    assert_json_error(response, 401)
    assert "WWW-Authenticate" in response.headers


def test_403_is_json(client: FlaskClient, token: str, bob_token: str) -> None:
    created = client.post("/api/posts", json={"title": "T", "body": "B"}, headers=bearer(token))

    response = client.delete(f"/api/posts/{created.get_json()['id']}", headers=bearer(bob_token))

    assert_json_error(response, 403)


@pytest.mark.parametrize(
    "path", ["/api/users/12345", "/api/whatever", "/api/users/abc", "/api/", "/api"]
)
def test_404_is_json_for_missing_resources_and_unknown_api_urls(
    client: FlaskClient, path: str
) -> None:
    assert_json_error(client.get(path), 404)


def test_404_outside_the_api_stays_an_html_page(client: FlaskClient) -> None:
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("put", "/api/posts", {"GET", "POST"}),
        ("delete", "/api/users", {"GET", "POST"}),
        ("post", "/api/health", {"GET"}),
        ("put", "/api/tokens", {"GET", "POST", "DELETE"}),
        ("patch", "/api/tokens/1", {"DELETE"}),
        ("post", "/api/me", {"GET", "PATCH", "DELETE"}),
        ("put", "/api/posts/1", {"GET", "PATCH", "DELETE"}),
    ],
)
def test_405_is_json_with_an_allow_header(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = getattr(client, method)(path)

    assert_json_error(response, 405)
    assert allowed <= {value.strip() for value in response.headers["Allow"].split(",")}


def test_409_is_json_with_per_field_errors(client: FlaskClient, user: User) -> None:
    body = assert_json_error(client.post("/api/users", json=new_user_body(username="alice")), 409)

    assert set(body["errors"]) == {"username"}


def test_413_is_json_for_a_body_over_one_mib(client: FlaskClient) -> None:
    document = '{"username": "' + "x" * ONE_MIB + '"}'

    response = client.post("/api/users", data=document, content_type="application/json")

    assert_json_error(response, 413)


def test_413_is_json_for_an_authenticated_post_over_one_mib(
    client: FlaskClient, token: str
) -> None:
    document = '{"title": "T", "body": "' + "x" * ONE_MIB + '"}'

    response = client.post(
        "/api/posts", data=document, content_type="application/json", headers=bearer(token)
    )

    assert_json_error(response, 413)


def test_a_body_just_under_one_mib_is_not_413(client: FlaskClient, token: str) -> None:
    document = '{"title": "T", "body": "' + "x" * (ONE_MIB - 100) + '"}'

    response = client.post(
        "/api/posts", data=document, content_type="application/json", headers=bearer(token)
    )

    # Parsed and validated (the body is over 10 000 characters), not refused for size.
    assert set(assert_json_error(response, 400)["errors"]) == {"body"}


def test_415_is_json(client: FlaskClient) -> None:
    assert_json_error(client.post("/api/users", data="x", content_type="text/plain"), 415)


def test_429_is_json_with_retry_after(app: Flask, client: FlaskClient) -> None:
    app.config["RATELIMIT_REGISTER"] = "1 per hour"
    client.post("/api/users", json=new_user_body())

    response = client.post(
        "/api/users", json=new_user_body(username="other", email="other@example.com")
    )

    assert_json_error(response, 429)
    assert int(response.headers["Retry-After"]) > 0


def test_500_is_json_without_the_traceback_or_exception_text(
    boom_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    response = boom_app.test_client().get("/api/boom")

    body = assert_json_error(response, 500)
    text = response.get_data(as_text=True)
    for leak in ("Traceback", "Boom", SECRET_DETAIL, 'File "', ".py"):
        assert leak not in text
    assert set(body) == {"status", "error", "message"}
    assert "X-Request-ID" in response.headers
    # The details go to the log instead.
    assert any(record.exc_info and record.exc_info[0] is Boom for record in caplog.records)


@pytest.mark.parametrize(
    "document",
    [
        pytest.param("[" * 100_000, id="unclosed-arrays"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="closed-arrays"),
        pytest.param('{"a":' * 50_000 + "1" + "}" * 50_000, id="nested-objects"),
    ],
)
def test_deeply_nested_json_is_400_not_500(client: FlaskClient, document: str) -> None:
    response = client.post("/api/users", data=document, content_type="application/json")

    body = assert_json_error(response, 400)
    assert "errors" not in body


def test_deeply_nested_json_in_an_authenticated_patch_is_400(
    client: FlaskClient, token: str
) -> None:
    created = client.post("/api/posts", json={"title": "T", "body": "B"}, headers=bearer(token))

    response = client.patch(
        f"/api/posts/{created.get_json()['id']}",
        data="[" * 100_000,
        content_type="application/json",
        headers=bearer(token),
    )

    assert_json_error(response, 400)


# --- Request ids -----------------------------------------------------------------------------


REQUESTS: dict[str, Callable[[FlaskClient], TestResponse]] = {
    "200": lambda c: c.get("/api/health"),
    "201": lambda c: c.post("/api/users", json=new_user_body()),
    "400": lambda c: c.get("/api/users?page=0"),
    "401": lambda c: c.get("/api/me"),
    "404": lambda c: c.get("/api/whatever"),
    "405": lambda c: c.put("/api/posts"),
    "413": lambda c: c.post(
        "/api/users", data="x" * (ONE_MIB + 1), content_type="application/json"
    ),
    "415": lambda c: c.post("/api/users", data="x"),
    "openapi": lambda c: c.get("/api/openapi.json"),
}


@pytest.mark.parametrize("name", list(REQUESTS))
def test_every_api_response_has_a_request_id(client: FlaskClient, name: str) -> None:
    response = REQUESTS[name](client)

    assert REQUEST_ID.match(response.headers.get("X-Request-ID", ""))


def test_500_response_has_a_request_id(boom_app: Flask) -> None:
    response = boom_app.test_client().get("/api/boom")

    assert REQUEST_ID.match(response.headers.get("X-Request-ID", ""))


def test_429_response_has_a_request_id(app: Flask, client: FlaskClient) -> None:
    app.config["RATELIMIT_REGISTER"] = "1 per hour"
    client.post("/api/users", json=new_user_body())

    response = client.post(
        "/api/users", json=new_user_body(username="other", email="other@example.com")
    )

    assert response.status_code == 429
    assert REQUEST_ID.match(response.headers.get("X-Request-ID", ""))


def test_each_request_gets_its_own_request_id(client: FlaskClient) -> None:
    ids = {client.get("/api/health").headers["X-Request-ID"] for _ in range(3)}

    assert len(ids) == 3


def test_a_plain_incoming_request_id_is_echoed(client: FlaskClient) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": "lb-1234.abc:def@x"})

    assert response.headers["X-Request-ID"] == "lb-1234.abc:def@x"


@pytest.mark.parametrize("incoming", ["has spaces", 'quote"s', "x" * 129, "semi;colon"])
def test_an_unsafe_incoming_request_id_is_replaced(client: FlaskClient, incoming: str) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": incoming})

    assert response.headers["X-Request-ID"] != incoming
    assert REQUEST_ID.match(response.headers["X-Request-ID"])
