"""Lists of posts kept rendered for logged-in visitors: cheap, never stale, never personal."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Post, User
from tests.helpers import SiteSession, count_statements, make_user, text

pytestmark = pytest.mark.db


def _publish(author: User, title: str) -> Post:
    post = Post(title=title, body="Some words.", author=author)
    db.session.add(post)
    db.session.commit()
    return post


def _list_in(html: str) -> str:
    return html[html.index('<ol class="post-list">') : html.index("</ol>")]


@pytest.fixture
def logged_in(client: FlaskClient, user: User) -> FlaskClient:
    assert SiteSession(client).login().status_code == 302
    client.get("/about")  # shows, and so ends, the welcome message
    return client


def test_a_logged_in_home_page_reads_only_the_user_once_its_list_is_kept(
    logged_in: FlaskClient, user: User
) -> None:
    _publish(user, "Kept")
    first = text(logged_in.get("/"))
    with count_statements() as statements:
        again = logged_in.get("/")
    assert again.status_code == 200
    # The session's user, checked against the database on every request; nothing else.
    assert len(statements) == 1
    assert "FROM users" in statements[0]
    assert _list_in(text(again)) == _list_in(first)
    assert "Kept" in _list_in(first)


def test_a_new_or_changed_post_shows_at_once_on_the_logged_in_pages(
    logged_in: FlaskClient, user: User
) -> None:
    post = _publish(user, "Before")
    assert "Before" in text(logged_in.get("/"))
    assert "Before" in text(logged_in.get("/users/alice"))

    post.title = "After"
    db.session.commit()
    _publish(user, "Another")
    for page in ("/", "/users/alice"):
        html = text(logged_in.get(page))
        assert "After" in html
        assert "Another" in html
        assert "Before" not in html
    assert "2 posts" in text(logged_in.get("/users/alice"))


def test_the_kept_list_is_the_same_for_everyone_and_the_frame_is_each_visitors_own(
    app: Flask, user: User
) -> None:
    bob = make_user("bob")
    _publish(bob, "Shared")
    alice_browser, bob_browser, anonymous = (app.test_client() for _ in range(3))
    SiteSession(alice_browser).login("alice")
    SiteSession(bob_browser).login("bob")

    as_alice = text(alice_browser.get("/"))
    as_bob = text(bob_browser.get("/"))
    as_nobody = text(anonymous.get("/"))
    for html in (as_alice, as_bob, as_nobody):
        assert "Shared" in html
    assert 'class="nav-user" href="/users/alice">alice<' in as_alice
    assert 'class="nav-user" href="/users/bob">bob<' in as_bob
    assert "nav-user" not in as_nobody
    # The list (by bob, linking to bob's profile) is the same HTML for all three.
    assert _list_in(as_alice) == _list_in(as_bob) == _list_in(as_nobody)


def test_pages_past_the_end_are_404_and_an_empty_list_shows_the_empty_state(
    logged_in: FlaskClient, user: User
) -> None:
    assert "Write the first post" in text(logged_in.get("/"))
    assert "Write your first post" in text(logged_in.get("/users/alice"))
    _publish(user, "Only")
    for page in ("/?page=2", "/users/alice?page=2"):
        # Twice: the second answer comes from what the first kept.
        assert logged_in.get(page).status_code == 404
        assert logged_in.get(page).status_code == 404
    assert logged_in.get("/?page=1").status_code == 200


def test_pagination_links_are_kept_with_the_list(
    app: Flask, logged_in: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    for number in range(5):
        _publish(user, f"post {number}")
    logged_in.get("/users/alice?page=2")
    html = text(logged_in.get("/users/alice?page=2"))
    assert 'href="/users/alice"' in html
    assert 'href="/users/alice?page=3"' in html
    assert "Page 2 of 3" in html
