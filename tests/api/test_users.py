"""Users: the paginated list, one user, /api/me, and registration with POST /api/users."""

from __future__ import annotations

import http.client
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app import create_app
from app.extensions import db
from app.models import User
from tests.api.helpers import (
    LINK_KEYS,
    PAGE_KEYS,
    USER_KEYS,
    assert_json_error,
    aware,
    create_post,
    field_errors,
    get_token,
    link_parts,
    new_user_body,
)
from tests.helpers import SiteSession, bearer, make_user

pytestmark = pytest.mark.db


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def make_users(count: int) -> list[User]:
    return [make_user(f"user{number:02d}") for number in range(count)]


# --- GET /api/users ------------------------------------------------------------------


def test_list_users_returns_every_user_oldest_first_in_a_page_envelope(
    client: FlaskClient,
) -> None:
    users = make_users(3)

    response = client.get("/api/users")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PAGE_KEYS
    assert [item["id"] for item in body["items"]] == [user.id for user in users]
    assert [item["username"] for item in body["items"]] == ["user00", "user01", "user02"]
    for item in body["items"]:
        assert set(item) == USER_KEYS
        aware(item["created_at"])
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 3, 1)
    assert set(body["links"]) == LINK_KEYS
    assert body["links"]["next"] is None
    assert body["links"]["prev"] is None


def test_list_users_of_an_empty_site_is_one_empty_page(client: FlaskClient) -> None:
    body = client.get("/api/users").get_json()

    assert body["items"] == []
    assert (body["page"], body["total"], body["pages"]) == (1, 0, 1)


def test_list_users_middle_page_links_to_self_first_last_next_and_prev(
    client: FlaskClient,
) -> None:
    users = make_users(5)

    body = client.get("/api/users?page=2&per_page=2").get_json()

    assert [item["id"] for item in body["items"]] == [users[2].id, users[3].id]
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (2, 2, 5, 3)
    links = body["links"]
    for name, page in {"self": 2, "first": 1, "last": 3, "next": 3, "prev": 1}.items():
        assert link_parts(links[name]) == ("/api/users", {"page": [str(page)], "per_page": ["2"]})


def test_list_users_following_next_then_prev_links_walks_the_pages(client: FlaskClient) -> None:
    users = make_users(5)

    first = client.get("/api/users?per_page=2").get_json()
    second = client.get(first["links"]["next"]).get_json()
    third = client.get(second["links"]["next"]).get_json()
    back = client.get(third["links"]["prev"]).get_json()

    assert first["links"]["prev"] is None
    assert [item["id"] for item in third["items"]] == [users[4].id]
    assert third["links"]["next"] is None
    assert back == second
    seen = [item["id"] for page in (first, second, third) for item in page["items"]]
    assert seen == [user.id for user in users]


def test_list_users_accepts_per_page_up_to_100(client: FlaskClient) -> None:
    make_users(3)

    body = client.get("/api/users?per_page=100").get_json()

    assert body["per_page"] == 100
    assert len(body["items"]) == 3


def test_list_users_page_past_the_end_is_200_with_no_items(client: FlaskClient) -> None:
    make_users(3)

    response = client.get("/api/users?page=3&per_page=2")

    assert response.status_code == 200
    body = response.get_json()
    assert body["items"] == []
    assert (body["page"], body["total"], body["pages"]) == (3, 3, 2)
    assert body["links"]["next"] is None


def test_prev_from_far_past_the_end_leads_to_the_last_page(client: FlaskClient) -> None:
    make_users(3)
    body = client.get("/api/users?page=50&per_page=2").get_json()
    assert body["links"]["prev"] == "/api/users?page=2&per_page=2"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("per_page=abc", "per_page"),
        ("per_page=", "per_page"),
        ("per_page=2.5", "per_page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        # Far beyond any page: 400, not a database overflow (500).
        ("page=99999999999999999999999", "page"),
    ],
)
def test_list_users_bad_paging_argument_is_400_naming_the_field(
    client: FlaskClient, user: User, query: str, field: str
) -> None:
    errors = field_errors(client.get(f"/api/users?{query}"))

    assert set(errors) == {field}


def test_list_users_reports_both_bad_paging_arguments_at_once(client: FlaskClient) -> None:
    errors = field_errors(client.get("/api/users?page=0&per_page=1000"))

    assert set(errors) == {"page", "per_page"}


def test_list_users_ignores_unknown_query_arguments(client: FlaskClient, user: User) -> None:
    response = client.get("/api/users?sort=email&fields=email")

    assert response.status_code == 200
    assert response.get_json()["total"] == 1


