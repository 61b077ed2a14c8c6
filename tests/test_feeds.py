"""Atom feeds of the latest posts, read with feedparser as a feed reader reads them."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from time import struct_time
from typing import Any

import feedparser
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from app.extensions import db
from app.feeds import FEED_ENTRIES
from app.models import Post, User
from tests.helpers import SiteSession, count_statements, make_user, text

pytestmark = pytest.mark.db

PUBLIC_URL = "https://blog.example/site"
BASE_TIME = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def public_url(app: Flask) -> None:
    app.config["PUBLIC_URL"] = PUBLIC_URL


def add_post(author: User, title: str, body: str = "Some text.", minute: int = 0) -> Post:
    when = BASE_TIME + timedelta(minutes=minute)
    post = Post(title=title, body=body, author=author, created_at=when, updated_at=when)
    db.session.add(post)
    db.session.commit()
    return post


def parse(response: Any) -> Any:
    """The feed as a feed reader sees it; fails on anything a reader would stumble on."""
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.get_data())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def moment(parsed: struct_time) -> datetime:
    return datetime(*parsed[:6], tzinfo=UTC)


def links(item: Any) -> dict[str, str]:
    return {link["rel"]: link["href"] for link in item.links}


def test_the_site_feed_has_the_latest_posts_with_absolute_links_from_the_public_url(
    client: FlaskClient, user: User
) -> None:
    bob = make_user("bob")
    first = add_post(user, "First", minute=1)
    second = add_post(bob, "Second", minute=2)

    # The Host a request names is the client's choice: nothing in the feed uses it.
    feed = parse(client.get("/feed.atom", headers={"Host": "attacker.example"}))

    assert feed.feed.title == "Flask Site"
    assert feed.feed.id == f"{PUBLIC_URL}/feed.atom"
    assert links(feed.feed) == {"self": f"{PUBLIC_URL}/feed.atom", "alternate": f"{PUBLIC_URL}/"}
    assert [entry.title for entry in feed.entries] == ["Second", "First"]
    newest = feed.entries[0]
    assert newest.id == f"{PUBLIC_URL}/posts/{second.id}"
    assert links(newest) == {"alternate": f"{PUBLIC_URL}/posts/{second.id}"}
    assert newest.author_detail == {"name": "bob", "href": f"{PUBLIC_URL}/users/bob"}
    assert moment(newest.published_parsed) == BASE_TIME + timedelta(minutes=2)
    assert moment(newest.updated_parsed) == BASE_TIME + timedelta(minutes=2)
    assert feed.entries[1].id == f"{PUBLIC_URL}/posts/{first.id}"
    assert "attacker.example" not in text(client.get("/feed.atom"))


def test_the_feed_is_updated_when_its_latest_entry_was_even_an_older_edited_post(
    client: FlaskClient, user: User
) -> None:
    older = add_post(user, "Older", minute=1)
    add_post(user, "Newer", minute=2)
    edited = BASE_TIME + timedelta(days=3)
    db.session.execute(update(Post).where(Post.id == older.id).values(updated_at=edited))
    db.session.commit()

    feed = parse(client.get("/feed.atom"))

    # Entries stay in the order posts were written; the feed is as new as its newest change.
    assert [entry.title for entry in feed.entries] == ["Newer", "Older"]
    assert moment(feed.entries[1].updated_parsed) == edited
    assert moment(feed.entries[1].published_parsed) == BASE_TIME + timedelta(minutes=1)
    assert moment(feed.feed.updated_parsed) == edited


def test_an_empty_feed_is_valid_and_dated_at_the_epoch(client: FlaskClient) -> None:
    feed = parse(client.get("/feed.atom"))

    assert feed.entries == []
    assert moment(feed.feed.updated_parsed) == datetime(1970, 1, 1, tzinfo=UTC)


def test_entries_carry_the_posts_rendered_html_and_plain_text_titles(
    client: FlaskClient, user: User
) -> None:
    post = add_post(user, "<script>alert(1)</script>", "Some **bold** and <b>raw</b>\n\nA & B")

    [entry] = parse(client.get("/feed.atom")).entries

    assert entry.title == "<script>alert(1)</script>"
    assert entry.title_detail.type == "text/plain"
    [content] = entry.content
    assert content.type == "text/html"
    # The Markdown as the post's page shows it: rendered, its raw HTML escaped.
    assert content.value == post.body_html.strip()
    assert "<strong>bold</strong>" in content.value
    assert "&lt;b&gt;raw&lt;/b&gt;" in content.value


def test_a_character_xml_cannot_hold_does_not_break_the_feed(
    client: FlaskClient, user: User
) -> None:
    # Written past the site's text rules, as plain SQL could.
    post = add_post(user, "Fine", "Bell \x07 here")

    [entry] = parse(client.get("/feed.atom")).entries

    assert entry.id == f"{PUBLIC_URL}/posts/{post.id}"
    assert entry.content[0].value == "<p>Bell \ufffd here</p>"


def test_a_feed_holds_the_latest_posts_only(client: FlaskClient, user: User) -> None:
    for number in range(FEED_ENTRIES + 3):
        add_post(user, f"Post {number}", minute=number)

    feed = parse(client.get("/feed.atom"))

    assert len(feed.entries) == FEED_ENTRIES
    assert feed.entries[0].title == f"Post {FEED_ENTRIES + 2}"
    assert feed.entries[-1].title == "Post 3"


def test_a_users_feed_has_only_their_posts_and_names_them_as_registered(
    client: FlaskClient, user: User
) -> None:
    bob = make_user("Bob")
    add_post(user, "By alice", minute=1)
    add_post(bob, "By Bob", minute=2)

    feed = parse(client.get("/users/BOB/feed.atom"))

    assert feed.feed.title == "Bob · Flask Site"
    assert links(feed.feed) == {
        "self": f"{PUBLIC_URL}/users/Bob/feed.atom",
        "alternate": f"{PUBLIC_URL}/users/Bob",
    }
    assert [entry.title for entry in feed.entries] == ["By Bob"]


def test_a_users_feed_without_posts_is_valid_and_an_unknown_users_is_404(
    client: FlaskClient, user: User
) -> None:
    assert parse(client.get("/users/alice/feed.atom")).entries == []
    assert client.get("/users/nobody/feed.atom").status_code == 404


def test_a_reader_holding_the_feed_gets_304_by_etag_or_date_until_it_changes(
    client: FlaskClient, user: User
) -> None:
    add_post(user, "First", minute=1)
    first = client.get("/feed.atom")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert modified == "Fri, 01 Mar 2024 09:31:00 GMT"

    # Answered from the page cache, which kept the first answer (the view's own
    # conditional answer is a logged-in reader's, in the next test).
    by_etag = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert by_etag.status_code == 304
    assert by_etag.get_data() == b""
    by_date = client.get("/feed.atom", headers={"If-Modified-Since": modified})
    assert by_date.status_code == 304

    add_post(user, "Second", minute=2)
    changed = client.get("/feed.atom", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert [entry.title for entry in parse(changed).entries] == ["Second", "First"]


def test_a_logged_in_reader_gets_304_too(app: Flask, user: User) -> None:
    site = SiteSession(app.test_client())
    assert site.login().status_code == 302
    add_post(user, "First", minute=1)

    first = site.client.get("/feed.atom")
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "private, no-store"
    by_etag = site.client.get("/feed.atom", headers={"If-None-Match": first.headers["ETag"]})
    by_date = site.client.get(
        "/feed.atom", headers={"If-Modified-Since": first.headers["Last-Modified"]}
    )

    assert by_etag.status_code == 304
    assert by_date.status_code == 304


def test_feeds_are_kept_like_the_pages_and_dropped_when_a_post_changes(
    client: FlaskClient, user: User
) -> None:
    add_post(user, "Kept", minute=1)
    for path in ("/feed.atom", "/users/alice/feed.atom"):
        client.get(path)
        with count_statements() as statements:
            kept = client.get(path)
        assert kept.status_code == 200
        assert statements == [], path

    SiteSession(client).login()
    SiteSession(client).post_form("/posts/new", {"title": "Fresh", "body": "New."})
    SiteSession(client).logout()

    for path in ("/feed.atom", "/users/alice/feed.atom"):
        assert parse(client.get(path)).entries[0].title == "Fresh", path


def test_pages_link_to_their_feeds(client: FlaskClient, user: User) -> None:
    site_feed = '<link rel="alternate" type="application/atom+xml" href="/feed.atom"'
    user_feed = '<link rel="alternate" type="application/atom+xml" href="/users/alice/feed.atom"'

    home, profile = text(client.get("/")), text(client.get("/users/alice"))

    assert site_feed in home
    assert user_feed not in home
    assert site_feed in profile
    assert user_feed in profile


def test_without_a_public_url_there_are_no_feeds_and_no_links_to_them(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["PUBLIC_URL"] = None

    assert client.get("/feed.atom").status_code == 404
    assert client.get("/users/alice/feed.atom").status_code == 404
    for page in (text(client.get("/")), text(client.get("/users/alice"))):
        assert not re.search(r"<link [^>]*application/atom\+xml", page)
