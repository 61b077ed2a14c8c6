"""PATCH and DELETE /api/me: the password, the email address and deleting the account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import login_throttle, mail
from app.extensions import db
from app.models import ApiToken, Post, User
from tests.api.helpers import (
    assert_json_error,
    aware,
    create_post,
    field_errors,
    get_token,
    new_user_body,
)
from tests.helpers import (
    PASSWORD,
    SiteSession,
    basic_auth,
    bearer,
    csrf_token_from,
    fresh,
    link_in,
    mails_to,
    make_user,
    refuse_mail,
    text,
)
from tests.smtp_server import Inbox
from tests.test_accounts import is_logged_in

pytestmark = pytest.mark.db

NEW_PASSWORD = "a brand new passphrase"


def change(current: str = PASSWORD, new: str = NEW_PASSWORD) -> dict[str, str]:
    return {"current_password": current, "new_password": new}


def count(model: Any) -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(model)) or 0


# --- PATCH /api/me: the password ----------------------------------------------------------------


def test_changing_the_password_answers_the_account_and_ends_every_credential(
    app: Flask, client: FlaskClient, user: User, token: str
) -> None:
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    other_token = get_token(client, "alice")
    site = SiteSession(app.test_client())
    site.login()

    response = client.patch("/api/me", json=change(), headers=bearer(token))

    assert response.status_code == 200
    assert response.get_json()["username"] == "alice"
    assert "password" not in str(response.get_json())
    assert response.headers["Cache-Control"] == "no-store"
    # As after a reset: the token that asked, every other token and every session end.
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    assert_json_error(client.get("/api/me", headers=bearer(other_token)), 401)
    assert not is_logged_in(site.client)
    assert_json_error(client.post("/api/tokens", headers=basic_auth("alice")), 401)
    assert get_token(client, "alice", NEW_PASSWORD)


def test_a_wrong_current_password_is_403_naming_the_field_and_changes_nothing(
    client: FlaskClient, user: User, token: str
) -> None:
    response = client.patch(
        "/api/me", json=change(current="not my password"), headers=bearer(token)
    )

    body = assert_json_error(response, 403)
    assert set(body["errors"]) == {"current_password"}
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert get_token(client, "alice", PASSWORD)


def test_a_new_password_equal_to_the_old_one_is_refused_and_nothing_is_revoked(
    client: FlaskClient, user: User, token: str
) -> None:
    response = client.patch("/api/me", json=change(new=PASSWORD), headers=bearer(token))

    assert set(field_errors(response)) == {"new_password"}
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (change(new="too short"), {"new_password"}),
        (change(new="x" * 129), {"new_password"}),
        ({"new_password": NEW_PASSWORD}, {"current_password"}),
        ({"current_password": PASSWORD}, {"new_password"}),
        ({**change(), "email": "new@example.com"}, {"email"}),
    ],
)
def test_a_password_change_with_bad_fields_is_400_per_field(
    client: FlaskClient, token: str, body: dict[str, str], fields: set[str]
) -> None:
    response = client.patch("/api/me", json=body, headers=bearer(token))

    assert set(field_errors(response)) == fields
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_password_checks_count_as_guesses_per_client(
    app: Flask, client: FlaskClient, token: str
) -> None:
    app.config["RATELIMIT_LOGIN"] = "2 per minute"
    statuses = [
        client.patch("/api/me", json=change(current="guess"), headers=bearer(token)).status_code
        for _ in range(3)
    ]

    assert statuses == [403, 403, 429]
    # Shared with the log-in doors.
    assert_json_error(client.post("/api/tokens", headers=basic_auth("alice")), 429)


def test_password_checks_count_against_the_accounts_log_in_throttle(
    app: Flask, client: FlaskClient, token: str
) -> None:
    app.config["RATELIMIT_LOGIN_ACCOUNT"] = "2 per 15 minutes"
    for _ in range(2):
        response = client.patch("/api/me", json=change(current="guess"), headers=bearer(token))
        assert response.status_code == 403

    refused = client.delete("/api/me", json={"password": PASSWORD}, headers=bearer(token))

    assert_json_error(refused, 429)
    assert int(refused.headers["Retry-After"]) > 0
    assert count(User) == 1


# --- DELETE /api/me: the account ----------------------------------------------------------------


def test_deleting_the_account_removes_it_its_posts_and_tokens_and_frees_the_name(
    client: FlaskClient, user: User, token: str, bob_token: str
) -> None:
    user_id = user.id
    create_post(client, token, "Alice's", "Gone soon.")
    create_post(client, bob_token, "Bob's", "Stays.")
    other_token = get_token(client, "alice")

    response = client.delete("/api/me", json={"password": PASSWORD}, headers=bearer(token))

    assert response.status_code == 204
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    assert_json_error(client.get("/api/me", headers=bearer(other_token)), 401)
    assert_json_error(client.get(f"/api/users/{user_id}"), 404)
    titles = [post["title"] for post in client.get("/api/posts").get_json()["items"]]
    assert titles == ["Bob's"]
    assert [u["username"] for u in client.get("/api/users").get_json()["items"]] == ["bob"]
    assert count(Post) == 1
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 1
    again = client.post(
        "/api/users", json=new_user_body(username="alice", email="alice@example.com")
    )
    assert again.status_code == 201


def test_deleting_the_account_with_a_wrong_password_is_403_and_keeps_it(
    client: FlaskClient, user: User, token: str
) -> None:
    response = client.delete("/api/me", json={"password": "not my password"}, headers=bearer(token))

    body = assert_json_error(response, 403)
    assert set(body["errors"]) == {"password"}
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("body", [{}, {"password": ""}, {"password": PASSWORD, "extra": 1}])
def test_deleting_the_account_needs_exactly_the_password(
    client: FlaskClient, token: str, body: dict[str, Any]
) -> None:
    assert_json_error(client.delete("/api/me", json=body, headers=bearer(token)), 400)
    assert count(User) == 1


def test_deleting_the_account_while_another_request_of_it_deletes_it_too_is_no_error(
    app: Flask, client: FlaskClient, user: User, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sessions of one account delete it at once: the slower one finds it gone."""
    other = get_token(client, "alice")
    real_confirm = login_throttle.confirm_password
    answers: list[int] = []
    interrupted = False

    def confirm_while_the_other_session_deletes(account: User, password: str) -> bool:
        nonlocal interrupted
        confirmed = real_confirm(account, password)
        if not interrupted:
            interrupted = True
            # This request has loaded the account; the other session deletes it now.
            response = app.test_client().delete(
                "/api/me", json={"password": PASSWORD}, headers=bearer(other)
            )
            answers.append(response.status_code)
        return confirmed

    monkeypatch.setattr(login_throttle, "confirm_password", confirm_while_the_other_session_deletes)

    response = client.delete("/api/me", json={"password": PASSWORD}, headers=bearer(token))

    assert answers == [204]
    assert response.status_code == 204
    assert count(User) == 0


