"""Whole responses kept for anonymous visitors: never personal, never stale, revalidated by ETag."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.extensions import cache, db
from app.models import Post, User
from tests.helpers import (
    PASSWORD,
    SiteSession,
    bearer,
    count_statements,
    make_user,
    redis_up,
    skip_or_fail,
)

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


def _stranger(app: Flask) -> FlaskClient:
    """A client with no cookies: a new anonymous visitor."""
    return app.test_client()


def _served_without_a_query(client: FlaskClient, path: str) -> bool:
    with count_statements() as statements:
        assert client.get(path).status_code == 200, path
    return statements == []


def test_a_new_post_leaves_the_pages_of_other_authors_and_the_users_list_cached(
    author: User, client: FlaskClient, token: str
) -> None:
    bob = make_user("bob")
    db.session.add(Post(title="Bob's post", body="b", author=bob))
    db.session.commit()
    bob_post = db.session.scalars(select(Post.id).where(Post.user_id == bob.id)).one()
    untouched = [
        "/users/bob",
        f"/posts/{bob_post}",
        "/api/users",
        f"/api/users/{bob.id}",
        f"/api/users/{bob.id}/posts",
        f"/api/posts/{bob_post}",
    ]
    showing_it = ["/", "/users/alice", "/api/posts", f"/api/users/{author.id}/posts"]
    for path in untouched + showing_it:
        client.get(path)

    created = client.post(
        "/api/posts", json={"title": "Fresh news", "body": "b"}, headers=bearer(token)
    )
    assert created.status_code == 201

    for path in untouched:
        assert _served_without_a_query(client, path), path
    for path in showing_it:
        assert "Fresh news" in client.get(path).get_data(as_text=True), path


def test_an_edit_shows_at_once_on_the_posts_page_and_on_every_list_of_it(
    author: User, app: Flask
) -> None:
    post_id = db.session.scalars(select(Post.id)).one()
    pages = [
        f"/posts/{post_id}",
        f"/api/posts/{post_id}",
        "/",
        "/users/alice",
        "/api/posts",
        f"/api/users/{author.id}/posts",
    ]
    reader = _stranger(app)
    for path in pages:
        assert "Hello" in reader.get(path).get_data(as_text=True)

    writer = SiteSession(app.test_client())
    writer.login("alice")
    edited = writer.post_form(f"/posts/{post_id}/edit", {"title": "Goodbye", "body": "World"})
    assert edited.status_code == 302

    for path in pages:
        shown = reader.get(path).get_data(as_text=True)
        assert "Goodbye" in shown, path
        assert "Hello" not in shown, path


def test_a_renamed_user_shows_under_the_new_name_at_once(author: User, app: Flask) -> None:
    post_id = db.session.scalars(select(Post.id)).one()
    user_id = author.id
    pages = [
        "/",
        f"/posts/{post_id}",
        "/api/posts",
        f"/api/posts/{post_id}",
        "/api/users",
        f"/api/users/{user_id}",
        f"/api/users/{user_id}/posts",
    ]
    reader = _stranger(app)
    for path in [*pages, "/users/alice"]:
        assert "alice" in reader.get(path).get_data(as_text=True), path

    author.set_username("Zoe")  # from a shell: no page renames an account
    db.session.commit()

    assert reader.get("/users/alice").status_code == 404
    assert "Hello" in reader.get("/users/zoe").get_data(as_text=True)
    for path in pages:
        shown = reader.get(path).get_data(as_text=True)
        assert "Zoe" in shown, path
        assert "alice" not in shown, path


@pytest.mark.parametrize("deleted_by", ["the account's owner", "a shell"])
def test_deleting_an_account_leaves_nothing_of_it_in_any_cached_page(
    author: User, app: Flask, token: str, deleted_by: str
) -> None:
    post_id = db.session.scalars(select(Post.id)).one()
    user_id = author.id
    bob = make_user("bob")
    db.session.add(Post(title="Bob's post", body="b", author=bob))
    db.session.commit()
    theirs = [f"/posts/{post_id}", "/users/alice", f"/api/posts/{post_id}", f"/api/users/{user_id}"]
    lists = ["/", "/api/posts", "/api/users", "/users/bob", f"/api/users/{bob.id}/posts"]
    reader = _stranger(app)
    for path in theirs + lists:
        assert reader.get(path).status_code == 200

    if deleted_by == "a shell":
        db.session.delete(author)
        db.session.commit()
    else:
        gone = reader.delete("/api/me", json={"password": PASSWORD}, headers=bearer(token))
        assert gone.status_code == 204

    for path in theirs:
        assert reader.get(path).status_code == 404, path
    for path in lists:
        shown = reader.get(path).get_data(as_text=True)
        assert "alice" not in shown, path
        assert "Hello" not in shown, path


def test_a_page_rendered_while_a_write_landed_is_not_served_after_it(
    author: User, app: Flask, client: FlaskClient
) -> None:
    render_home = app.view_functions["site.index"]

    def render_then_write() -> str:
        # The view has read the posts; a write commits before its page is kept.
        page = render_home()
        db.session.add(Post(title="Landed meanwhile", body="b", user_id=author.id))
        db.session.commit()
        return page

    app.view_functions["site.index"] = render_then_write
    assert "Landed meanwhile" not in client.get("/").get_data(as_text=True)
    app.view_functions["site.index"] = render_home

    assert "Landed meanwhile" in client.get("/").get_data(as_text=True)


def test_a_lost_generation_is_made_again_and_the_page_rendered_again(
    author: User, app: Flask, client: FlaskClient
) -> None:
    from app import cache_scopes

    client.get("/")
    with app.test_request_context():
        cache.delete(cache_scopes.generation_key(cache_scopes.POSTS))
    assert not _served_without_a_query(client, "/")
    with app.test_request_context():
        assert cache.get(cache_scopes.generation_key(cache_scopes.POSTS)) is not None
    assert _served_without_a_query(client, "/")


@pytest.fixture
def redis_app(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """The ``app`` fixture with its cache in the shared Redis, under a prefix of its own."""
    if not redis_up():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    monkeypatch.setenv("CACHE_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CACHE_KEY_PREFIX", f"flaskapp-test-{secrets.token_hex(6)}:")
    app: Flask = request.getfixturevalue("app")
    assert app.config["CACHE_TYPE"] == "app.resilient_cache.ResilientRedisCache"
    yield app
    cache.clear()


@pytest.mark.parametrize("path", ["/", "/users/alice", "/posts/1", "/api/posts", "/api/users/1"])
def test_a_page_hit_costs_one_redis_round_trip(
    redis_app: Flask, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    author = make_user("alice")
    db.session.add(Post(title="Hello", body="World", author=author))
    db.session.commit()
    client = redis_app.test_client()
    first = client.get(path)
    assert first.status_code == 200

    redis_client = cache.cache._write_client
    sent: list[str] = []
    send = redis_client.execute_command

    def recorded(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return send(*args, **options)

    def pipeline(*args: Any, **options: Any) -> Any:
        sent.append("pipeline")
        return type(redis_client).pipeline(redis_client, *args, **options)

    monkeypatch.setattr(redis_client, "execute_command", recorded)
    monkeypatch.setattr(redis_client, "pipeline", pipeline)
    with count_statements() as statements:
        again = client.get(path)

    assert sent == ["MGET"]
    assert statements == []
    assert again.get_data() == first.get_data()


def test_a_users_generation_expires_and_the_epoch_does_not(redis_app: Flask) -> None:
    from app import cache_scopes

    make_user("alice")
    assert redis_app.test_client().get("/users/alice").status_code == 200

    backend = cache.cache
    lifetime = backend._read_client.ttl(
        backend.key_prefix + cache_scopes.generation_key(cache_scopes.username_scope("alice"))
    )
    epoch_lifetime = backend._read_client.ttl(
        backend.key_prefix + cache_scopes.generation_key(cache_scopes.EPOCH)
    )
    assert 0 < lifetime <= 2 * redis_app.config["CACHE_DEFAULT_TIMEOUT"]
    assert epoch_lifetime == -1  # kept, with no expiry


def test_a_users_list_generation_is_replaced_before_their_profiles(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A profile rendered between the two writes must not keep the list from before."""
    from app import cache_scopes

    written: list[str] = []
    set_many = cache.cache.set_many

    def recorded(mapping: dict[str, Any], timeout: Any = None) -> Any:
        written.extend(mapping)
        return set_many(mapping, timeout)

    monkeypatch.setattr(cache.cache, "set_many", recorded)
    user = make_user("alice")

    name, by_id = (
        cache_scopes.generation_key(scope)
        for scope in (cache_scopes.username_scope("alice"), cache_scopes.user_scope(user.id))
    )
    assert written.index(by_id) < written.index(name)
