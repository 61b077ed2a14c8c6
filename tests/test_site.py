"""The HTML site: home page, about, profiles, and writing, editing and deleting posts."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask, get_template_attribute
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.extensions import db
from app.models import Post, User
from app.page import Page
from tests.helpers import NAV_USER, SiteSession, csrf_token_from, fresh, make_user, text

pytestmark = pytest.mark.db

BASE_TIME = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
XSS_TITLE = "<script>alert(1)</script>"
ESCAPED_XSS_TITLE = "&lt;script&gt;alert(1)&lt;/script&gt;"
URL_ATTRIBUTE = re.compile(r'\b(?:href|src|action)="([^"]*)"')


def post_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(Post)) or 0


def load_post(post_id: int) -> Post | None:
    fresh()
    return db.session.get(Post, post_id)


def add_post(
    author: User, title: str = "A title", body: str = "Some text.", minute: int = 0
) -> int:
    """Commit a post written ``minute`` minutes after BASE_TIME; returns its id."""
    when = BASE_TIME + timedelta(minutes=minute)
    post = Post(title=title, body=body, author=author, created_at=when, updated_at=when)
    db.session.add(post)
    db.session.commit()
    return post.id


def logged_in(app: Flask, username: str = "alice") -> SiteSession:
    """A new client logged in as ``username`` (who must exist)."""
    session = SiteSession(app.test_client())
    response = session.login(username)
    assert response.status_code == 302, "log-in failed"
    return session


def nav_user(page: str) -> str | None:
    match = NAV_USER.search(page)
    return match.group(1) if match else None


def urls_in(page: str) -> list[str]:
    return [html.unescape(url) for url in URL_ATTRIBUTE.findall(page)]


def post_titles(page: str) -> list[str]:
    return re.findall(r'<h2 class="post-summary-title"><a href="[^"]*">([^<]*)</a>', page)


def field_errors(page: str) -> list[str]:
    return [
        html.unescape(error)
        for block in re.findall(r'<ul class="field-errors"[^>]*>(.*?)</ul>', page, re.S)
        for error in re.findall(r"<li>(.*?)</li>", block, re.S)
    ]


def assert_404_page(response) -> None:
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert '<span class="error-code">404</span>' in text(response)


def assert_redirects_to_login(response, next_path: str) -> None:
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/auth/login"
    assert parse_qs(location.query)["next"] == [next_path]


# --- home page ---------------------------------------------------------------------


def test_home_lists_latest_posts_newest_first_with_author_links(
    client: FlaskClient, user: User
) -> None:
    bob = make_user("bob")
    add_post(user, "Oldest", minute=1)
    add_post(bob, "Middle", minute=2)
    add_post(user, "Newest", minute=3)

    response = client.get("/")

    assert response.status_code == 200
    page = text(response)
    assert post_titles(page) == ["Newest", "Middle", "Oldest"]
    assert page.count('by <a href="/users/alice">alice</a>') == 2
    assert page.count('by <a href="/users/bob">bob</a>') == 1


def test_home_without_posts_invites_the_visitor_to_write_one(client: FlaskClient) -> None:
    response = client.get("/")

    assert response.status_code == 200
    assert "No posts yet." in text(response)


def test_home_is_paginated_with_previous_and_next_links(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    for number in range(1, 6):
        add_post(user, f"Post {number}", minute=number)

    first = text(client.get("/"))
    second = text(client.get("/?page=2"))
    last = text(client.get("/?page=3"))

    assert post_titles(first) == ["Post 5", "Post 4"]
    assert post_titles(second) == ["Post 3", "Post 2"]
    assert post_titles(last) == ["Post 1"]
    assert 'rel="next" href="/?page=2"' in first
    assert 'rel="prev"' not in first
    # Page 1 has one address: the list's own, without ?page=1.
    assert 'rel="prev" href="/"' in second
    assert 'rel="next" href="/?page=3"' in second
    assert "Page 2 of 3" in second
    assert 'rel="prev" href="/?page=2"' in last
    assert 'rel="next"' not in last


def pagination_of(page: str) -> str:
    found = re.search(r'<nav class="pagination" aria-label="Pagination">(.*?)</nav>', page, re.S)
    assert found, "no labelled pagination nav"
    return found.group(1)


def pagination_links(page: str) -> list[tuple[str, str]]:
    """The pagination's links, in order: (label as read aloud, href)."""
    links = re.findall(r'<a [^>]*href="([^"]*)"[^>]*>(.*?)</a>', pagination_of(page), re.S)
    return [
        (html.unescape(re.sub(r"<[^>]*>", "", label)).strip(), html.unescape(href))
        for href, label in links
    ]


