"""Posts: anyone reads; a bearer token publishes; only the author changes or deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, Post, User, hash_token
from tests.api.helpers import (
    LINK_KEYS,
    PAGE_KEYS,
    POST_KEYS,
    assert_json_error,
    aware,
    create_post,
    field_errors,
    link_parts,
)
from tests.helpers import basic_auth, bearer

pytestmark = pytest.mark.db


def post_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Post)) or 0


def expire(token: str) -> None:
    """Make ``token`` expired by moving its expiry into the past, in the database."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(minutes=1)
    db.session.commit()


# --- Reading ---------------------------------------------------------------------------


def test_list_posts_is_newest_first_with_each_author_as_id_and_username(
    client: FlaskClient, user: User, token: str, bob: User, bob_token: str
) -> None:
    first = create_post(client, token, "First")
    second = create_post(client, bob_token, "Second")
    third = create_post(client, token, "Third")

    response = client.get("/api/posts")

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PAGE_KEYS
    assert set(body["links"]) == LINK_KEYS
    assert [item["id"] for item in body["items"]] == [third["id"], second["id"], first["id"]]
    assert [item["author"] for item in body["items"]] == [
        {"id": user.id, "username": "alice"},
        {"id": bob.id, "username": "bob"},
        {"id": user.id, "username": "alice"},
    ]
    for item in body["items"]:
        assert set(item) == POST_KEYS
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 20, 3, 1)


def test_list_posts_paginates_with_links(client: FlaskClient, token: str) -> None:
    posts = [create_post(client, token, f"Post {number}") for number in range(5)]

    body = client.get("/api/posts?page=2&per_page=2").get_json()

    assert [item["id"] for item in body["items"]] == [posts[2]["id"], posts[1]["id"]]
    assert (body["total"], body["pages"]) == (5, 3)
    assert link_parts(body["links"]["next"]) == ("/api/posts", {"page": ["3"], "per_page": ["2"]})
    assert link_parts(body["links"]["prev"]) == ("/api/posts", {"page": ["1"], "per_page": ["2"]})


@pytest.mark.parametrize(
    ("query", "field"),
    [("per_page=0", "per_page"), ("per_page=101", "per_page"), ("page=0", "page")],
)
def test_list_posts_bad_paging_argument_is_400_naming_the_field(
    client: FlaskClient, query: str, field: str
) -> None:
    assert set(field_errors(client.get(f"/api/posts?{query}"))) == {field}


def test_list_posts_page_past_the_end_is_200_with_no_items(
    client: FlaskClient, post: dict[str, Any]
) -> None:
    response = client.get("/api/posts?page=2")

    assert response.status_code == 200
    assert response.get_json()["items"] == []


def test_timestamps_are_iso_8601_with_a_timezone_offset(
    client: FlaskClient, post: dict[str, Any]
) -> None:
    listed = client.get("/api/posts").get_json()["items"][0]
    fetched = client.get(f"/api/posts/{post['id']}").get_json()

    now = datetime.now(UTC)
    for representation in (post, listed, fetched):
        created = aware(representation["created_at"])
        updated = aware(representation["updated_at"])
        assert created.utcoffset() == timedelta(0)
        assert abs(now - created) < timedelta(minutes=1)
        assert updated >= created


def test_get_post_returns_what_was_published(client: FlaskClient, post: dict[str, Any]) -> None:
    response = client.get(f"/api/posts/{post['id']}")

    assert response.status_code == 200
    assert response.get_json() == post
    assert (post["title"], post["body"]) == ("Alice's post", "Written by alice.")


def test_get_missing_post_is_404_json(client: FlaskClient, post: dict[str, Any]) -> None:
    missing = post["id"] + 1000

    body = assert_json_error(client.get(f"/api/posts/{missing}"), 404)

    assert str(missing) in body["message"]


@pytest.mark.parametrize("post_id", ["2147483648", "99999999999999999999999"])
def test_get_post_with_an_id_no_row_can_have_is_404_not_500(
    client: FlaskClient, post_id: str
) -> None:
    assert_json_error(client.get(f"/api/posts/{post_id}"), 404)


