"""Whole responses kept for anonymous visitors: never personal, never stale, revalidated by ETag."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import cache, db
from app.models import Post, User
from tests.helpers import SiteSession, bearer, count_statements

pytestmark = pytest.mark.db

CACHED_PATHS = ["/", "/?page=1", "/about", "/users/alice", "/api/posts", "/api/posts?per_page=5"]


@pytest.fixture
def author(user: User) -> User:
    """alice (the ``user`` fixture, whom ``token`` is for), with one post."""
    db.session.add(Post(title="Hello", body="World", author=user))
    db.session.commit()
    return user


@pytest.mark.parametrize("path", CACHED_PATHS)
def test_an_anonymous_page_is_served_again_without_a_query(
    author: User, client: FlaskClient, path: str
) -> None:
    first = client.get(path)
    assert first.status_code == 200

    with count_statements() as statements:
        again = client.get(path)

    assert statements == []
    assert again.status_code == 200
    assert again.get_data() == first.get_data()
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Content-Type"] == first.headers["Content-Type"]
    # The per-response headers are this response's own.
    assert again.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    assert "Content-Security-Policy" in again.headers


@pytest.mark.parametrize("path", ["/", "/api/posts"])
def test_a_matching_if_none_match_gets_304_without_a_body(
    author: User, client: FlaskClient, path: str
) -> None:
    etag = client.get(path).headers["ETag"]
    for _ in range(2):  # rendered once more after a clear, then from the cache
        revalidated = client.get(path, headers={"If-None-Match": etag})
        assert revalidated.status_code == 304
        assert revalidated.get_data() == b""
        assert revalidated.headers["ETag"] == etag
        assert revalidated.headers["Cache-Control"] == "no-cache"
        cache.clear()
    assert client.get(path, headers={"If-None-Match": 'W/"other"'}).status_code == 200


def test_a_write_shows_on_the_very_next_read_with_a_new_etag(
    author: User, client: FlaskClient, token: str
) -> None:
    before = client.get("/")
    api_before = client.get("/api/posts")

    client.post("/api/posts", json={"title": "Fresh news", "body": "b"}, headers=bearer(token))

    after = client.get("/", headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200
    assert "Fresh news" in after.get_data(as_text=True)
    assert after.headers["ETag"] != before.headers["ETag"]
    api_after = client.get("/api/posts", headers={"If-None-Match": api_before.headers["ETag"]})
    assert api_after.status_code == 200
    assert api_after.get_json()["total"] == 2


def test_a_logged_in_visitor_never_gets_or_leaves_a_kept_page(
    author: User, client: FlaskClient, app: Flask
) -> None:
    anonymous = client.get("/")
    site = SiteSession(client)
    site.login("alice")

    with count_statements() as statements:
        mine = client.get("/")

    assert statements, "a logged-in page was served from the anonymous cache"
    assert 'class="nav-user"' in mine.get_data(as_text=True)
    assert "ETag" not in mine.headers
    site.logout()
    stranger = app.test_client().get("/")
    assert 'class="nav-user"' not in stranger.get_data(as_text=True)
    assert stranger.get_data() == anonymous.get_data()


def test_a_page_with_a_flash_message_is_neither_served_from_nor_kept_in_the_cache(
    author: User, client: FlaskClient, app: Flask
) -> None:
    client.get("/")  # kept
    site = SiteSession(client)
    site.login("alice")
    site.logout()

    farewell = client.get("/")
    assert "logged out" in farewell.get_data(as_text=True)

    # Neither this visitor's next page nor a stranger's repeats the message.
    for visitor in (client, app.test_client()):
        assert "logged out" not in visitor.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "headers", "cookie"),
    [
        ("/", {}, ("remember_token", "anything")),
        ("/api/posts", {"Authorization": "Bearer not-a-token"}, None),
        ("/?utm_source=mail", {}, None),
        ("/api/posts?page=1&sort=old", {}, None),
    ],
)
def test_requests_that_may_differ_are_answered_by_the_view(
    author: User,
    client: FlaskClient,
    path: str,
    headers: dict[str, str],
    cookie: tuple[str, str] | None,
) -> None:
    if cookie:
        client.set_cookie(*cookie)
    # Every kept response, and every response that is kept, carries an ETag.
    for _ in range(2):
        assert "ETag" not in client.get(path, headers=headers).headers, path


def test_a_head_request_is_answered_from_the_kept_page(author: User, client: FlaskClient) -> None:
    page = client.get("/")
    with count_statements() as statements:
        head = client.head("/")
    assert statements == []
    assert head.status_code == 200
    assert head.get_data() == b""
    assert head.headers["ETag"] == page.headers["ETag"]


def test_a_missing_page_is_not_kept(author: User, client: FlaskClient) -> None:
    assert client.get("/users/nobody").status_code == 404
    with count_statements() as statements:
        assert client.get("/users/nobody").status_code == 404
    assert statements
