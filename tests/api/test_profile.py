"""The profile in the API: every user's display_name, bio and bio_html, and
PATCH /api/me/profile to set or clear one's own."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import db
from app.models import User
from tests.api.helpers import USER_KEYS, assert_json_error, field_errors
from tests.helpers import bearer, fresh

pytestmark = pytest.mark.db

PROFILE = "/api/me/profile"


def patch_profile(client: FlaskClient, token: str, body: Any):
    return client.patch(PROFILE, json=body, headers=bearer(token))


def stored_profile(username: str = "alice") -> tuple[str | None, str | None, str | None]:
    fresh()
    user = db.session.scalars(select(User).where(User.username == username)).one()
    return user.display_name, user.bio, user.stored_bio_html


def test_a_user_without_a_profile_has_null_fields(client: FlaskClient, user: User) -> None:
    body = client.get(f"/api/users/{user.id}").get_json()

    assert set(body) == USER_KEYS
    assert (body["display_name"], body["bio"], body["bio_html"]) == (None, None, None)


def test_patch_sets_both_and_answers_you_with_them(
    client: FlaskClient, user: User, token: str
) -> None:
    response = patch_profile(
        client, token, {"display_name": " Ada Lovelace ", "bio": "Counts *engines*."}
    )

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == USER_KEYS | {"email"}
    assert body["email"] == "alice@example.com"
    assert body["display_name"] == "Ada Lovelace"
    assert body["bio"] == "Counts *engines*."
    assert body["bio_html"] == "<p>Counts <em>engines</em>.</p>\n"
    assert stored_profile() == ("Ada Lovelace", "Counts *engines*.", body["bio_html"])
    public = client.get(f"/api/users/{user.id}").get_json()
    assert {k: public[k] for k in ("display_name", "bio", "bio_html")} == {
        k: body[k] for k in ("display_name", "bio", "bio_html")
    }
    assert client.get("/api/me", headers=bearer(token)).get_json()["display_name"] == "Ada Lovelace"


def test_patch_changes_only_the_fields_it_names(
    client: FlaskClient, user: User, token: str
) -> None:
    patch_profile(client, token, {"display_name": "Ada", "bio": "First."})

    assert patch_profile(client, token, {"bio": "Second."}).status_code == 200

    assert stored_profile()[:2] == ("Ada", "Second.")


@pytest.mark.parametrize("cleared", [None, "", " \u200b "])
def test_null_or_blank_clears_a_field(
    client: FlaskClient, user: User, token: str, cleared: str | None
) -> None:
    patch_profile(client, token, {"display_name": "Ada", "bio": "A bio."})

    response = patch_profile(client, token, {"display_name": cleared, "bio": cleared})

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["display_name"], body["bio"], body["bio_html"]) == (None, None, None)
    assert stored_profile() == (None, None, None)


def test_the_bio_html_is_sanitised(client: FlaskClient, user: User, token: str) -> None:
    bio = "<script>alert(1)</script> [click](javascript:alert(1)) # not a heading"

    body = patch_profile(client, token, {"bio": bio}).get_json()

    assert body["bio"] == bio
    assert body["bio_html"] == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt; [click](javascript:alert(1)) "
        "# not a heading</p>\n"
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"display_name": "n" * 51}, "display_name", "Longer than maximum length 50."),
        ({"bio": "b" * 501}, "bio", "Longer than maximum length 500."),
        (
            {"display_name": "Ada\tL"},
            "display_name",
            "Must be a single line, without tabs or line breaks.",
        ),
        (
            {"bio": "ok\u202e"},
            "bio",
            "Contains an invisible control character (U+202E) at position 3; remove it.",
        ),
        ({"display_name": 7}, "display_name", "Not a valid string."),
        ({"bio_html": "<p>mine</p>"}, "bio_html", "Unknown field."),
        ({"email": "x@example.org"}, "email", "Unknown field."),
    ],
)
def test_a_refused_field_is_400_naming_it_and_changes_nothing(
    client: FlaskClient, user: User, token: str, body: dict[str, Any], field: str, message: str
) -> None:
    patch_profile(client, token, {"display_name": "Before", "bio": "Before."})

    response = patch_profile(client, token, body)

    errors = field_errors(response)
    assert errors == {field: [message]}
    assert response.get_json()["message"] == "The request body is invalid."
    assert stored_profile()[:2] == ("Before", "Before.")


def test_the_longest_name_and_bio_are_accepted(client: FlaskClient, user: User, token: str) -> None:
    response = patch_profile(client, token, {"display_name": "n" * 50, "bio": "b" * 500})

    assert response.status_code == 200
    assert stored_profile()[:2] == ("n" * 50, "b" * 500)


def test_an_empty_object_is_400_saying_what_to_send(
    client: FlaskClient, user: User, token: str
) -> None:
    errors = field_errors(patch_profile(client, token, {}))

    assert errors == {"_schema": ["Give at least one of: display_name, bio."]}


def test_without_a_token_it_is_401_and_changes_nothing(client: FlaskClient, user: User) -> None:
    assert_json_error(client.patch(PROFILE, json={"display_name": "Mallory"}), 401)

    assert stored_profile() == (None, None, None)


def test_kept_reads_of_the_user_show_a_change_at_once(
    app: Flask, client: FlaskClient, user: User, token: str
) -> None:
    reader = app.test_client()
    paths = [f"/api/users/{user.id}", "/api/users"]
    for path in paths:
        for _ in range(2):
            assert reader.get(path).status_code == 200

    patch_profile(client, token, {"display_name": "Ada", "bio": "*Hi*"})

    shown = reader.get(f"/api/users/{user.id}").get_json()
    [listed] = reader.get("/api/users").get_json()["items"]
    for body in (shown, listed):
        assert (body["display_name"], body["bio"], body["bio_html"]) == (
            "Ada",
            "*Hi*",
            "<p><em>Hi</em></p>\n",
        )