def test_text_round_trips_unchanged_including_non_ascii_and_markup(
    client: FlaskClient, token: str
) -> None:
    title = "Crème brûlée 🍮 <b>not bold</b>"
    body = "Line one\nLine two\t& 'quotes' \"too\" — 日本語"

    created = create_post(client, token, title, body)

    fetched = client.get(f"/api/posts/{created['id']}").get_json()
    assert (fetched["title"], fetched["body"]) == (title, body)


# --- Publishing --------------------------------------------------------------------------


def test_create_post_is_201_with_a_location_that_resolves_to_the_post(
    client: FlaskClient, user: User, token: str
) -> None:
    response = client.post(
        "/api/posts", json={"title": "Hello", "body": "World"}, headers=bearer(token)
    )

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == POST_KEYS
    assert (body["title"], body["body"]) == ("Hello", "World")
    assert body["author"] == {"id": user.id, "username": "alice"}
    location = response.headers["Location"]
    assert location.endswith(f"/api/posts/{body['id']}")
    assert client.get(location).get_json() == body


def test_create_post_without_a_token_is_401_with_a_bearer_challenge(
    client: FlaskClient, user: User
) -> None:
    response = client.post("/api/posts", json={"title": "Hello", "body": "World"})

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert post_count() == 0


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer " + "A" * 43,
        "Bearer",
        "Token abc",
    ],
)
def test_create_post_with_a_garbage_token_is_401(
    client: FlaskClient, token: str, authorization: str
) -> None:
    response = client.post(
        "/api/posts",
        json={"title": "Hello", "body": "World"},
        headers={"Authorization": authorization},
    )

    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert post_count() == 0


def test_create_post_with_basic_credentials_instead_of_a_token_is_401(
    client: FlaskClient, user: User
) -> None:
    response = client.post(
        "/api/posts", json={"title": "Hello", "body": "World"}, headers=basic_auth("alice")
    )

    assert_json_error(response, 401)
    assert post_count() == 0


def test_create_post_with_an_expired_token_is_401_invalid_token(
    client: FlaskClient, token: str
) -> None:
    expire(token)

    response = client.post(
        "/api/posts", json={"title": "Hello", "body": "World"}, headers=bearer(token)
    )

    assert_json_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert post_count() == 0


def test_create_post_with_a_revoked_token_is_401_invalid_token(
    client: FlaskClient, token: str
) -> None:
    assert client.delete("/api/tokens", headers=bearer(token)).status_code == 204

    response = client.post(
        "/api/posts", json={"title": "Hello", "body": "World"}, headers=bearer(token)
    )

    assert_json_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert post_count() == 0


def test_create_post_refuses_an_author_id_in_the_body(client: FlaskClient, token: str) -> None:
    response = client.post(
        "/api/posts",
        json={"title": "Hello", "body": "World", "user_id": 999},
        headers=bearer(token),
    )

    assert field_errors(response) == {"user_id": ["Unknown field."]}
    assert post_count() == 0


@pytest.mark.parametrize(
    ("document", "field"),
    [
        pytest.param({"body": "Text"}, "title", id="missing-title"),
        pytest.param({"title": "Title"}, "body", id="missing-body"),
        pytest.param({"title": "", "body": "Text"}, "title", id="empty-title"),
        pytest.param({"title": "   ", "body": "Text"}, "title", id="blank-title"),
        pytest.param({"title": "\t\n ", "body": "Text"}, "title", id="whitespace-title"),
        pytest.param({"title": "t" * 201, "body": "Text"}, "title", id="title-201-chars"),
        pytest.param({"title": "Title", "body": "   "}, "body", id="blank-body"),
        pytest.param({"title": "Title", "body": "b" * 10_001}, "body", id="body-10001-chars"),
        pytest.param({"title": 42, "body": "Text"}, "title", id="number-title"),
        pytest.param({"title": None, "body": "Text"}, "title", id="null-title"),
        pytest.param({"title": ["Title"], "body": "Text"}, "title", id="list-title"),
        pytest.param({"title": "Title", "body": {"text": "x"}}, "body", id="object-body"),
        pytest.param({"title": "Title", "body": False}, "body", id="boolean-body"),
    ],
)
def test_create_post_with_invalid_fields_is_400_naming_the_field(
    client: FlaskClient, token: str, document: dict[str, Any], field: str
) -> None:
    response = client.post("/api/posts", json=document, headers=bearer(token))

    assert set(field_errors(response)) == {field}
    assert post_count() == 0