def current_page_link(page: str) -> str:
    pagination = pagination_of(page)
    [current] = re.findall(r'<a [^>]*aria-current="page"[^>]*>(.*?)</a>', pagination, re.S)
    return re.sub(r"<[^>]*>", "", current)


def test_pagination_numbers_a_window_of_pages_with_first_and_last(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 1
    for number in range(1, 21):
        add_post(user, f"Post {number}", minute=number)

    middle = text(client.get("/?page=10"))

    assert pagination_links(middle) == [
        ("« First", "/"),
        ("‹ Previous", "/?page=9"),
        ("Page 8", "/?page=8"),
        ("Page 9", "/?page=9"),
        ("Page 10", "/?page=10"),
        ("Page 11", "/?page=11"),
        ("Page 12", "/?page=12"),
        ("Next ›", "/?page=11"),
        ("Last »", "/?page=20"),
    ]
    assert current_page_link(middle) == "Page 10"
    # Pages left out on both sides are shown as gaps, hidden from screen readers.
    assert middle.count('<span class="pagination-gap" aria-hidden="true">…</span>') == 2


def test_pagination_keeps_its_window_wide_at_either_end_of_the_list(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 1
    for number in range(1, 21):
        add_post(user, f"Post {number}", minute=number)

    first = text(client.get("/"))
    last = text(client.get("/?page=20"))

    assert pagination_links(first) == [
        ("Page 1", "/"),
        ("Page 2", "/?page=2"),
        ("Page 3", "/?page=3"),
        ("Page 4", "/?page=4"),
        ("Page 5", "/?page=5"),
        ("Next ›", "/?page=2"),
        ("Last »", "/?page=20"),
    ]
    assert current_page_link(first) == "Page 1"
    assert first.count('class="pagination-gap"') == 1
    assert [label for label, _ in pagination_links(last)] == [
        "« First",
        "‹ Previous",
        *(f"Page {number}" for number in range(16, 21)),
    ]
    assert current_page_link(last) == "Page 20"


def test_pagination_links_carry_the_arguments_their_list_passes_and_no_other(app: Flask) -> None:
    """A list filtered by its own arguments (a search's q=) keeps them on every link.

    Arguments of the request itself (a tracking tag) are not copied: the markup
    is kept and shown to everyone who asks for the list.
    """
    render = get_template_attribute("_pagination.html", "render_pagination")
    with app.test_request_context("/?page=2&utm_source=x"):
        markup = str(render(Page(items=[], page=2, per_page=1, total=3), "site.index", q="a b"))

    assert pagination_links(markup) == [
        ("« First", "/?q=a+b"),
        ("‹ Previous", "/?q=a+b"),
        ("Page 1", "/?q=a+b"),
        ("Page 2", "/?page=2&q=a+b"),
        ("Page 3", "/?page=3&q=a+b"),
        ("Next ›", "/?page=3&q=a+b"),
        ("Last »", "/?page=3&q=a+b"),
    ]
    assert "utm_source" not in markup


@pytest.mark.parametrize(
    ("page", "pages", "window"),
    [
        (1, 1, [1]),
        (1, 3, [1, 2, 3]),
        (1, 9, [1, 2, 3, 4, 5]),
        (2, 9, [1, 2, 3, 4, 5]),
        (5, 9, [3, 4, 5, 6, 7]),
        (8, 9, [5, 6, 7, 8, 9]),
        (9, 9, [5, 6, 7, 8, 9]),
    ],
)
def test_the_window_of_page_numbers_is_five_wide_where_there_are_five(
    page: int, pages: int, window: list[int]
) -> None:
    assert list(Page(items=[], page=page, per_page=1, total=pages).window()) == window


def test_home_shows_no_pagination_when_everything_fits_on_one_page(
    client: FlaskClient, user: User
) -> None:
    add_post(user)

    assert 'class="pagination"' not in text(client.get("/"))


def test_home_page_past_the_end_is_a_404_page(app: Flask, client: FlaskClient, user: User) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    for number in range(3):
        add_post(user, minute=number)

    assert client.get("/?page=2").status_code == 200
    assert_404_page(client.get("/?page=3"))


def test_home_page_two_of_an_empty_site_is_a_404_page(client: FlaskClient) -> None:
    assert_404_page(client.get("/?page=2"))


@pytest.mark.parametrize(
    "page",
    ["0", "-1", "abc", "", "1.5", "+1", " 1", "²", "1" * 10, "9" * 20, "9" * 5000],
    ids=[
        "zero",
        "negative",
        "letters",
        "empty",
        "decimal",
        "plus-sign",
        "space",
        "superscript-digit",
        "10-digits",
        "20-digits",
        "5000-digits",
    ],
)
def test_home_page_number_that_is_not_a_positive_whole_number_is_a_404_page(
    client: FlaskClient, user: User, page: str
) -> None:
    add_post(user)

    assert_404_page(client.get("/", query_string={"page": page}))


# --- about and profiles ----------------------------------------------------------------


def test_pages_name_the_site_by_the_site_name_setting(app: Flask, client: FlaskClient) -> None:
    app.config["SITE_NAME"] = "Example Site"
    page = client.get("/about").get_data(as_text=True)
    assert "· Example Site</title>" in page
    assert '<a class="site-name" href="/">Example Site</a>' in page
    assert "<p>Example Site · " in page


def test_about_page_describes_the_site(client: FlaskClient) -> None:
    response = client.get("/about")

    assert response.status_code == 200
    page = text(response)
    assert "<h1>About</h1>" in page
    assert 'href="/api/openapi.json"' in page
    assert 'aria-current="page">About</a>' in page


def test_profile_lists_that_users_posts_only_newest_first(client: FlaskClient, user: User) -> None:
    bob = make_user("bob")
    add_post(user, "Alice one", minute=1)
    add_post(bob, "Bob one", minute=2)
    add_post(user, "Alice two", minute=3)

    response = client.get("/users/alice")

    assert response.status_code == 200
    page = text(response)
    assert "<h1>alice</h1>" in page
    assert post_titles(page) == ["Alice two", "Alice one"]
    assert "2 posts" in page
    assert "Bob one" not in page


def test_profile_url_ignores_the_case_of_the_username(client: FlaskClient, user: User) -> None:
    add_post(user, "Alice one")

    response = client.get("/users/ALICE")

    assert response.status_code == 200
    assert "<h1>alice</h1>" in text(response)
    assert post_titles(text(response)) == ["Alice one"]


def test_profile_of_an_unknown_user_is_a_404_page(client: FlaskClient, user: User) -> None:
    response = client.get("/users/nobody")

    assert_404_page(response)
    assert "There is no user with that name." in text(response)


def test_profile_is_paginated_with_links_that_keep_the_username(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    for number in range(1, 4):
        add_post(user, f"Post {number}", minute=number)

    first = text(client.get("/users/alice"))
    second = text(client.get("/users/alice?page=2"))

    assert post_titles(first) == ["Post 3", "Post 2"]
    assert 'rel="next" href="/users/alice?page=2"' in first
    assert post_titles(second) == ["Post 1"]
    assert 'rel="prev" href="/users/alice"' in second
    assert current_page_link(second) == "Page 2"
    assert_404_page(client.get("/users/alice?page=3"))
    assert_404_page(client.get("/users/alice?page=0"))
    assert_404_page(client.get("/users/alice?page=" + "9" * 20))


# --- creating and viewing posts ------------------------------------------------------


def test_anonymous_get_of_new_post_form_redirects_to_login_with_next(
    client: FlaskClient,
) -> None:
    assert_redirects_to_login(client.get("/posts/new"), "/posts/new")


def test_anonymous_post_of_new_post_redirects_to_login_and_saves_nothing(
    client: FlaskClient,
) -> None:
    token = csrf_token_from(text(client.get("/auth/login")))

    response = client.post(
        "/posts/new", data={"title": "Sneaky", "body": "Text", "csrf_token": token}
    )

    assert_redirects_to_login(response, "/posts/new")
    assert post_count() == 0


def test_logged_in_user_gets_the_new_post_form(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = alice.client.get("/posts/new")

    assert response.status_code == 200
    page = text(response)
    assert "<h1>New post</h1>" in page
    assert 'name="title"' in page
    assert 'name="body"' in page


def test_creating_a_post_publishes_it_and_redirects_to_it(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = alice.post_form("/posts/new", {"title": "Hello", "body": "First words."})

    assert response.status_code == 302
    fresh()
    post = db.session.scalars(select(Post)).one()
    assert (post.title, post.body, post.user_id) == ("Hello", "First words.", user.id)
    assert response.headers["Location"] == f"/posts/{post.id}"
    page = text(alice.client.get(response.headers["Location"]))
    assert "Your post is published." in page
    assert '<h1 class="post-title">Hello</h1>' in page


def test_post_page_shows_title_body_and_author_link(client: FlaskClient, user: User) -> None:
    post_id = add_post(user, "The title", "The body text.")

    response = client.get(f"/posts/{post_id}")

    assert response.status_code == 200
    page = text(response)
    assert '<h1 class="post-title">The title</h1>' in page
    assert "The body text." in page
    assert 'by <a href="/users/alice">alice</a>' in page
    assert "<title>The title · Flask Site</title>" in page


def test_post_page_offers_edit_and_delete_to_its_author_only(app: Flask, user: User) -> None:
    make_user("bob")
    post_id = add_post(user)
    edit_link = f'href="/posts/{post_id}/edit"'
    # A link to the page that asks first, not a form that deletes at once.
    delete_link = f'href="/posts/{post_id}/delete"'

    anonymous = text(app.test_client().get(f"/posts/{post_id}"))
    as_bob = text(logged_in(app, "bob").client.get(f"/posts/{post_id}"))
    as_alice = text(logged_in(app, "alice").client.get(f"/posts/{post_id}"))

    for page in (anonymous, as_bob):
        assert edit_link not in page
        assert delete_link not in page
    assert edit_link in as_alice
    assert delete_link in as_alice
    assert 'action="/posts/' not in as_alice


@pytest.mark.parametrize("path", ["/posts/999", "/posts/999/edit"])
def test_missing_post_is_a_404_page(app: Flask, user: User, path: str) -> None:
    response = logged_in(app).client.get(path)

    assert_404_page(response)
    assert "That post does not exist or was deleted." in text(response)


@pytest.mark.parametrize("path", ["/posts/99999999999999999999999", "/posts/2147483648/edit"])
def test_post_ids_beyond_any_row_are_a_404_page(app: Flask, user: User, path: str) -> None:
    assert_404_page(logged_in(app).client.get(path))


@pytest.mark.parametrize(
    ("title", "body", "error"),
    [
        ("", "Text", "This field is required."),
        ("   ", "Text", "This field is required."),
        ("T" * 201, "Text", "Field cannot be longer than 200 characters."),
        ("Title", "", "This field is required."),
        ("Title", "B" * 10_001, "Field cannot be longer than 10000 characters."),
        (
            "Invoice\u202efdp.exe",
            "Text",
            "Contains an invisible control character (U+202E) at position 8; remove it.",
        ),
        (
            "Title",
            "Bell\x07",
            "Contains an invisible control character (U+0007) at position 5; remove it.",
        ),
        (
            "Title",
            "Next\x85line",
            "Contains an invisible control character (U+0085) at position 5; remove it.",
        ),
    ],
    ids=[
        "empty-title",
        "blank-title",
        "title-201",
        "empty-body",
        "body-10001",
        "bidi-override-title",
        "bell-body",
        "c1-body",
    ],
)
def test_invalid_new_post_rerenders_the_form_with_the_error_and_saves_nothing(
    app: Flask, user: User, title: str, body: str, error: str
) -> None:
    alice = logged_in(app)

    response = alice.post_form("/posts/new", {"title": title, "body": body})

    assert response.status_code == 200
    page = text(response)
    assert "<h1>New post</h1>" in page
    assert field_errors(page) == [error]
    assert 'aria-invalid="true"' in page
    assert post_count() == 0


def test_title_of_200_and_body_of_10000_characters_are_accepted(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = alice.post_form("/posts/new", {"title": "T" * 200, "body": "B" * 10_000})

    assert response.status_code == 302
    fresh()
    post = db.session.scalars(select(Post)).one()
    assert (len(post.title), len(post.body)) == (200, 10_000)


# --- editing and deleting ---------------------------------------------------------------


def test_edit_form_is_filled_in_with_the_post(app: Flask, user: User) -> None:
    post_id = add_post(user, "Old title", "Old body")

    response = logged_in(app).client.get(f"/posts/{post_id}/edit")

    assert response.status_code == 200
    page = text(response)
    assert "<h1>Edit post</h1>" in page
    assert 'value="Old title"' in page
    assert "Old body</textarea>" in page


def test_editing_a_post_saves_the_changes_and_redirects_to_it(app: Flask, user: User) -> None:
    post_id = add_post(user, "Old title", "Old body")
    alice = logged_in(app)

    response = alice.post_form(f"/posts/{post_id}/edit", {"title": "New title", "body": "New body"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"/posts/{post_id}"
    post = load_post(post_id)
    assert post is not None
    assert (post.title, post.body) == ("New title", "New body")
    page = text(alice.client.get(f"/posts/{post_id}"))
    assert "Your changes are saved." in page
    assert "New title" in page
    assert "Old title" not in page


EDITED = re.compile(r'· edited <time datetime="([^"]+)">([^<]+)</time>')


def test_a_new_post_is_not_shown_as_edited(app: Flask, user: User) -> None:
    alice = logged_in(app)

    created = alice.post_form("/posts/new", {"title": "Fresh", "body": "Just now."})

    post = load_post(int(created.headers["Location"].rsplit("/", 1)[1]))
    assert post is not None
    assert post.updated_at == post.created_at
    assert post.edited_at is None
    assert EDITED.search(text(app.test_client().get(f"/posts/{post.id}"))) is None


def test_a_new_post_was_last_changed_at_the_instant_it_was_created(user: User) -> None:
    # Its own created_at, not a second reading of the clock (which may fall in the next second).
    post = Post(title="T", body="B", author=user, created_at=BASE_TIME)
    db.session.add(post)
    db.session.commit()

    kept = load_post(post.id)
    assert kept is not None
    assert kept.updated_at == BASE_TIME


def test_an_edited_post_shows_when_it_was_changed(app: Flask, user: User) -> None:
    post_id = add_post(user, "Old title", "Old body")
    alice = logged_in(app)

    alice.post_form(f"/posts/{post_id}/edit", {"title": "New title", "body": "Old body"})

    post = load_post(post_id)
    assert post is not None
    assert post.created_at == BASE_TIME
    assert post.edited_at == post.updated_at
    assert post.updated_at > BASE_TIME
    found = EDITED.search(text(app.test_client().get(f"/posts/{post_id}")))
    assert found is not None
    assert datetime.fromisoformat(found.group(1)) == post.updated_at
    assert found.group(2) == post.updated_at.strftime("%d %b %Y %H:%M UTC")


@pytest.mark.parametrize(("seconds", "edited"), [(0, False), (1, False), (2, True)])
def test_a_change_within_a_second_of_publishing_is_no_edit(
    client: FlaskClient, user: User, seconds: int, edited: bool
) -> None:
    # Posts written before updated_at took created_at's value: two readings of the clock.
    post = Post(
        title="T",
        body="B",
        author=user,
        created_at=BASE_TIME,
        updated_at=BASE_TIME + timedelta(seconds=seconds),
    )
    db.session.add(post)
    db.session.commit()

    page = text(client.get(f"/posts/{post.id}"))

    assert (EDITED.search(page) is not None) == edited


def test_invalid_edit_rerenders_the_form_and_keeps_the_post(app: Flask, user: User) -> None:
    post_id = add_post(user, "Old title", "Old body")
    alice = logged_in(app)

    response = alice.post_form(f"/posts/{post_id}/edit", {"title": "", "body": "New body"})

    assert response.status_code == 200
    assert field_errors(text(response)) == ["This field is required."]
    post = load_post(post_id)
    assert post is not None
    assert (post.title, post.body) == ("Old title", "Old body")


def test_editing_someone_elses_post_is_forbidden_and_changes_nothing(
    app: Flask, user: User
) -> None:
    make_user("bob")
    post_id = add_post(user, "Alice's title", "Alice's body")
    bob = logged_in(app, "bob")

    form = bob.client.get(f"/posts/{post_id}/edit")
    response = bob.post_form(
        f"/posts/{post_id}/edit", {"title": "Hacked", "body": "Hacked"}, form_page="/posts/new"
    )

    assert form.status_code == 403
    assert response.status_code == 403
    assert "Only the author of a post may change it." in text(response)
    post = load_post(post_id)
    assert post is not None
    assert (post.title, post.body) == ("Alice's title", "Alice's body")


def test_deleting_a_post_removes_it_and_redirects_to_the_profile(app: Flask, user: User) -> None:
    post_id = add_post(user, "Doomed")
    alice = logged_in(app)

    response = alice.post_form(f"/posts/{post_id}/delete", {}, form_page=f"/posts/{post_id}")

    assert response.status_code == 302
    assert response.headers["Location"] == "/users/alice"
    assert load_post(post_id) is None
    assert "The post was deleted." in text(alice.client.get("/users/alice"))
    assert_404_page(alice.client.get(f"/posts/{post_id}"))


def test_deleting_someone_elses_post_is_forbidden_and_keeps_it(app: Flask, user: User) -> None:
    make_user("bob")
    post_id = add_post(user)
    bob = logged_in(app, "bob")

    response = bob.post_form(f"/posts/{post_id}/delete", {}, form_page="/posts/new")

    assert response.status_code == 403
    assert load_post(post_id) is not None


def test_deleting_a_missing_post_is_a_404_page(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = alice.post_form("/posts/999/delete", {}, form_page="/posts/new")

    assert_404_page(response)


def test_delete_asks_first_on_a_page_showing_the_post_and_deletes_nothing(
    app: Flask, user: User
) -> None:
    post_id = add_post(user, "Doomed <b>title</b>", "The first words. " * 30)
    alice = logged_in(app)

    response = alice.client.get(f"/posts/{post_id}/delete")

    page = text(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert '<h1 id="confirm-heading">Delete this post?</h1>' in page
    assert "Doomed &lt;b&gt;title&lt;/b&gt;" in page
    assert '<time datetime="2024-01-01T12:00:00+00:00">01 Jan 2024</time>' in page
    # An excerpt, not the whole text.
    assert "The first words. The first words." in page
    assert "The first words. " * 30 not in page
    assert "This cannot be undone." in page
    # The button POSTs with a CSRF token; Cancel leads back to the post.
    action = f'method="post" action="/posts/{post_id}/delete">'
    form = re.search(f"{re.escape(action)}(.*?)</form>", page, re.S)
    assert form, "no form posting to the delete address"
    assert 'name="csrf_token"' in form.group(1)
    assert ">Delete the post</button>" in form.group(1)
    assert f'<a class="button button-secondary" href="/posts/{post_id}">Cancel</a>' in page
    assert "<script" not in page
    assert load_post(post_id) is not None


def test_deleting_without_the_csrf_token_is_refused_and_keeps_the_post(
    app: Flask, user: User
) -> None:
    post_id = add_post(user)

    response = logged_in(app).client.post(f"/posts/{post_id}/delete")

    assert response.status_code == 400
    assert load_post(post_id) is not None


def test_only_the_author_is_asked_to_delete_a_post(app: Flask, user: User) -> None:
    make_user("bob")
    post_id = add_post(user)

    assert logged_in(app, "bob").client.get(f"/posts/{post_id}/delete").status_code == 403
    assert_404_page(logged_in(app).client.get("/posts/999/delete"))
    assert_redirects_to_login(
        app.test_client().get(f"/posts/{post_id}/delete"), f"/posts/{post_id}/delete"
    )


@pytest.mark.parametrize("action", ["edit", "delete"])
def test_anonymous_edit_or_delete_redirects_to_login_and_changes_nothing(
    client: FlaskClient, user: User, action: str
) -> None:
    post_id = add_post(user, "Kept")
    token = csrf_token_from(text(client.get("/auth/login")))

    response = client.post(
        f"/posts/{post_id}/{action}", data={"title": "X", "body": "X", "csrf_token": token}
    )

    assert_redirects_to_login(response, f"/posts/{post_id}/{action}")
    post = load_post(post_id)
    assert post is not None
    assert post.title == "Kept"


# --- escaping -------------------------------------------------------------------------


def test_html_in_a_post_is_escaped_on_home_post_and_profile_pages(app: Flask, user: User) -> None:
    alice = logged_in(app)
    created = alice.post_form("/posts/new", {"title": XSS_TITLE, "body": "<b>bold</b>"})
    assert created.status_code == 302

    for path in ("/", created.headers["Location"], "/users/alice"):
        page = text(alice.client.get(path))
        assert ESCAPED_XSS_TITLE in page, path
        assert "&lt;b&gt;bold&lt;/b&gt;" in page, path
        assert "<script" not in page, path
        assert "<b>" not in page, path


# --- cached lists -----------------------------------------------------------------------


def test_new_post_appears_on_the_very_next_home_page_read(app: Flask, user: User) -> None:
    alice = logged_in(app)
    add_post(user, "Before", minute=1)
    assert post_titles(text(alice.client.get("/"))) == ["Before"]

    alice.post_form("/posts/new", {"title": "Just written", "body": "Text"})

    assert post_titles(text(alice.client.get("/"))) == ["Just written", "Before"]
    assert post_titles(text(alice.client.get("/users/alice"))) == ["Just written", "Before"]


def test_edited_title_appears_on_the_very_next_home_and_profile_read(
    app: Flask, user: User
) -> None:
    post_id = add_post(user, "Old title")
    alice = logged_in(app)
    assert post_titles(text(alice.client.get("/"))) == ["Old title"]
    assert post_titles(text(alice.client.get("/users/alice"))) == ["Old title"]

    alice.post_form(f"/posts/{post_id}/edit", {"title": "New title", "body": "Text"})

    assert post_titles(text(alice.client.get("/"))) == ["New title"]
    assert post_titles(text(alice.client.get("/users/alice"))) == ["New title"]


def test_deleted_post_disappears_from_the_very_next_home_page_read(app: Flask, user: User) -> None:
    post_id = add_post(user, "Doomed")
    alice = logged_in(app)
    assert post_titles(text(alice.client.get("/"))) == ["Doomed"]

    alice.post_form(f"/posts/{post_id}/delete", {}, form_page=f"/posts/{post_id}")

    assert post_titles(text(alice.client.get("/"))) == []


@pytest.mark.parametrize("path", ["/", "/users/alice", "/posts/{post_id}"])
def test_cached_pages_never_show_one_users_name_in_anothers_nav_bar(
    app: Flask, user: User, path: str
) -> None:
    make_user("bob")
    path = path.format(post_id=add_post(user, "Cached"))
    alice = logged_in(app, "alice")
    assert nav_user(text(alice.client.get(path))) == "alice"
    assert nav_user(text(alice.client.get(path))) == "alice"

    anonymous = text(app.test_client().get(path))
    as_bob = text(logged_in(app, "bob").client.get(path))

    assert nav_user(anonymous) is None
    assert 'href="/auth/login"' in anonymous
    assert nav_user(as_bob) == "bob"
    assert "Cached" in anonymous
    assert "Cached" in as_bob
    # The author link on the home page is content, not the nav bar.
    assert 'class="nav-user" href="/users/alice"' not in anonymous + as_bob


# --- links and markup -------------------------------------------------------------------


def test_every_link_on_the_home_page_resolves_for_a_logged_in_user(app: Flask, user: User) -> None:
    app.config["POSTS_PER_PAGE"] = 2
    bob = make_user("bob")
    add_post(user, minute=1)
    add_post(bob, minute=2)
    add_post(user, minute=3)
    alice = logged_in(app)
    page = text(alice.client.get("/"))
    # Form actions are left out: the only one here is log out, which is POST-only.
    hrefs = [html.unescape(url) for url in re.findall(r'\bhref="([^"]*)"', page)]
    links = {url for url in hrefs if url.startswith("/")}

    assert {"/", "/about", "/posts/new", "/users/alice", "/users/bob", "/?page=2"} <= links
    assert any(url.startswith("/static/") for url in links)
    assert any(url.startswith("/posts/") and url[7:].isdigit() for url in links)
    for url in sorted(links):
        response = alice.client.get(url)
        response.close()
        assert response.status_code == 200, url


def _pages_to_check(app: Flask, user: User) -> tuple[SiteSession, list[str]]:
    post_id = add_post(user, "A post", "Its text.")
    return logged_in(app), [
        "/",
        "/about",
        "/users/alice",
        f"/posts/{post_id}",
        "/posts/new",
        f"/posts/{post_id}/edit",
        "/no/such/page",
        "/search",
        "/search?q=post",
        f"/search?q={'x' * 201}",
    ]


def test_no_page_has_inline_script_or_style(app: Flask, user: User) -> None:
    alice, paths = _pages_to_check(app, user)
    anonymous = app.test_client()
    responses = [(path, alice.client.get(path)) for path in paths]
    responses += [(path, anonymous.get(path)) for path in ("/", "/auth/login", "/auth/register")]

    for path, response in responses:
        page = text(response)
        assert response.mimetype == "text/html", path
        assert "<script" not in page.lower(), path
        assert "<style" not in page.lower(), path
        assert not re.search(r"\sstyle\s*=", page, re.I), path


def test_links_forms_and_assets_carry_the_sub_url_prefix(app: Flask, user: User) -> None:
    post_id = add_post(user, "A post")
    client = app.test_client()
    base_url = "http://localhost/app"

    def get(path: str) -> str:
        response = client.get(path, base_url=base_url)
        assert response.status_code in (200, 404), path
        return text(response)

    anonymous_pages = [get(path) for path in ("/", "/about", "/auth/login", "/auth/register")]
    token = csrf_token_from(anonymous_pages[2])
    login = client.post(
        "/auth/login",
        base_url=base_url,
        data={"login": "alice", "password": "correct horse battery", "csrf_token": token},
    )
    assert login.status_code == 302
    assert login.headers["Location"] == "/app/"
    user_pages = [
        get(path)
        for path in (
            "/",
            "/users/alice",
            f"/posts/{post_id}",
            "/posts/new",
            f"/posts/{post_id}/edit",
            "/no/such/page",
        )
    ]
    assert nav_user(user_pages[0]) == "alice"
    assert 'action="/app/auth/logout"' in user_pages[0]

    for page in anonymous_pages + user_pages:
        urls = [url for url in urls_in(page) if not url.startswith("#")]
        assert urls
        for url in urls:
            assert url.startswith("/app/"), url
    anonymous = app.test_client().get("/posts/new", base_url=base_url)
    assert urlsplit(anonymous.headers["Location"]).path == "/app/auth/login"
