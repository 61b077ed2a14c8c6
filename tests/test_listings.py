"""The post and user lists: constant query counts, and a cache that is never stale or personal."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.extensions import cache, db
from app.models import Post, User
from tests.helpers import (
    PASSWORD,
    bearer,
    count_statements,
    make_user,
    redis_up,
    skip_or_fail,
)

pytestmark = pytest.mark.db


def _add_posts(count: int, authors: list[User]) -> None:
    for i in range(count):
        db.session.add(Post(title=f"post {i}", body="text", author=authors[i % len(authors)]))
    db.session.commit()


def _statements_for(client: FlaskClient, url: str) -> int:
    cache.clear()
    with count_statements() as statements:
        response = client.get(url)
        assert response.status_code == 200
    return len(statements)


@pytest.mark.parametrize(
    "url",
    ["/", "/users/author0", "/api/posts?per_page=50", "/api/users/1/posts?per_page=50"],
)
def test_listing_query_count_does_not_grow_with_the_number_of_posts(
    app: Flask, client: FlaskClient, url: str
) -> None:
    app.config["POSTS_PER_PAGE"] = 50
    authors = [make_user(f"author{i}") for i in range(5)]
    _add_posts(2, authors[:1])
    few = _statements_for(client, url)
    _add_posts(40, authors[:1])
    many = _statements_for(client, url)
    assert many == few
    # A count and one joined select (plus the user for a profile page).
    assert many <= 3


def test_home_page_query_count_is_the_same_with_many_distinct_authors(
    app: Flask, client: FlaskClient
) -> None:
    app.config["POSTS_PER_PAGE"] = 50
    authors = [make_user(f"writer{i}") for i in range(30)]
    _add_posts(2, authors[:2])
    few = _statements_for(client, "/")
    _add_posts(30, authors)
    assert _statements_for(client, "/") == few


def test_cached_listing_is_served_without_queries(app: Flask, client: FlaskClient) -> None:
    _add_posts(3, [make_user("author0")])
    client.get("/api/posts")
    with count_statements() as statements:
        client.get("/api/posts")
    assert statements == []


def test_new_and_edited_posts_show_on_the_very_next_read(
    client: FlaskClient, user: User, token: str
) -> None:
    assert client.get("/api/posts").get_json()["total"] == 0
    created = client.post("/api/posts", json={"title": "First", "body": "b"}, headers=bearer(token))
    assert [p["title"] for p in client.get("/api/posts").get_json()["items"]] == ["First"]
    assert "First" in client.get("/").get_data(as_text=True)

    post_id = created.get_json()["id"]
    client.patch(f"/api/posts/{post_id}", json={"title": "Renamed"}, headers=bearer(token))
    assert [p["title"] for p in client.get("/api/posts").get_json()["items"]] == ["Renamed"]
    home = client.get("/").get_data(as_text=True)
    assert "Renamed" in home
    assert "First" not in home

    client.delete(f"/api/posts/{post_id}", headers=bearer(token))
    assert client.get("/api/posts").get_json()["items"] == []


def test_a_new_user_shows_in_the_user_list_at_once(client: FlaskClient) -> None:
    assert client.get("/api/users").get_json()["total"] == 0
    make_user("newcomer")
    assert [u["username"] for u in client.get("/api/users").get_json()["items"]] == ["newcomer"]


def test_an_edit_made_outside_a_request_invalidates_the_cache(
    app: Flask, client: FlaskClient, user: User
) -> None:
    db.session.add(Post(title="Original", body="b", author=user))
    db.session.commit()
    assert "Original" in client.get("/").get_data(as_text=True)
    post = db.session.scalars(select(Post)).one()
    post.title = "Changed from a shell"
    db.session.commit()
    assert "Changed from a shell" in client.get("/").get_data(as_text=True)


@pytest.fixture
def two_processes_sharing_redis(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Flask, Flask]]:
    """Two app instances, as two mod_wsgi processes would be, with one Redis cache."""
    if not redis_up():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    monkeypatch.setenv("CACHE_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CACHE_KEY_PREFIX", f"flaskapp-test-{os.getpid()}:")
    if not os.environ.get("TEST_DATABASE_URL"):
        # Both processes must see the same database: one file.
        monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{tmp_path / 'shared.db'}")
    first, second = create_app("testing"), create_app("testing")
    assert first.config["CACHE_TYPE"] == "app.resilient_cache.ResilientRedisCache"
    with first.app_context():
        db.create_all()
        cache.clear()
    yield first, second
    with first.app_context():
        cache.clear()
        db.drop_all()
        db.engine.dispose()
    with second.app_context():
        db.engine.dispose()


def test_a_write_in_one_process_is_seen_by_another_through_redis(
    two_processes_sharing_redis: tuple[Flask, Flask],
) -> None:
    first, second = two_processes_sharing_redis
    reader = first.test_client()
    assert reader.get("/api/posts").get_json()["total"] == 0
    with second.app_context():
        user = make_user("shared")
        db.session.add(Post(title="From the other process", body="b", author=user))
        db.session.commit()
    titles = [p["title"] for p in reader.get("/api/posts").get_json()["items"]]
    assert titles == ["From the other process"]


def test_issuing_tokens_logging_out_and_a_new_password_keep_the_cached_lists(
    app: Flask, client: FlaskClient, user: User, token: str
) -> None:
    from tests.helpers import basic_auth

    db.session.add(Post(title="Kept", body="b", author=user))
    db.session.commit()
    pages = ["/", "/users/alice", "/api/posts", "/api/users", f"/api/users/{user.id}/posts"]
    for url in pages:
        client.get(url)
    with app.test_request_context():
        generations = cache.get_many(*_generation_keys(user))

    assert client.post("/api/tokens", headers=basic_auth("alice")).status_code == 201
    assert client.delete("/api/tokens", headers=bearer(token)).status_code == 204
    second = client.post("/api/tokens", headers=basic_auth("alice")).get_json()["token"]
    changed = client.patch(
        "/api/me",
        json={"current_password": PASSWORD, "new_password": "another long passphrase"},
        headers=bearer(second),
    )
    assert changed.status_code == 200, changed.get_json()

    with app.test_request_context():
        assert cache.get_many(*_generation_keys(user)) == generations
    assert None not in generations
    for url in pages:
        with count_statements() as statements:
            assert client.get(url).status_code == 200
        assert statements == [], url


def _generation_keys(user: User) -> list[str]:
    from app import cache_scopes

    scopes = [
        cache_scopes.EPOCH,
        cache_scopes.POSTS,
        cache_scopes.USERS,
        cache_scopes.user_scope(user.id),
        cache_scopes.username_scope(user.username_key),
    ]
    return [cache_scopes.generation_key(scope) for scope in scopes]


def test_a_new_post_drops_only_the_lists_it_appears_in(
    app: Flask, client: FlaskClient, user: User, token: str
) -> None:
    from app import listings

    bob = make_user("bob")
    db.session.add(Post(title="Bob's post", body="b", author=bob))
    db.session.commit()
    alice_id, bob_id = user.id, bob.id
    listings.latest_posts(1, 10), listings.posts_by(bob_id, 1, 10), listings.users(1, 10)

    created = client.post("/api/posts", json={"title": "News", "body": "b"}, headers=bearer(token))
    assert created.status_code == 201

    db.session.rollback()  # see what the request committed (MariaDB)
    with count_statements() as statements:
        assert [p.title for p in listings.posts_by(bob_id, 1, 10).items] == ["Bob's post"]
        assert [u.username for u in listings.users(1, 10).items] == ["alice", "bob"]
    assert statements == []
    assert [p.title for p in listings.latest_posts(1, 10).items] == ["News", "Bob's post"]
    assert [p.title for p in listings.posts_by(alice_id, 1, 10).items] == ["News"]


def test_an_edit_made_outside_a_request_shows_in_every_list_of_the_post(
    app: Flask, client: FlaskClient, user: User
) -> None:
    from app import listings

    db.session.add(Post(title="Before", body="b", author=user))
    db.session.commit()
    user_id = user.id
    listings.latest_posts(1, 10), listings.posts_by(user_id, 1, 10)
    assert "Before" in client.get("/users/ALICE").get_data(as_text=True)
    # Not loaded with its author: the author's name is looked up for the profile's scope.
    db.session.expunge_all()
    post = db.session.scalars(select(Post)).one()
    post.title = "After"
    db.session.commit()

    assert [p.title for p in listings.latest_posts(1, 10).items] == ["After"]
    assert [p.title for p in listings.posts_by(user_id, 1, 10).items] == ["After"]
    assert "After" in client.get("/users/ALICE").get_data(as_text=True)


@pytest.mark.parametrize("by_author", [False, True])
def test_deep_pages_read_through_their_ids_list_the_same_posts(
    app: Flask, monkeypatch: pytest.MonkeyPatch, by_author: bool
) -> None:
    from app import listings

    authors = [make_user("deep0"), make_user("deep1")]
    _add_posts(30, authors)
    user_id = authors[0].id if by_author else None

    def every_page(deep_from: int) -> list[list[int]]:
        monkeypatch.setattr(listings, "DEEP_OFFSET", deep_from)
        pages = []
        for number in range(1, 9):
            page = listings._load_posts(user_id, number, 4)
            pages.append([post.id for post in page.items])
            assert page.total == (15 if by_author else 30)
        return pages

    assert every_page(deep_from=0) == every_page(deep_from=10**9)
    assert sum(every_page(deep_from=0), [])  # not all empty