def test_create_post_accepts_a_200_char_title_and_a_10000_char_body(
    client: FlaskClient, token: str
) -> None:
    created = create_post(client, token, "t" * 200, "b" * 10_000)

    fetched = client.get(f"/api/posts/{created['id']}").get_json()
    assert (len(fetched["title"]), len(fetched["body"])) == (200, 10_000)


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        pytest.param({"data": {"title": "T", "body": "B"}}, 415, id="form-data"),
        pytest.param({"data": "x", "content_type": "text/plain"}, 415, id="text-plain"),
        pytest.param({"data": "{", "content_type": "application/json"}, 400, id="malformed"),
        pytest.param({"json": ["T", "B"]}, 400, id="json-array"),
        pytest.param({"json": "T"}, 400, id="json-string"),
    ],
)
def test_create_post_with_a_body_that_is_not_a_json_object_is_refused(
    client: FlaskClient, token: str, request_kwargs: dict[str, Any], status: int
) -> None:
    response = client.post("/api/posts", headers=bearer(token), **request_kwargs)

    assert_json_error(response, status)
    assert post_count() == 0


# --- Changing ----------------------------------------------------------------------------


def test_patch_own_post_changes_only_the_title(
    client: FlaskClient, token: str, post: dict[str, Any]
) -> None:
    response = client.patch(
        f"/api/posts/{post['id']}", json={"title": "New title"}, headers=bearer(token)
    )

    assert response.status_code == 200
    changed = response.get_json()
    assert changed["title"] == "New title"
    assert changed["body"] == post["body"]
    assert changed["created_at"] == post["created_at"]
    assert aware(changed["updated_at"]) >= aware(post["updated_at"])
    assert client.get(f"/api/posts/{post['id']}").get_json() == changed


def test_patch_own_post_changes_only_the_body(
    client: FlaskClient, token: str, post: dict[str, Any]
) -> None:
    response = client.patch(
        f"/api/posts/{post['id']}", json={"body": "New body"}, headers=bearer(token)
    )

    assert response.status_code == 200
    assert (response.get_json()["title"], response.get_json()["body"]) == (
        post["title"],
        "New body",
    )


@pytest.mark.parametrize(
    ("document", "field"),
    [
        pytest.param({}, "_schema", id="empty-object"),
        pytest.param({"title": "   "}, "title", id="blank-title"),
        pytest.param({"title": None}, "title", id="null-title"),
        pytest.param({"title": "t" * 201}, "title", id="title-201-chars"),
        pytest.param({"body": 7}, "body", id="number-body"),
        pytest.param({"author": "bob"}, "author", id="unknown-field"),
    ],
)
def test_patch_with_an_invalid_document_is_400_and_changes_nothing(
    client: FlaskClient, token: str, post: dict[str, Any], document: dict[str, Any], field: str
) -> None:
    response = client.patch(f"/api/posts/{post['id']}", json=document, headers=bearer(token))

    assert set(field_errors(response)) == {field}
    assert client.get(f"/api/posts/{post['id']}").get_json() == post


def test_patch_someone_elses_post_is_403_and_changes_nothing(
    client: FlaskClient, post: dict[str, Any], bob_token: str
) -> None:
    response = client.patch(
        f"/api/posts/{post['id']}", json={"title": "Hijacked"}, headers=bearer(bob_token)
    )

    assert_json_error(response, 403)
    assert client.get(f"/api/posts/{post['id']}").get_json() == post