def test_a_token_of_a_deleted_account_is_401_on_every_authenticated_operation(
    client: FlaskClient, user: User, token: str
) -> None:
    spare = get_token(client, "alice")
    assert (
        client.delete("/api/me", json={"password": PASSWORD}, headers=bearer(token)).status_code
        == 204
    )

    for method, path, body in [
        ("get", "/api/me", None),
        ("get", "/api/tokens", None),
        ("post", "/api/posts", {"title": "T", "body": "B"}),
        ("delete", "/api/tokens", None),
        ("delete", "/api/tokens/1", None),
        ("patch", "/api/me", change()),
        ("delete", "/api/me", {"password": PASSWORD}),
    ]:
        response = client.open(path, method=method.upper(), json=body, headers=bearer(spare))
        assert_json_error(response, 401)


def test_a_new_account_with_the_freed_name_sees_nothing_of_the_old_one(
    client: FlaskClient, user: User, token: str
) -> None:
    create_post(client, token, "Old alice", "From the deleted account.")
    assert (
        client.delete("/api/me", json={"password": PASSWORD}, headers=bearer(token)).status_code
        == 204
    )

    make_user("alice", password="a different passphrase")
    new_token = get_token(client, "alice", "a different passphrase")
    me = client.get("/api/me", headers=bearer(new_token)).get_json()

    assert client.get(f"/api/users/{me['id']}/posts").get_json()["items"] == []
    assert client.get("/api/tokens", headers=bearer(new_token)).get_json()["total"] == 1


# --- PATCH /api/me: notices and the email address -----------------------------------------------


def move(address: str = "alice.new@example.org", current: str = PASSWORD) -> dict[str, str]:
    return {"current_password": current, "email": address}


