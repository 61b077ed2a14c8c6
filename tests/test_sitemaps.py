"""robots.txt and the sitemap: what crawlers may read, and every public page listed for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.robotparser import RobotFileParser
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete

from app import sitemaps
from app.extensions import db
from app.models import Post, User
from tests.helpers import SiteSession, count_statements, make_user, text

pytestmark = pytest.mark.db

PUBLIC_URL = "https://blog.example/site"
NAMESPACE = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
BASE_TIME = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
# The protocol's limit for one file.
MOST_ADDRESSES_PER_SITEMAP = 50_000


@pytest.fixture(autouse=True)
def public_url(app: Flask) -> None:
    app.config["PUBLIC_URL"] = PUBLIC_URL


def add_post(author: User, minute: int, edited_minute: int | None = None) -> Post:
    created = BASE_TIME + timedelta(minutes=minute)
    updated = BASE_TIME + timedelta(minutes=edited_minute or minute)
    post = Post(title="T", body="B", author=author, created_at=created, updated_at=updated)
    db.session.add(post)
    db.session.commit()
    return post


def read(client: FlaskClient, path: str, root: str) -> list[tuple[str, str | None]]:
    """A sitemap or index as (address, lastmod) pairs, in order."""
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.mimetype == "application/xml"
    document = ElementTree.fromstring(response.get_data())
    assert document.tag == f"{NAMESPACE}{root}"
    item = "sitemap" if root == "sitemapindex" else "url"
    entries = []
    for element in document:
        assert element.tag == f"{NAMESPACE}{item}"
        entries.append(
            (element.findtext(f"{NAMESPACE}loc") or "", element.findtext(f"{NAMESPACE}lastmod"))
        )
    return entries


def w3c(minute: int) -> str:
    return (BASE_TIME + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_index_names_a_sitemap_per_kind_of_page_with_absolute_addresses(
    client: FlaskClient, user: User
) -> None:
    add_post(user, 1)
    add_post(user, 2, edited_minute=30)

    # Whatever Host the request names: the addresses come from PUBLIC_URL.
    index = read(client, "/sitemap.xml", "sitemapindex")
    assert "attacker" not in text(client.get("/sitemap.xml", headers={"Host": "attacker.example"}))

    assert index == [
        (f"{PUBLIC_URL}/sitemaps/pages.xml", None),
        (f"{PUBLIC_URL}/sitemaps/users-1.xml", None),
        (f"{PUBLIC_URL}/sitemaps/posts-1.xml", None),
    ]


def test_the_sitemaps_list_home_about_every_profile_and_every_post(
    client: FlaskClient, user: User
) -> None:
    bob = make_user("Bob")
    first = add_post(user, 1)
    second = add_post(bob, 2, edited_minute=9)

    pages = read(client, "/sitemaps/pages.xml", "urlset")
    profiles = read(client, "/sitemaps/users-1.xml", "urlset")
    posts = read(client, "/sitemaps/posts-1.xml", "urlset")

    assert pages == [(f"{PUBLIC_URL}/", w3c(9)), (f"{PUBLIC_URL}/about", None)]
    assert profiles == [(f"{PUBLIC_URL}/users/alice", None), (f"{PUBLIC_URL}/users/Bob", None)]
    assert posts == [
        (f"{PUBLIC_URL}/posts/{first.id}", w3c(1)),
        (f"{PUBLIC_URL}/posts/{second.id}", w3c(9)),
    ]
    # Each address is a page anyone can read.
    for address, _ in pages + profiles + posts:
        path = address.removeprefix(PUBLIC_URL)
        assert client.get(path).status_code == 200, path


def test_the_home_page_is_dated_by_the_newest_change_among_the_posts_it_shows(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    # Edited last, but on page 2: the home page did not change with it.
    add_post(user, 1, edited_minute=50)
    add_post(user, 2, edited_minute=20)
    add_post(user, 3)

    [(home, lastmod), _] = read(client, "/sitemaps/pages.xml", "urlset")

    assert home == f"{PUBLIC_URL}/"
    assert lastmod == w3c(20)


def test_an_empty_site_lists_its_pages_only(client: FlaskClient) -> None:
    assert read(client, "/sitemap.xml", "sitemapindex") == [
        (f"{PUBLIC_URL}/sitemaps/pages.xml", None)
    ]
    assert client.get("/sitemaps/users-1.xml").status_code == 404
    assert client.get("/sitemaps/posts-1.xml").status_code == 404


def test_posts_are_split_into_numbered_sitemaps_by_id_and_empty_blocks_are_left_out(
    client: FlaskClient, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sitemaps, "SITEMAP_SIZE", 2)
    posts = [add_post(user, minute) for minute in range(1, 8)]
    # Ids 3 and 4 (the second block) are gone.
    db.session.execute(delete(Post).where(Post.id.in_([posts[2].id, posts[3].id])))
    db.session.commit()

    index = [address for address, _ in read(client, "/sitemap.xml", "sitemapindex")]

    assert index == [
        f"{PUBLIC_URL}/sitemaps/pages.xml",
        f"{PUBLIC_URL}/sitemaps/users-1.xml",
        f"{PUBLIC_URL}/sitemaps/posts-1.xml",
        f"{PUBLIC_URL}/sitemaps/posts-3.xml",
        f"{PUBLIC_URL}/sitemaps/posts-4.xml",
    ]
    listed = [
        address
        for number in (1, 3, 4)
        for address, _ in read(client, f"/sitemaps/posts-{number}.xml", "urlset")
    ]
    assert listed == [f"{PUBLIC_URL}/posts/{post.id}" for post in posts if post not in posts[2:4]]
    assert client.get("/sitemaps/posts-2.xml").status_code == 404
    assert client.get("/sitemaps/posts-0.xml").status_code == 404
    assert client.get("/sitemaps/posts-9999999999.xml").status_code == 404


def test_no_sitemap_may_hold_more_addresses_than_the_protocol_allows() -> None:
    # Pages hold two addresses; every other sitemap holds at most one block.
    assert sitemaps.SITEMAP_SIZE <= MOST_ADDRESSES_PER_SITEMAP


def test_sitemaps_are_kept_answered_conditionally_and_dropped_when_a_post_is_written(
    client: FlaskClient, user: User
) -> None:
    add_post(user, 1)
    for path in ("/sitemap.xml", "/sitemaps/pages.xml", "/sitemaps/posts-1.xml"):
        first = client.get(path)
        with count_statements() as statements:
            kept = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert kept.status_code == 304, path
        assert statements == [], path

    site = SiteSession(client)
    site.login()
    site.post_form("/posts/new", {"title": "Fresh", "body": "New."})
    site.logout()

    posts = read(client, "/sitemaps/posts-1.xml", "urlset")
    assert len(posts) == 2


def test_a_new_user_appears_in_the_sitemap_at_once(client: FlaskClient, user: User) -> None:
    read(client, "/sitemaps/users-1.xml", "urlset")

    SiteSession(client).register("carol")

    profiles = [address for address, _ in read(client, "/sitemaps/users-1.xml", "urlset")]
    assert profiles == [f"{PUBLIC_URL}/users/alice", f"{PUBLIC_URL}/users/carol"]


def test_without_a_public_url_there_is_no_sitemap(app: Flask, client: FlaskClient) -> None:
    app.config["PUBLIC_URL"] = None

    for path in ("/sitemap.xml", "/sitemaps/pages.xml"):
        assert client.get(path).status_code == 404, path
    assert "Sitemap:" not in text(client.get("/robots.txt"))


def robots(client: FlaskClient) -> RobotFileParser:
    response = client.get("/robots.txt")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    parser = RobotFileParser()
    parser.parse(text(response).splitlines())
    return parser


def test_robots_lets_crawlers_read_the_public_pages_and_names_the_sitemap(
    client: FlaskClient, user: User
) -> None:
    post = add_post(user, 1)

    parser = robots(client)

    public = ["/", "/?page=2", "/about", "/users/alice", f"/posts/{post.id}", "/api/docs"]
    public += ["/feed.atom", "/users/alice/feed.atom", "/sitemap.xml", "/sitemaps/posts-1.xml"]
    for path in public:
        assert parser.can_fetch("AnyBot", path), path
    assert parser.site_maps() == [f"{PUBLIC_URL}/sitemap.xml"]


def test_robots_keeps_crawlers_from_accounts_and_the_apis_data(client: FlaskClient) -> None:
    parser = robots(client)

    for path in (
        "/auth/login",
        "/auth/register",
        "/auth/forgot-password",
        "/account",
        "/account/tokens/1/revoke",
        "/api/posts",
        "/api/users/1",
        "/api/openapi.json",
    ):
        assert not parser.can_fetch("AnyBot", path), path