# --- GET /api/users/<id> and /api/me ---------------------------------------------------


def test_get_user_returns_the_public_representation(client: FlaskClient, user: User) -> None:
    response = client.get(f"/api/users/{user.id}")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == USER_KEYS
    assert (body["id"], body["username"]) == (user.id, "alice")
    assert aware(body["created_at"]) == user.created_at


def test_get_missing_user_is_404_json(client: FlaskClient, user: User) -> None:
    missing = user.id + 1000

    body = assert_json_error(client.get(f"/api/users/{missing}"), 404)

    assert str(missing) in body["message"]


@pytest.mark.parametrize("user_id", ["0", "2147483648", "99999999999999999999999"])
def test_get_user_with_an_id_no_row_can_have_is_404_not_500(
    client: FlaskClient, user: User, user_id: str
) -> None:
    assert_json_error(client.get(f"/api/users/{user_id}"), 404)
    assert_json_error(client.get(f"/api/users/{user_id}/posts"), 404)


@pytest.mark.parametrize("user_id", ["-1", "abc", "1.5"])
def test_get_user_with_a_non_integer_id_is_404_json(client: FlaskClient, user_id: str) -> None:
    assert_json_error(client.get(f"/api/users/{user_id}"), 404)


def test_email_addresses_never_appear_in_public_representations(
    client: FlaskClient, user: User, token: str
) -> None:
    post = create_post(client, token)

    responses = [
        client.get("/api/users"),
        client.get(f"/api/users/{user.id}"),
        client.get("/api/posts"),
        client.get(f"/api/posts/{post['id']}"),
        client.get(f"/api/users/{user.id}/posts"),
    ]

    for response in responses:
        assert response.status_code == 200
        assert "email" not in response.get_data(as_text=True)
        assert "alice@example.com" not in response.get_data(as_text=True)
    assert set(responses[2].get_json()["items"][0]["author"]) == {"id", "username"}


def test_me_returns_the_token_owner_with_their_email(
    client: FlaskClient, user: User, token: str
) -> None:
    response = client.get("/api/me", headers=bearer(token))

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == USER_KEYS | {"email"}
    assert (body["id"], body["username"], body["email"]) == (
        user.id,
        "alice",
        "alice@example.com",
    )


def test_me_answers_for_whoever_owns_the_token(
    client: FlaskClient, token: str, bob_token: str
) -> None:
    assert client.get("/api/me", headers=bearer(token)).get_json()["username"] == "alice"
    assert client.get("/api/me", headers=bearer(bob_token)).get_json()["username"] == "bob"


def test_me_without_a_token_is_401_with_a_bearer_challenge(client: FlaskClient) -> None:
    response = client.get("/api/me")

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


# --- POST /api/users -------------------------------------------------------------------


def test_create_user_is_201_with_a_location_that_resolves_to_the_user(
    client: FlaskClient,
) -> None:
    response = client.post("/api/users", json=new_user_body())

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_KEYS
    assert body["username"] == "ada_l"
    aware(body["created_at"])
    location = response.headers["Location"]
    assert location.endswith(f"/api/users/{body['id']}")
    fetched = client.get(location)
    assert fetched.status_code == 200
    assert fetched.get_json() == body


def test_created_user_can_get_a_token_with_the_password(client: FlaskClient) -> None:
    client.post("/api/users", json=new_user_body(password="my secret passphrase"))

    token = get_token(client, "ada_l", "my secret passphrase")

    assert client.get("/api/me", headers=bearer(token)).get_json()["username"] == "ada_l"


def test_create_user_stores_the_email_lower_cased(client: FlaskClient) -> None:
    response = client.post(
        "/api/users", json=new_user_body(username="Ada_L", email="Ada.Lovelace@Example.COM")
    )

    assert response.status_code == 201
    assert response.get_json()["username"] == "Ada_L"
    stored = db.session.scalar(select(User).where(User.id == response.get_json()["id"]))
    assert stored is not None
    assert stored.email == "ada.lovelace@example.com"


def test_create_user_never_returns_the_password_or_its_hash(client: FlaskClient) -> None:
    response = client.post("/api/users", json=new_user_body(password="a very secret phrase"))

    text = response.get_data(as_text=True)
    assert "a very secret phrase" not in text
    assert "password" not in text
    assert "scrypt" not in text


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_create_user_without_a_field_is_400_naming_it(client: FlaskClient, missing: str) -> None:
    body = new_user_body()
    del body[missing]

    errors = field_errors(client.post("/api/users", json=body))

    assert errors == {missing: ["Missing data for required field."]}
    assert user_count() == 0