def test_a_password_change_says_whether_the_address_was_told(
    app: Flask, client: FlaskClient, user: User, mailbox: Inbox
) -> None:
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    response = client.patch("/api/me", json=change(), headers=bearer(get_token(client, "alice")))

    assert response.status_code == 200
    assert response.get_json()["notice"] == "sent"
    [notice] = mails_to(mailbox, "alice@example.com")
    assert notice["Subject"] == "Your password was changed"

    refuse_mail(app)
    token = get_token(client, "alice", NEW_PASSWORD)
    failed = client.patch("/api/me", json=change(NEW_PASSWORD, PASSWORD), headers=bearer(token))

    assert failed.status_code == 200
    assert failed.get_json()["notice"] == "failed"
    # The change stands all the same.
    assert get_token(client, "alice", PASSWORD)

    app.config["MAIL_ENABLED"] = False
    token = get_token(client, "alice", PASSWORD)
    off = client.patch("/api/me", json=change(), headers=bearer(token))

    assert off.get_json()["notice"] == "off"
    assert len(mailbox.messages()) == 1


def test_asking_for_a_new_address_is_202_and_changes_nothing_until_the_link_is_followed(
    app: Flask, client: FlaskClient, user: User, token: str, mailbox: Inbox
) -> None:
    response = client.patch("/api/me", json=move("Alice.New@Example.ORG"), headers=bearer(token))

    assert response.status_code == 202
    body = response.get_json()
    assert body["email"] == "alice@example.com"
    assert body["pending_email"] == "alice.new@example.org"
    assert aware(body["link_expires_at"]) > datetime.now(UTC) + timedelta(hours=23)
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/me", headers=bearer(token)).get_json()["email"] == "alice@example.com"
    [message] = mails_to(mailbox, "alice.new@example.org")
    link = link_in(message, app.config["PUBLIC_URL"], "/account/email/confirm/")

    # Followed in a browser that is not logged in.
    browser = app.test_client()
    page = browser.get(link)
    browser.post(link, data={"csrf_token": csrf_token_from(text(page))})

    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    fresh_token = get_token(client, "alice.new@example.org")
    assert client.get("/api/me", headers=bearer(fresh_token)).get_json()["email"] == (
        "alice.new@example.org"
    )


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (move(current="not my password"), 403, "current_password"),
        (move("bob@example.com"), 409, "email"),
        (move("ALICE@example.com"), 400, "email"),
        (move("not an address"), 400, "email"),
        (move("someone@host.test"), 400, "email"),
        ({"email": "alice.new@example.org"}, 400, "current_password"),
    ],
)
def test_a_refused_address_change_names_the_field_and_sends_nothing(
    client: FlaskClient,
    bob: User,
    token: str,
    mailbox: Inbox,
    body: dict[str, str],
    status: int,
    field: str,
) -> None:
    response = client.patch("/api/me", json=body, headers=bearer(token))

    assert set(assert_json_error(response, status)["errors"]) == {field}
    assert mailbox.messages() == []


def test_a_link_that_cannot_be_sent_is_503_and_withdrawn(
    app: Flask, client: FlaskClient, user: User, token: str
) -> None:
    refuse_mail(app)

    response = client.patch("/api/me", json=move(), headers=bearer(token))

    body = assert_json_error(response, 503)
    assert body["message"] == mail.FAILURE_MESSAGE
    fresh()
    assert db.session.get(User, user.id).email_change_nonce is None
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_without_mail_an_address_change_is_400_saying_email_changes_are_off(
    app: Flask, client: FlaskClient, user: User, token: str, mailbox: Inbox
) -> None:
    app.config["MAIL_ENABLED"] = False

    response = client.patch("/api/me", json=move(), headers=bearer(token))

    body = field_errors(response)
    assert body == {
        "email": ["Email changes are off on this site: it sends no mail to confirm them."]
    }
    assert mailbox.messages() == []


def test_an_address_change_counts_as_a_password_guess(
    app: Flask, client: FlaskClient, token: str, mailbox: Inbox
) -> None:
    app.config["RATELIMIT_LOGIN"] = "2 per minute"
    statuses = [
        client.patch("/api/me", json=move(current="guess"), headers=bearer(token)).status_code
        for _ in range(3)
    ]

    assert statuses == [403, 403, 429]
    assert mailbox.messages() == []