def test_delete_someone_elses_post_is_403_and_deletes_nothing(
    client: FlaskClient, post: dict[str, Any], bob_token: str
) -> None:
    response = client.delete(f"/api/posts/{post['id']}", headers=bearer(bob_token))

    assert_json_error(response, 403)
    assert client.get(f"/api/posts/{post['id']}").get_json() == post


def test_patch_and_delete_without_a_token_are_401_and_change_nothing(
    client: FlaskClient, post: dict[str, Any]
) -> None:
    assert_json_error(client.patch(f"/api/posts/{post['id']}", json={"title": "X"}), 401)
    assert_json_error(client.delete(f"/api/posts/{post['id']}"), 401)
    assert client.get(f"/api/posts/{post['id']}").get_json() == post


def test_patch_and_delete_a_missing_post_are_404(
    client: FlaskClient, token: str, post: dict[str, Any]
) -> None:
    missing = post["id"] + 1000

    assert_json_error(
        client.patch(f"/api/posts/{missing}", json={"title": "X"}, headers=bearer(token)), 404
    )
    assert_json_error(client.delete(f"/api/posts/{missing}", headers=bearer(token)), 404)


def test_delete_own_post_is_204_then_the_post_is_404(
    client: FlaskClient, token: str, post: dict[str, Any]
) -> None:
    response = client.delete(f"/api/posts/{post['id']}", headers=bearer(token))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_json_error(client.get(f"/api/posts/{post['id']}"), 404)
    assert_json_error(client.delete(f"/api/posts/{post['id']}", headers=bearer(token)), 404)
    assert post_count() == 0


# --- One user's posts ----------------------------------------------------------------------


def test_user_posts_lists_only_that_users_posts_newest_first(
    client: FlaskClient, user: User, token: str, bob: User, bob_token: str
) -> None:
    older = create_post(client, token, "Older")
    create_post(client, bob_token, "Bob's")
    newer = create_post(client, token, "Newer")

    response = client.get(f"/api/users/{user.id}/posts")

    assert response.status_code == 200
    body = response.get_json()
    assert [item["id"] for item in body["items"]] == [newer["id"], older["id"]]
    assert body["total"] == 2
    assert {item["author"]["username"] for item in body["items"]} == {"alice"}
    assert link_parts(body["links"]["self"]) == (
        f"/api/users/{user.id}/posts",
        {"page": ["1"], "per_page": ["20"]},
    )


def test_user_posts_paginates_with_links_to_the_same_users_posts(
    client: FlaskClient, user: User, token: str
) -> None:
    for number in range(3):
        create_post(client, token, f"Post {number}")

    body = client.get(f"/api/users/{user.id}/posts?per_page=2").get_json()

    assert (body["total"], body["pages"], len(body["items"])) == (3, 2, 2)
    following = client.get(body["links"]["next"]).get_json()
    assert [item["title"] for item in following["items"]] == ["Post 0"]


def test_user_posts_of_a_user_without_posts_is_an_empty_page(
    client: FlaskClient, bob: User, post: dict[str, Any]
) -> None:
    body = client.get(f"/api/users/{bob.id}/posts").get_json()

    assert (body["items"], body["total"]) == ([], 0)


def test_user_posts_of_a_missing_user_is_404(client: FlaskClient, user: User) -> None:
    assert_json_error(client.get(f"/api/users/{user.id + 1000}/posts"), 404)


def test_user_posts_with_a_bad_page_is_400(client: FlaskClient, user: User) -> None:
    assert set(field_errors(client.get(f"/api/users/{user.id}/posts?per_page=0"))) == {"per_page"}


# --- The cached lists see every write at once ---------------------------------------------


def test_new_post_is_in_the_very_next_list(
    client: FlaskClient, user: User, token: str, post: dict[str, Any]
) -> None:
    # Fill the caches first.
    assert client.get("/api/posts").get_json()["total"] == 1
    assert client.get(f"/api/users/{user.id}/posts").get_json()["total"] == 1

    created = create_post(client, token, "Fresh")

    listed = client.get("/api/posts").get_json()
    assert listed["total"] == 2
    assert listed["items"][0] == created
    assert client.get(f"/api/users/{user.id}/posts").get_json()["items"][0] == created


