"""An account deleted while one of its requests runs: that request is logged out, never a 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.deleted_account import MESSAGE, deleted_mid_request
from app.extensions import db
from app.models import ApiToken, Post, User
from tests.api.helpers import assert_json_error
from tests.helpers import PASSWORD, SiteSession, basic_auth, bearer, text

pytestmark = pytest.mark.db


def deleted_before_a_flush(
    app: Flask, user: User, writes: Callable[[Session], bool]
) -> Iterator[None]:
    """Deletes alice, as another request of hers would, just before a flush that ``writes``."""
    app.config["PROPAGATE_EXCEPTIONS"] = False  # as served
    user_id = user.id

    def delete_the_account(session: Session, *args: Any) -> None:
        if writes(session):
            # Committed on a connection of its own, as another request's would be.
            with db.engine.connect() as other:
                other.execute(delete(User).where(User.id == user_id))
                other.commit()

    event.listen(Session, "before_flush", delete_the_account)
    yield
    event.remove(Session, "before_flush", delete_the_account)


@pytest.fixture
def deleted_before_the_post_is_written(app: Flask, user: User) -> Iterator[None]:
    """Alice is deleted just before her new post is flushed."""
    yield from deleted_before_a_flush(
        app, user, lambda session: any(isinstance(obj, Post) for obj in session.new)
    )


@pytest.fixture
def deleted_before_her_row_is_updated(app: Flask, user: User) -> Iterator[None]:
    """Alice is deleted just before a change to her own row is flushed."""
    yield from deleted_before_a_flush(
        app, user, lambda session: any(isinstance(obj, User) for obj in session.dirty)
    )


def post_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Post)) or 0


def test_the_site_logs_out_a_browser_whose_account_went_during_its_request(
    site: SiteSession,
    user: User,
    deleted_before_the_post_is_written: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site.login()

    response = site.post_form(
        "/posts/new", {"title": "Last words", "body": "Never saved."}, form_page="/posts/new"
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")
    page = site.client.get("/auth/login")
    assert MESSAGE in text(page)
    assert site.client.get("/posts/new").status_code == 302
    assert post_count() == 0
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_the_api_answers_401_when_the_token_s_account_went_during_the_request(
    client: FlaskClient, token: str, deleted_before_the_post_is_written: None
) -> None:
    response = client.post("/api/posts", json={"title": "T", "body": "B"}, headers=bearer(token))

    assert "deleted" in assert_json_error(response, 401)["message"]
    assert post_count() == 0


def test_a_refused_write_of_an_account_that_still_exists_is_not_mistaken_for_one(
    app: Flask, user: User
) -> None:
    with app.test_request_context("/api/posts"):
        g.api_user = user
        refused = IntegrityError("INSERT", {}, Exception("duplicate"))

        assert deleted_mid_request(refused) is False


@pytest.mark.parametrize("action", ["password", "sessions"])
def test_a_settings_change_of_an_account_deleted_meanwhile_logs_the_browser_out(
    site: SiteSession, user: User, deleted_before_her_row_is_updated: None, action: str
) -> None:
    site.login()
    data = {
        "password": {
            "current_password": PASSWORD,
            "new_password": "a brand new passphrase",
            "confirm": "a brand new passphrase",
        },
        "sessions": {},
    }[action]

    response = site.post_form(f"/account/{action}", data, form_page="/account")

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/auth/login")
    assert MESSAGE in text(site.client.get("/auth/login"))


def test_an_api_password_change_of_an_account_deleted_meanwhile_is_a_401(
    client: FlaskClient, token: str, deleted_before_her_row_is_updated: None
) -> None:
    response = client.patch(
        "/api/me",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(token),
    )

    assert "deleted" in assert_json_error(response, 401)["message"]


def test_a_token_issued_while_the_credentials_are_revoked_never_works(
    app: Flask, client: FlaskClient, user: User
) -> None:
    """POST /api/tokens checks the password, then a password change elsewhere commits."""
    user_id = user.id

    def revoke_elsewhere(session: Session, *args: Any) -> None:
        if any(isinstance(obj, ApiToken) for obj in session.new):
            # As the other request's revoke_credentials commits it, on its own connection.
            with db.engine.connect() as other:
                other.execute(
                    update(User).where(User.id == user_id).values(token_generation="revoked")
                )
                other.commit()

    event.listen(Session, "before_flush", revoke_elsewhere, once=True)
    issued = client.post("/api/tokens", headers=basic_auth("alice"))

    assert issued.status_code == 201
    assert_json_error(client.get("/api/me", headers=bearer(issued.get_json()["token"])), 401)
    other = client.post("/api/tokens", headers=basic_auth("alice")).get_json()["token"]
    # The dead token is not listed either: only the one issued since.
    listed = client.get("/api/tokens", headers=bearer(other)).get_json()["items"]
    assert [token["current"] for token in listed] == [True]
