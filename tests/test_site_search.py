"""The site's search: /search?q=, the header's search box, pages that keep the query."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import Post, User
from tests.helpers import fresh, make_user, text
from tests.test_search import searches_held_up

pytestmark = pytest.mark.db

BASE_TIME = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
SEARCH_FORM = re.compile(r'<form class="([^"]*)" role="search" method="get" action="([^"]*)">')


def add_post(author: User, title: str, body: str = "Some text.", minute: int = 0) -> int:
    when = BASE_TIME + timedelta(minutes=minute)
    post = Post(title=title, body=body, author=author, created_at=when, updated_at=when)
    db.session.add(post)
    db.session.commit()
    fresh()
    return post.id


def post_titles(page: str) -> list[str]:
    return [
        html.unescape(title)
        for title in re.findall(r'<h2 class="post-summary-title"><a href="[^"]*">([^<]*)</a>', page)
    ]


def pagination_links(page: str) -> dict[str, str]:
    """rel (prev, next) -> href, unescaped."""
    return {
        rel: html.unescape(href)
        for rel, href in re.findall(r'rel="(prev|next)" href="([^"]*)"', page)
    }


def search_box_value(page: str) -> str:
    match = re.search(r'<input id="search-q" type="search" name="q" value="([^"]*)"', page)
    assert match, "the search page has no query box"
    return html.unescape(match.group(1))


def test_every_page_has_a_search_box_in_its_header_but_the_search_page(
    client: FlaskClient, user: User
) -> None:
    post_id = add_post(user, "A post")
    for path in ("/", "/about", "/users/alice", f"/posts/{post_id}", "/auth/login"):
        page = text(client.get(path))
        assert SEARCH_FORM.findall(page) == [("site-search", "/search")], path
        assert '<label class="visually-hidden" for="site-search-q">Search posts</label>' in page
        assert '<input id="site-search-q" type="search" name="q"' in page

    # The search page's own form holds the query; a second box would not.
    assert SEARCH_FORM.findall(text(client.get("/search?q=post"))) == [("search-form", "/search")]


def test_the_search_page_without_words_asks_for_some(client: FlaskClient, user: User) -> None:
    add_post(user, "A post")

    for path in ("/search", "/search?q=", "/search?q=+++"):
        response = client.get(path)
        page = text(response)
        assert response.status_code == 200, path
        assert "<h1>Search posts</h1>" in page
        assert "Find posts by the words in their title or text." in page
        assert post_titles(page) == []
        assert 'aria-invalid="true"' not in page


def test_results_show_the_query_in_the_heading_and_the_box_newest_first(
    client: FlaskClient, user: User
) -> None:
    bob = make_user("bob")
    add_post(user, "Old lantern", minute=1)
    add_post(bob, "New lantern", "By bob.", minute=2)
    add_post(user, "A candle", minute=3)

    response = client.get("/search?q=Lantern")

    page = text(response)
    assert response.status_code == 200
    assert "<h1>Posts matching “Lantern”</h1>" in page
    assert "<title>Search: Lantern · " in page
    assert search_box_value(page) == "Lantern"
    assert "2 posts found." in page
    assert post_titles(page) == ["New lantern", "Old lantern"]
    # The lists' own markup: the author's link and the excerpt.
    assert 'by <a href="/users/bob">bob</a>' in page
    assert '<p class="post-excerpt">By bob.</p>' in page


def test_best_match_first_is_chosen_in_the_form_and_kept(client: FlaskClient, user: User) -> None:
    add_post(user, "Once", "A lantern and more words than the other one has.", minute=2)
    add_post(user, "Twice", "Lantern, lantern.", minute=1)
    for number in range(4):
        add_post(user, f"Other {number}", minute=10 + number)

    page = text(client.get("/search?q=lantern&order=relevance"))

    assert post_titles(page) == ["Twice", "Once"]
    assert '<option value="relevance" selected>Best match first</option>' in page
    assert post_titles(text(client.get("/search?q=lantern&order=newest"))) == ["Once", "Twice"]


def test_pages_of_results_keep_the_query_and_the_order_in_their_links(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    for number in range(1, 6):
        add_post(user, f"Lantern {number}", minute=number)
    query = 'lantern & 50% "the"'

    first = text(client.get("/search", query_string={"q": query}))
    second = text(client.get("/search", query_string={"q": query, "page": 2}))
    best = text(client.get("/search", query_string={"q": query, "order": "relevance"}))

    assert post_titles(first) == ["Lantern 5", "Lantern 4"]
    assert pagination_links(first) == {"next": "/search?page=2&q=lantern+%26+50%25+%22the%22"}
    assert post_titles(second) == ["Lantern 3", "Lantern 2"]
    assert "Page 2 of 3" in second
    assert search_box_value(second) == query
    assert pagination_links(best)["next"] == (
        "/search?page=2&q=lantern+%26+50%25+%22the%22&order=relevance"
    )
    following = text(client.get(pagination_links(best)["next"]))
    assert len(post_titles(following)) == 2
    assert '<option value="relevance" selected>' in following


def test_the_query_is_escaped_wherever_it_is_shown(client: FlaskClient, user: User) -> None:
    add_post(user, "Script lantern")

    page = text(client.get("/search", query_string={"q": '<script>alert("lantern")</script>'}))

    assert "<script>" not in page
    assert "<h1>Posts matching “&lt;script&gt;alert(&#34;lantern&#34;)&lt;/script&gt;”</h1>" in page
    assert search_box_value(page) == '<script>alert("lantern")</script>'


def test_no_result_is_said_so(client: FlaskClient, user: User) -> None:
    add_post(user, "A lantern")

    response = client.get("/search?q=candle")

    page = text(response)
    assert response.status_code == 200
    assert "0 posts found." in page
    assert "No post holds every word searched." in page
    assert post_titles(page) == []
    assert 'class="pagination"' not in page


def test_words_left_out_are_named(client: FlaskClient, user: User) -> None:
    add_post(user, "A lantern")

    page = text(client.get("/search?q=the+lantern+of+go"))

    assert post_titles(page) == ["A lantern"]
    assert "Not searched: the, of, go." in page


def test_punctuation_alone_finds_nothing_and_is_no_error(client: FlaskClient, user: User) -> None:
    add_post(user, "100% lantern_oil")

    for query in ("%", "_", "%_%", '"', "'"):
        response = client.get("/search", query_string={"q": query})
        assert response.status_code == 200, query
        assert post_titles(text(response)) == [], query
        assert "0 posts found." in text(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("x" * 201, "Search for at most 200 characters."),
        (" ".join(f"word{number}" for number in range(17)), "Search for at most 16 words."),
    ],
)
def test_an_overlong_query_is_answered_with_a_clear_message(
    client: FlaskClient, user: User, query: str, message: str
) -> None:
    add_post(user, "A lantern")

    response = client.get("/search", query_string={"q": query})

    page = text(response)
    assert response.status_code == 400
    assert f'<p id="search-problem" class="search-problem">{message}</p>' in page
    assert 'aria-invalid="true" aria-describedby="search-problem"' in page
    assert search_box_value(page) == query
    assert post_titles(page) == []


@pytest.mark.parametrize(
    "path",
    [
        "/search?q=lantern&page=2",
        "/search?q=lantern&page=0",
        "/search?q=lantern&page=x",
        "/search?q=lantern&order=oldest",
        "/search?q=&order=best",
    ],
)
def test_a_page_past_the_results_or_an_unknown_order_is_a_404_page(
    client: FlaskClient, user: User, path: str
) -> None:
    add_post(user, "A lantern")

    response = client.get(path)

    assert response.status_code == 404
    assert '<span class="error-code">404</span>' in text(response)


def test_a_search_is_never_kept_for_the_next_visitor(client: FlaskClient, user: User) -> None:
    add_post(user, "A lantern")
    home = client.get("/")
    assert home.headers.get("ETag"), "the home page is kept: the comparison means something"

    first = client.get("/search?q=lantern")
    # Written behind the app's back: no generation changes, so only a page
    # read afresh can show it.
    db.session.execute(
        Post.__table__.insert().values(
            title="Another lantern",
            body="Plain SQL.",
            user_id=user.id,
            created_at=BASE_TIME + timedelta(minutes=1),
            updated_at=BASE_TIME + timedelta(minutes=1),
        )
    )
    db.session.commit()
    fresh()
    second = client.get("/search?q=lantern")

    assert "ETag" not in first.headers
    assert "Cache-Control" not in first.headers
    assert post_titles(text(second)) == ["Another lantern", "A lantern"]


def test_search_links_and_forms_carry_the_sub_url_prefix(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 1
    add_post(user, "Lantern one", minute=1)
    add_post(user, "Lantern two", minute=2)

    home = text(client.get("/", base_url="http://localhost/app"))
    results = text(client.get("/search?q=lantern", base_url="http://localhost/app"))

    assert SEARCH_FORM.findall(home) == [("site-search", "/app/search")]
    assert SEARCH_FORM.findall(results) == [("search-form", "/app/search")]
    assert pagination_links(results) == {"next": "/app/search?page=2&q=lantern"}


@pytest.mark.mariadb_only
def test_a_search_stopped_at_the_time_limit_is_a_503_page_saying_so(
    app: Flask, client: FlaskClient, user: User
) -> None:
    add_post(user, "A lantern")

    with searches_held_up(app):
        response = client.get("/search?q=lantern")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert "This search took too long and was stopped." in text(response)
    assert text(client.get("/")).count("A lantern") == 1


def test_searches_share_one_limit_per_client_on_the_site_and_the_api(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["RATELIMIT_SEARCH"] = "3 per minute"
    add_post(user, "Lighthouse keepers")
    assert client.get("/search?q=lighthouse").status_code == 200
    assert client.get("/api/posts?q=lighthouse").status_code == 200
    # The search page without words, a refused query and the plain lists search nothing.
    assert client.get("/search").status_code == 200
    assert client.get("/search?q=" + "x" * 500).status_code == 400
    assert client.get("/api/posts").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/search?q=keepers").status_code == 200

    page = client.get("/search?q=lighthouse")
    api = client.get("/api/posts?q=lighthouse")

    assert page.status_code == 429
    assert "Too many searches" in text(page)
    assert int(page.headers["Retry-After"]) >= 1
    assert api.status_code == 429
    assert "Too many searches" in api.get_json()["message"]
    assert int(api.headers["Retry-After"]) >= 1
    # Another client searches on.
    other = app.test_client()
    elsewhere = {"REMOTE_ADDR": "127.0.0.9"}
    assert other.get("/search?q=lighthouse", environ_base=elsewhere).status_code == 200