def test_edited_title_is_in_the_very_next_list(
    client: FlaskClient, user: User, token: str, post: dict[str, Any]
) -> None:
    assert client.get("/api/posts").get_json()["items"][0]["title"] == "Alice's post"
    assert client.get(f"/api/users/{user.id}/posts").get_json()["items"][0]["title"] == (
        "Alice's post"
    )

    client.patch(f"/api/posts/{post['id']}", json={"title": "Edited"}, headers=bearer(token))

    assert client.get("/api/posts").get_json()["items"][0]["title"] == "Edited"
    assert client.get(f"/api/users/{user.id}/posts").get_json()["items"][0]["title"] == "Edited"


def test_deleted_post_is_gone_from_the_very_next_list(
    client: FlaskClient, user: User, token: str, post: dict[str, Any]
) -> None:
    assert client.get("/api/posts").get_json()["total"] == 1

    client.delete(f"/api/posts/{post['id']}", headers=bearer(token))

    assert client.get("/api/posts").get_json()["items"] == []
    assert client.get(f"/api/users/{user.id}/posts").get_json()["items"] == []


def test_refused_write_does_not_change_the_list(
    client: FlaskClient, token: str, post: dict[str, Any], bob_token: str
) -> None:
    before = client.get("/api/posts").get_json()

    client.patch(f"/api/posts/{post['id']}", json={"title": "Nope"}, headers=bearer(bob_token))
    client.post("/api/posts", json={"title": "   ", "body": "x"}, headers=bearer(token))

    assert client.get("/api/posts").get_json() == before


def test_deleting_a_user_deletes_their_posts_in_the_database(
    client: FlaskClient, user: User, token: str, bob: User, bob_token: str
) -> None:
    alices = [create_post(client, token, f"Alice {number}") for number in range(2)]
    bobs = create_post(client, bob_token, "Bob's")
    assert client.get("/api/posts").get_json()["total"] == 3
    alice_id = user.id
    # Nothing of alice's is loaded, so only the database's ON DELETE CASCADE can remove
    # her posts (and tokens).
    db.session.expunge_all()

    db.session.delete(db.session.get(User, alice_id))
    db.session.commit()

    remaining = db.session.scalars(select(Post.id)).all()
    assert remaining == [bobs["id"]]
    assert (
        db.session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.user_id == alice_id)
        )
        == 0
    )
    for post in alices:
        assert_json_error(client.get(f"/api/posts/{post['id']}"), 404)
    listed = client.get("/api/posts").get_json()
    assert [item["id"] for item in listed["items"]] == [bobs["id"]]
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)


def test_text_that_is_not_valid_unicode_is_a_400_not_a_500(client: FlaskClient, token: str) -> None:
    response = client.post(
        "/api/posts",
        data='{"title": "\\ud800", "body": "text"}',
        content_type="application/json",
        headers=bearer(token),
    )
    body = assert_json_error(response, 400)
    assert "not valid Unicode" in body["message"]