def test_create_user_with_an_empty_object_names_every_required_field(
    client: FlaskClient,
) -> None:
    errors = field_errors(client.post("/api/users", json={}))

    assert set(errors) == {"username", "email", "password"}


@pytest.mark.parametrize("field", ["username", "email", "password"])
@pytest.mark.parametrize("value", [42, None, ["a list", "of strings"], {"an": "object"}, True])
def test_create_user_with_a_field_of_the_wrong_type_is_400_naming_it(
    client: FlaskClient, field: str, value: Any
) -> None:
    errors = field_errors(client.post("/api/users", json=new_user_body(**{field: value})))

    assert set(errors) == {field}
    assert user_count() == 0


@pytest.mark.parametrize(
    "username",
    [
        "",
        "ab",
        "a" * 33,
        "has space",
        "slash/name",
        "at@sign",
        "émile",
        "tab\tname",
        "newline\n",
        " padded ",
    ],
)
def test_create_user_with_an_invalid_username_is_400(client: FlaskClient, username: str) -> None:
    errors = field_errors(client.post("/api/users", json=new_user_body(username=username)))

    assert set(errors) == {"username"}
    assert user_count() == 0


@pytest.mark.parametrize("username", ["abc", "a" * 32, "Ada.L-ove_1"])
def test_create_user_accepts_usernames_at_the_limits(client: FlaskClient, username: str) -> None:
    response = client.post("/api/users", json=new_user_body(username=username))

    assert response.status_code == 201
    assert response.get_json()["username"] == username


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "ada@", "@example.com", "ada@@example.com", "ada lovelace@example.com", ""],
)
def test_create_user_with_an_invalid_email_is_400(client: FlaskClient, email: str) -> None:
    errors = field_errors(client.post("/api/users", json=new_user_body(email=email)))

    assert set(errors) == {"email"}
    assert user_count() == 0


@pytest.mark.parametrize("length", [0, 11, 129])
def test_create_user_with_a_password_of_the_wrong_length_is_400(
    client: FlaskClient, length: int
) -> None:
    errors = field_errors(client.post("/api/users", json=new_user_body(password="p" * length)))

    assert set(errors) == {"password"}
    assert user_count() == 0


@pytest.mark.parametrize("length", [12, 128])
def test_create_user_accepts_passwords_of_12_and_128_characters(
    client: FlaskClient, length: int
) -> None:
    password = "p" * length

    response = client.post("/api/users", json=new_user_body(password=password))

    assert response.status_code == 201
    get_token(client, "ada_l", password)


@pytest.mark.parametrize("extra", [{"is_admin": True}, {"id": 1}, {"password_hash": "x"}])
def test_create_user_with_an_unknown_field_is_400_naming_it(
    client: FlaskClient, extra: dict[str, Any]
) -> None:
    errors = field_errors(client.post("/api/users", json={**new_user_body(), **extra}))

    assert errors == {name: ["Unknown field."] for name in extra}
    assert user_count() == 0


@pytest.mark.parametrize("username", ["alice", "ALICE", "Alice"])
def test_create_user_with_a_taken_username_in_any_case_is_409(
    client: FlaskClient, user: User, username: str
) -> None:
    response = client.post(
        "/api/users", json=new_user_body(username=username, email="other@example.com")
    )

    body = assert_json_error(response, 409)
    assert set(body["errors"]) == {"username"}
    assert user_count() == 1


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"])
def test_create_user_with_a_taken_email_in_any_case_is_409(
    client: FlaskClient, user: User, email: str
) -> None:
    response = client.post("/api/users", json=new_user_body(username="other", email=email))

    body = assert_json_error(response, 409)
    assert set(body["errors"]) == {"email"}
    assert user_count() == 1


def test_create_user_with_taken_username_and_email_names_both(
    client: FlaskClient, user: User
) -> None:
    response = client.post(
        "/api/users", json=new_user_body(username="Alice", email="alice@example.com")
    )

    assert set(assert_json_error(response, 409)["errors"]) == {"username", "email"}


@pytest.mark.parametrize(
    "request_kwargs",
    [
        pytest.param({"data": new_user_body()}, id="form-data"),
        pytest.param(
            {"data": '{"username": "ada_l"}', "content_type": "text/plain"}, id="text-plain"
        ),
        pytest.param({"data": '{"username": "ada_l"}'}, id="no-content-type"),
        pytest.param({}, id="no-body"),
    ],
)
def test_create_user_with_a_body_that_is_not_json_is_415(
    client: FlaskClient, request_kwargs: dict[str, Any]
) -> None:
    assert_json_error(client.post("/api/users", **request_kwargs), 415)
    assert user_count() == 0


