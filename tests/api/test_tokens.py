"""Bearer tokens: obtained with HTTP Basic, stored hashed, revoked, rate limited."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

from app.extensions import db
from app.models import TOKEN_PREFIX_LENGTH, ApiToken, Post, User
from app.validation import DEFAULT_TOKEN_LABEL, TOKEN_LABEL_MAX
from tests.api.helpers import assert_json_error, aware, field_errors, get_token
from tests.helpers import PASSWORD, SiteSession, basic_auth, bearer, fresh, make_user

pytestmark = pytest.mark.db

TOKEN_KEYS = {"id", "label", "prefix", "token", "token_type", "created_at", "expires_at"}


@pytest.mark.parametrize("login", ["alice", "Alice", "alice@example.com", "ALICE@Example.com"])
def test_create_token_with_username_or_email_in_any_case_is_201(
    client: FlaskClient, user: User, login: str
) -> None:
    response = client.post("/api/tokens", headers=basic_auth(login))

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer"
    assert isinstance(body["token"], str)
    assert len(body["token"]) >= 32
    me = client.get("/api/me", headers=bearer(body["token"]))
    assert me.get_json()["username"] == "alice"


def test_token_expires_in_the_future_after_the_configured_lifetime(
    app: Flask, client: FlaskClient, user: User
) -> None:
    before = datetime.now(UTC)

    body = client.post("/api/tokens", headers=basic_auth("alice")).get_json()

    expires_at = aware(body["expires_at"])
    lifetime = app.config["API_TOKEN_LIFETIME"]
    assert expires_at > datetime.now(UTC)
    # MariaDB keeps whole seconds: allow for the truncation.
    assert before + lifetime - timedelta(seconds=1) <= expires_at
    assert expires_at <= datetime.now(UTC) + lifetime


def test_each_request_gets_a_new_token_and_all_of_them_work(
    client: FlaskClient, user: User
) -> None:
    first = get_token(client, "alice")
    second = get_token(client, "alice")

    assert first != second
    for token in (first, second):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_wrong_password_and_unknown_user_get_the_same_401_and_basic_challenge(
    client: FlaskClient, user: User
) -> None:
    wrong_password = client.post("/api/tokens", headers=basic_auth("alice", "not the password"))
    unknown_user = client.post("/api/tokens", headers=basic_auth("nobody", PASSWORD))
    unknown_email = client.post("/api/tokens", headers=basic_auth("nobody@example.com", PASSWORD))

    bodies = [assert_json_error(r, 401) for r in (wrong_password, unknown_user, unknown_email)]
    assert bodies[0] == bodies[1] == bodies[2]
    challenges = {r.headers["WWW-Authenticate"] for r in (wrong_password, unknown_user)}
    assert len(challenges) == 1
    assert challenges.pop().startswith("Basic ")
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-authorization"),
        pytest.param({"Authorization": "Basic"}, id="basic-without-credentials"),
        pytest.param({"Authorization": "Basic !!!not-base64!!!"}, id="basic-garbage"),
        pytest.param(basic_auth("", PASSWORD), id="empty-username"),
        pytest.param({"Authorization": "Bearer sometoken"}, id="bearer-instead-of-basic"),
    ],
)
def test_create_token_without_usable_basic_credentials_is_401_with_basic_challenge(
    client: FlaskClient, user: User, headers: dict[str, str]
) -> None:
    response = client.post("/api/tokens", headers=headers)

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_a_valid_token_cannot_be_exchanged_for_another(client: FlaskClient, token: str) -> None:
    response = client.post("/api/tokens", headers=bearer(token))

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_only_a_hash_of_the_token_is_stored(client: FlaskClient, token: str) -> None:
    rows = db.session.execute(text("SELECT * FROM api_tokens")).mappings().all()

    assert len(rows) == 1
    assert rows[0]["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    for value in rows[0].values():
        assert token not in str(value)


def test_delete_token_is_204_and_revokes_it(client: FlaskClient, token: str) -> None:
    response = client.delete("/api/tokens", headers=bearer(token))

    assert response.status_code == 204
    assert response.get_data() == b""
    after = client.get("/api/me", headers=bearer(token))
    assert_json_error(after, 401)
    challenge = after.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_revoking_one_token_leaves_the_users_other_tokens_working(
    client: FlaskClient, token: str
) -> None:
    other = get_token(client, "alice")

    client.delete("/api/tokens", headers=bearer(token))

    assert client.get("/api/me", headers=bearer(other)).status_code == 200


def test_revoking_twice_is_401_the_second_time(client: FlaskClient, token: str) -> None:
    assert client.delete("/api/tokens", headers=bearer(token)).status_code == 204

    assert_json_error(client.delete("/api/tokens", headers=bearer(token)), 401)


def test_delete_token_without_a_token_is_401(client: FlaskClient, user: User) -> None:
    response = client.delete("/api/tokens", headers=basic_auth("alice"))

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_expired_token_is_401_invalid_token(client: FlaskClient, token: str) -> None:
    row = db.session.scalar(select(ApiToken))
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()

    response = client.get("/api/me", headers=bearer(token))

    assert_json_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_the_api_ignores_the_site_session_cookie(client: FlaskClient, site: SiteSession) -> None:
    registered = site.register("carol")
    assert registered.status_code == 302
    assert "Log out" in client.get("/").get_data(as_text=True)  # logged in on the site

    me = client.get("/api/me")
    publish = client.post("/api/posts", json={"title": "From a cookie", "body": "No."})

    assert_json_error(me, 401)
    assert me.headers["WWW-Authenticate"].startswith("Bearer ")
    assert_json_error(publish, 401)
    assert db.session.scalar(select(func.count()).select_from(Post)) == 0


def test_token_requests_over_the_limit_are_429_json_with_retry_after(
    app: Flask, client: FlaskClient, user: User
) -> None:
    assert app.config["RATELIMIT_LOGIN"] == "5 per minute"
    for _ in range(5):
        assert client.post("/api/tokens", headers=basic_auth("alice", "guess")).status_code == 401

    # Even the right password is refused once the limit is reached.
    response = client.post("/api/tokens", headers=basic_auth("alice"))

    body = assert_json_error(response, 429)
    assert "5 per 1 minute" in body["message"]
    retry_after = int(response.headers["Retry-After"])
    assert 0 < retry_after <= 60
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_the_token_rate_limit_follows_the_configuration(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["RATELIMIT_LOGIN"] = "2 per minute"

    statuses = [client.post("/api/tokens", headers=basic_auth("alice")).status_code for _ in "abc"]

    assert statuses == [201, 201, 429]


def test_token_requests_and_site_log_ins_share_one_password_guess_limit(
    app: Flask, client: FlaskClient, user: User, site: SiteSession
) -> None:
    app.config["RATELIMIT_LOGIN"] = "3 per minute"
    for _ in range(2):
        assert client.post("/api/tokens", headers=basic_auth("alice", "guess")).status_code == 401
    assert site.login("alice", "wrong password").status_code == 200
    assert site.login("alice").status_code == 429
    assert_json_error(client.post("/api/tokens", headers=basic_auth("alice")), 429)


def test_changing_the_password_revokes_every_api_token(
    client: FlaskClient, user: User, token: str
) -> None:
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    user.set_password("a brand new passphrase")
    db.session.commit()
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_token_and_me_responses_are_never_cached(client: FlaskClient, user: User) -> None:
    issued = client.post("/api/tokens", headers=basic_auth("alice"))
    assert issued.headers["Cache-Control"] == "no-store"
    me = client.get("/api/me", headers=bearer(issued.get_json()["token"]))
    assert me.headers["Cache-Control"] == "no-store"


# --- Labels, prefixes, last use; listing and revoking by id --------------------------------------

INFO_KEYS = {"id", "label", "prefix", "created_at", "last_used_at", "expires_at", "current"}


def token_row(token_id: int) -> ApiToken:
    fresh()
    row = db.session.get(ApiToken, token_id)
    assert row is not None
    return row


def test_a_new_token_has_the_default_label_without_a_body_and_its_secrets_prefix(
    client: FlaskClient, user: User
) -> None:
    body = client.post("/api/tokens", headers=basic_auth("alice")).get_json()

    assert body["label"] == DEFAULT_TOKEN_LABEL
    assert body["prefix"] == body["token"][:TOKEN_PREFIX_LENGTH]
    assert len(body["prefix"]) == TOKEN_PREFIX_LENGTH
    row = token_row(body["id"])
    assert (row.label, row.prefix) == (DEFAULT_TOKEN_LABEL, body["prefix"])
    assert body["token"] not in {row.token_hash, row.label, row.prefix}


def test_a_new_token_takes_a_label_from_the_optional_body(client: FlaskClient, user: User) -> None:
    response = client.post(
        "/api/tokens", headers=basic_auth("alice"), json={"label": "  Backup script  "}
    )

    assert response.status_code == 201
    assert response.get_json()["label"] == "Backup script"


@pytest.mark.parametrize(
    "label", ["", "   ", "x" * (TOKEN_LABEL_MAX + 1), "two\nlines", "bidi \u202e trick", 7]
)
def test_an_unusable_label_is_400_and_issues_no_token(
    client: FlaskClient, user: User, label: object
) -> None:
    response = client.post("/api/tokens", headers=basic_auth("alice"), json={"label": label})

    assert "label" in field_errors(response)
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_listing_shows_only_the_callers_unexpired_tokens_newest_first_without_secrets(
    client: FlaskClient, user: User, token: str
) -> None:
    second = client.post(
        "/api/tokens", headers=basic_auth("alice"), json={"label": "second"}
    ).get_json()
    expired = client.post(
        "/api/tokens", headers=basic_auth("alice"), json={"label": "expired"}
    ).get_json()
    make_user("bob")
    get_token(client, "bob")
    row = token_row(expired["id"])
    row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()

    response = client.get("/api/tokens", headers=bearer(token))

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["total"] == 2
    items = body["items"]
    assert all(set(item) == INFO_KEYS for item in items)
    assert [item["label"] for item in items] == ["second", DEFAULT_TOKEN_LABEL]
    assert [item["current"] for item in items] == [False, True]
    assert items[0]["prefix"] == second["token"][:TOKEN_PREFIX_LENGTH]
    assert token not in response.get_data(as_text=True)
    assert second["token"] not in response.get_data(as_text=True)


def test_last_use_is_recorded_at_most_once_a_minute(client: FlaskClient, token: str) -> None:
    listed = client.get("/api/tokens", headers=bearer(token)).get_json()["items"][0]
    first_use = aware(listed["last_used_at"])
    assert abs(first_use - datetime.now(UTC)) < timedelta(seconds=5)

    row = token_row(listed["id"])
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=30)
    row.last_used_at = recent
    db.session.commit()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert token_row(listed["id"]).last_used_at == recent

    row = token_row(listed["id"])
    row.last_used_at = recent - timedelta(minutes=1)
    db.session.commit()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert token_row(listed["id"]).last_used_at > recent


def test_a_token_never_used_shows_no_last_use(client: FlaskClient, token: str) -> None:
    unused = client.post("/api/tokens", headers=basic_auth("alice")).get_json()

    items = client.get("/api/tokens", headers=bearer(token)).get_json()["items"]

    assert next(item for item in items if item["id"] == unused["id"])["last_used_at"] is None


def test_revoking_a_token_by_id_ends_only_that_token(client: FlaskClient, token: str) -> None:
    other = client.post("/api/tokens", headers=basic_auth("alice")).get_json()

    response = client.delete(f"/api/tokens/{other['id']}", headers=bearer(token))

    assert response.status_code == 204
    assert_json_error(client.get("/api/me", headers=bearer(other["token"])), 401)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert_json_error(client.delete(f"/api/tokens/{other['id']}", headers=bearer(token)), 404)


def test_a_token_may_revoke_itself_by_id(client: FlaskClient, token: str) -> None:
    own = client.get("/api/tokens", headers=bearer(token)).get_json()["items"][0]["id"]

    assert client.delete(f"/api/tokens/{own}", headers=bearer(token)).status_code == 204
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)


def test_someone_elses_token_id_is_404_like_a_missing_one(client: FlaskClient, token: str) -> None:
    make_user("bob")
    bobs = client.post("/api/tokens", headers=basic_auth("bob")).get_json()

    theirs = client.delete(f"/api/tokens/{bobs['id']}", headers=bearer(token))
    missing = client.delete(f"/api/tokens/{bobs['id'] + 1000}", headers=bearer(token))

    assert assert_json_error(theirs, 404)["message"].replace(str(bobs["id"]), "N") == (
        assert_json_error(missing, 404)["message"].replace(str(bobs["id"] + 1000), "N")
    )
    assert client.get("/api/me", headers=bearer(bobs["token"])).status_code == 200