@pytest.mark.parametrize("path", ["/api/posts/\u0661", "/api/users/\u0661", "/posts/\u0661"])
def test_ids_in_other_scripts_digits_are_not_found(client: FlaskClient, post, path: str) -> None:
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("post_id", ["0", "2147483648", "9999999999"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_every_method_on_an_id_no_row_can_have_is_404_without_allow(
    client: FlaskClient, token: str, method: str, post_id: str
) -> None:
    """Not 405: the URL does exist for these methods; the post does not."""
    response = client.open(
        f"/api/posts/{post_id}", method=method, headers=bearer(token), json={"title": "New"}
    )

    body = assert_json_error(response, 404)
    assert "Allow" not in response.headers
    assert post_id in body["message"]


CONTROL_CHARACTERS = {
    "nul": "\x00",
    "escape": "\x1b",
    "delete": "\x7f",
    "next-line-c1": "\x85",
    "right-to-left-override": "\u202e",
    "left-to-right-isolate": "\u2066",
}


@pytest.mark.parametrize("field", ["title", "body"])
@pytest.mark.parametrize("char", CONTROL_CHARACTERS.values(), ids=CONTROL_CHARACTERS.keys())
def test_control_characters_are_refused_with_a_message_naming_them(
    client: FlaskClient, token: str, field: str, char: str
) -> None:
    document = {"title": "Title", "body": "Text", field: f"Invoice{char}fdp.exe"}

    errors = field_errors(client.post("/api/posts", json=document, headers=bearer(token)))

    assert errors == {
        field: [
            f"Contains an invisible control character (U+{ord(char):04X}) at position 8; remove it."
        ]
    }
    assert post_count() == 0


def test_a_patch_with_a_control_character_changes_nothing(
    client: FlaskClient, token: str, post: dict[str, Any]
) -> None:
    response = client.patch(
        f"/api/posts/{post['id']}", json={"body": "evil\u202etxt.exe"}, headers=bearer(token)
    )

    assert set(field_errors(response)) == {"body"}
    assert client.get(f"/api/posts/{post['id']}").get_json()["body"] == post["body"]


@pytest.mark.parametrize("title", ["Two\nlines", "Tab\there", "Carriage\rreturn"])
def test_a_title_is_one_line(client: FlaskClient, token: str, title: str) -> None:
    response = client.post(
        "/api/posts", json={"title": title, "body": "Text"}, headers=bearer(token)
    )

    assert field_errors(response) == {
        "title": ["Must be a single line, without tabs or line breaks."]
    }


def test_a_body_keeps_its_tabs_and_line_breaks(client: FlaskClient, token: str) -> None:
    body = "Line one\r\nLine two\n\tIndented"

    created = create_post(client, token, "Title", body)

    assert client.get(f"/api/posts/{created['id']}").get_json()["body"] == body


# --- Markdown: the source as written, and its sanitised HTML -------------------------------

MARKDOWN_BODY = "# Heading\n\n**Bold** <script>alert(1)</script> https://example.org"
MARKDOWN_HTML = (
    "<h2>Heading</h2>\n<p><strong>Bold</strong> &lt;script&gt;alert(1)&lt;/script&gt; "
    '<a href="https://example.org" rel="nofollow ugc noopener">https://example.org</a></p>\n'
)


def test_every_read_returns_the_markdown_source_and_its_sanitised_html(
    client: FlaskClient, token: str, user: User
) -> None:
    created = create_post(client, token, "Markdown", MARKDOWN_BODY)

    one = client.get(f"/api/posts/{created['id']}").get_json()
    listed = client.get("/api/posts").get_json()["items"][0]
    by_user = client.get(f"/api/users/{user.id}/posts").get_json()["items"][0]
    for answer in (created, one, listed, by_user):
        assert (answer["body"], answer["body_html"]) == (MARKDOWN_BODY, MARKDOWN_HTML)


def test_changing_the_body_changes_its_html_and_a_title_change_keeps_it(
    client: FlaskClient, token: str, post: dict[str, Any]
) -> None:
    path = f"/api/posts/{post['id']}"

    changed = client.patch(path, json={"body": "*new*"}, headers=bearer(token)).get_json()
    retitled = client.patch(path, json={"title": "Other"}, headers=bearer(token)).get_json()

    assert changed["body_html"] == "<p><em>new</em></p>\n"
    assert retitled["body_html"] == "<p><em>new</em></p>\n"
    assert client.get("/api/posts").get_json()["items"][0]["body_html"] == "<p><em>new</em></p>\n"


@pytest.mark.parametrize("method", ["post", "patch"])
def test_body_html_cannot_be_written(
    client: FlaskClient, token: str, post: dict[str, Any], method: str
) -> None:
    path = "/api/posts" if method == "post" else f"/api/posts/{post['id']}"
    document = {"title": "T", "body": "B", "body_html": "<script>alert(1)</script>"}

    response = client.open(path, method=method.upper(), json=document, headers=bearer(token))

    assert field_errors(response) == {"body_html": ["Unknown field."]}
    assert client.get(f"/api/posts/{post['id']}").get_json()["body_html"] == post["body_html"]