@pytest.mark.parametrize(
    "document",
    [b'{"username": ', b"{'single': 'quotes'}", b"", b'{"username": "\xff"}', b"{} trailing"],
)
def test_create_user_with_malformed_json_is_400(client: FlaskClient, document: bytes) -> None:
    response = client.post("/api/users", data=document, content_type="application/json")

    body = assert_json_error(response, 400)
    assert "errors" not in body


@pytest.mark.parametrize("document", ['[{"username": "ada_l"}]', '"ada_l"', "42", "null"])
def test_create_user_with_json_that_is_not_an_object_is_400(
    client: FlaskClient, document: str
) -> None:
    response = client.post("/api/users", data=document, content_type="application/json")

    body = assert_json_error(response, 400)
    assert "object" in body["message"]
    assert user_count() == 0


def test_create_user_accepts_json_with_a_charset_parameter(client: FlaskClient) -> None:
    response = client.post(
        "/api/users",
        data='{"username": "ada_l", "email": "ada@example.com", "password": "long enough pw"}',
        content_type="application/json; charset=utf-8",
    )

    assert response.status_code == 201


def test_new_user_shows_up_in_the_very_next_user_list(client: FlaskClient, user: User) -> None:
    assert client.get("/api/users").get_json()["total"] == 1

    created = client.post("/api/users", json=new_user_body()).get_json()

    body = client.get("/api/users").get_json()
    assert body["total"] == 2
    assert body["items"][-1] == created


def test_deleted_user_disappears_from_the_user_list_and_lookups(
    app: Flask, client: FlaskClient, user: User, bob: User
) -> None:
    assert client.get("/api/users").get_json()["total"] == 2
    bob_id = bob.id

    db.session.delete(bob)
    db.session.commit()

    body = client.get("/api/users").get_json()
    assert [item["username"] for item in body["items"]] == ["alice"]
    assert_json_error(client.get(f"/api/users/{bob_id}"), 404)


# --- registration limits -------------------------------------------------------------


def test_refused_registrations_leave_the_limit_for_a_correct_one(client: FlaskClient) -> None:
    for _ in range(10):
        assert_json_error(client.post("/api/users", json=new_user_body(email="nope")), 400)

    assert client.post("/api/users", json=new_user_body()).status_code == 201


def test_accounts_created_on_the_site_and_the_api_share_one_limit(
    app: Flask, client: FlaskClient
) -> None:
    for number in range(5):
        body = new_user_body(username=f"api{number}", email=f"api{number}@example.com")
        assert client.post("/api/users", json=body).status_code == 201
    for number in range(5):
        site = SiteSession(app.test_client())
        assert site.register(f"site{number}").status_code == 302

    response = client.post("/api/users", json=new_user_body())

    body = assert_json_error(response, 429)
    assert "10 per 1 hour" in body["message"]
    assert int(response.headers["Retry-After"]) > 0
    assert user_count() == 10


def test_the_attempts_limit_stops_a_client_that_only_sends_refused_registrations(
    app: Flask, client: FlaskClient
) -> None:
    assert app.config["RATELIMIT_REGISTER_ATTEMPTS"] == "50 per hour"
    for _ in range(50):
        assert_json_error(client.post("/api/users", json=new_user_body(email="nope")), 400)

    response = client.post("/api/users", json=new_user_body())

    body = assert_json_error(response, 429)
    assert "50 per 1 hour" in body["message"]
    assert user_count() == 0


def test_registrations_sent_at_once_cannot_pass_the_limit_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit is counted where the account is made: 30 at once still create 10."""
    monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{tmp_path / 'race.db'}")
    app = create_app("testing")
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    start = threading.Barrier(30)

    def register(number: int) -> int:
        body = json.dumps(new_user_body(username=f"racer{number}", email=f"r{number}@example.com"))
        connection = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=60)
        start.wait()
        connection.request("POST", "/api/users", body, {"Content-Type": "application/json"})
        status = connection.getresponse().status
        connection.close()
        return status

    try:
        with ThreadPoolExecutor(max_workers=30) as pool:
            statuses = sorted(pool.map(register, range(30)))
    finally:
        server.shutdown()
        with app.app_context():
            db.engine.dispose()

    assert statuses == [201] * 10 + [429] * 20
