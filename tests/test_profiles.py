"""Profiles: a display name and a Markdown bio, set on the settings page and shown on the
profile page, at once, whatever the cache keeps."""

from __future__ import annotations

import html
import re

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select, update

from app.extensions import db
from app.models import Post, User
from tests.helpers import SiteSession, count_statements, fresh, make_user, text
from tests.test_site import field_errors

pytestmark = pytest.mark.db

BIO = "Writes *Python*.\n\n- [my site](https://example.org)\n- `make test`"
BIO_HTML = (
    "<p>Writes <em>Python</em>.</p>\n<ul>\n"
    '<li><a href="https://example.org" rel="nofollow ugc noopener">my site</a></li>\n'
    "<li><code>make test</code></li>\n</ul>\n"
)


def logged_in(app: Flask, username: str = "alice") -> SiteSession:
    site = SiteSession(app.test_client())
    assert site.login(username).status_code == 302
    return site


def save_profile(site: SiteSession, display_name: str = "", bio: str = ""):
    return site.post_form(
        "/account/profile", {"display_name": display_name, "bio": bio}, form_page="/account"
    )


def profile_of(username: str = "alice") -> tuple[str | None, str | None, str | None]:
    fresh()
    user = db.session.scalars(select(User).where(User.username == username)).one()
    return user.display_name, user.bio, user.stored_bio_html


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert found, "the page has no h1"
    return html.unescape(found.group(1))


def bio_of(page: str) -> str | None:
    found = re.search(r'<div class="profile-bio">(.*?)</div>', page, re.S)
    return found.group(1) if found else None


def flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', page)]


# --- The settings form ----------------------------------------------------------------------


def test_the_settings_page_offers_the_profile_filled_in_with_what_is_saved(
    app: Flask, user: User
) -> None:
    user.display_name = "Ada <Lovelace>"
    user.bio = "Counts *engines*."
    db.session.commit()

    page = text(logged_in(app).client.get("/account"))

    assert ">Profile</h2>" in page
    assert 'action="/account/profile"' in page
    assert 'value="Ada &lt;Lovelace&gt;"' in page
    assert re.search(r"<textarea[^>]*>\s*Counts \*engines\*\.</textarea>", page)
    assert 'maxlength="50"' in page
    assert 'maxlength="500"' in page


def test_saving_the_form_sets_both_and_the_profile_shows_them(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = save_profile(alice, "  Ada Lovelace  ", BIO)

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert "Your profile is saved." in flashes(text(alice.client.get("/account")))
    assert profile_of() == ("Ada Lovelace", BIO, BIO_HTML)
    page = text(app.test_client().get("/users/alice"))
    assert heading(page) == "Ada Lovelace"
    assert '<span class="profile-username">alice</span>' in page
    assert "<title>Ada Lovelace (alice) · Flask Site</title>" in page
    assert bio_of(page) == BIO_HTML


def test_saving_empty_fields_clears_both(app: Flask, user: User) -> None:
    user.display_name = "Ada"
    user.bio = "A bio."
    db.session.commit()
    alice = logged_in(app)

    response = save_profile(alice, "   ", "\n \n")

    assert response.status_code == 302
    assert profile_of() == (None, None, None)
    page = text(app.test_client().get("/users/alice"))
    assert heading(page) == "alice"
    assert "profile-username" not in page
    assert bio_of(page) is None


def test_a_name_of_only_invisible_characters_is_no_name(app: Flask, user: User) -> None:
    assert save_profile(logged_in(app), "\u200b\u00a0\ufeff", "").status_code == 302

    assert profile_of()[0] is None


def test_the_longest_name_and_bio_are_accepted(app: Flask, user: User) -> None:
    response = save_profile(logged_in(app), "n" * 50, "b" * 500)

    assert response.status_code == 302
    assert profile_of()[:2] == ("n" * 50, "b" * 500)


@pytest.mark.parametrize(
    ("display_name", "bio", "error"),
    [
        ("n" * 51, "", "Field cannot be longer than 50 characters."),
        ("", "b" * 501, "Field cannot be longer than 500 characters."),
        ("Ada\nLovelace", "", "Must be a single line, without tabs or line breaks."),
        (
            "Ada\u202eecalevol",
            "",
            "Contains an invisible control character (U+202E) at position 4; remove it.",
        ),
        (
            "",
            "Fine\n\x07",
            "Contains an invisible control character (U+0007) at position 6; remove it.",
        ),
    ],
)
def test_a_refused_profile_names_the_problem_and_saves_nothing(
    app: Flask, user: User, display_name: str, bio: str, error: str
) -> None:
    user.display_name = "Before"
    db.session.commit()

    response = save_profile(logged_in(app), display_name, bio)

    assert response.status_code == 200
    page = text(response)
    assert field_errors(page) == [error]
    assert "Please correct the error below." in page
    assert profile_of() == ("Before", None, None)


def test_the_profile_form_needs_a_log_in(app: Flask, user: User) -> None:
    anonymous = SiteSession(app.test_client())

    response = anonymous.post_form(
        "/account/profile", {"display_name": "Mallory"}, form_page="/auth/login"
    )

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    assert profile_of() == (None, None, None)


# --- The profile page -------------------------------------------------------------------------


def test_a_bio_is_shown_sanitised(app: Flask, user: User) -> None:
    alice = logged_in(app)
    save_profile(alice, "<b>Ada</b>", "<script>alert(1)</script>\n\n[click](javascript:alert(1))")

    page = text(app.test_client().get("/users/alice"))

    assert heading(page) == "<b>Ada</b>"
    assert "<script" not in page
    assert "javascript:" not in re.sub(r"\[click\]\(javascript:alert\(1\)\)", "", page)
    assert bio_of(page) == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n<p>[click](javascript:alert(1))</p>\n"
    )


def test_post_pages_and_lists_name_the_author_by_username(app: Flask, user: User) -> None:
    user.display_name = "Ada Lovelace"
    db.session.add(Post(title="Notes", body="On the engine.", author=user))
    db.session.commit()
    post_id = db.session.scalars(select(Post.id)).one()
    client = app.test_client()

    for path in ("/", f"/posts/{post_id}"):
        page = text(client.get(path))
        assert 'by <a href="/users/alice">alice</a>' in page, path
        assert "Ada Lovelace" not in page, path


@pytest.mark.parametrize("reader", ["anonymous", "logged in"])
def test_a_change_shows_on_the_kept_profile_at_once(app: Flask, user: User, reader: str) -> None:
    db.session.add(Post(title="Kept", body="b", author=user))
    db.session.commit()
    make_user("bob")
    client = app.test_client() if reader == "anonymous" else logged_in(app, "bob").client
    for _ in range(2):
        assert heading(text(client.get("/users/alice"))) == "alice"

    save_profile(logged_in(app), "Ada", "*New* bio")

    page = text(client.get("/users/alice"))
    assert heading(page) == "Ada"
    assert bio_of(page) == "<p><em>New</em> bio</p>\n"
    assert "Kept" in page
    save_profile(logged_in(app), "", "")
    page = text(client.get("/users/alice"))
    assert heading(page) == "alice"
    assert bio_of(page) is None


def test_a_profile_change_leaves_every_list_of_posts_and_other_profiles_cached(
    app: Flask, user: User
) -> None:
    bob = make_user("bob")
    db.session.add_all(
        [Post(title="A", body="a", author=user), Post(title="B", body="b", author=bob)]
    )
    db.session.commit()
    post_id = db.session.scalars(select(Post.id).where(Post.user_id == user.id)).one()
    untouched = ["/", "/users/bob", f"/posts/{post_id}", "/api/posts", f"/api/users/{bob.id}"]
    reader = app.test_client()
    for path in untouched:
        assert reader.get(path).status_code == 200

    save_profile(logged_in(app), "Ada", "A bio.")

    for path in untouched:
        with count_statements() as statements:
            assert reader.get(path).status_code == 200, path
        assert statements == [], path


# --- Bios without a stored rendering, and `flask posts render` --------------------------------


def test_a_bio_without_a_stored_rendering_is_rendered_when_read_then_by_the_command(
    app: Flask, user: User, runner: FlaskCliRunner
) -> None:
    # As plain SQL, or a node without the rendering, writes it.
    db.session.execute(update(User).values(bio="*old*", stored_bio_html=None))
    db.session.commit()
    reader = app.test_client()
    assert bio_of(text(reader.get("/users/alice"))) == "<p><em>old</em></p>\n"

    result = runner.invoke(args=["posts", "render"])

    assert result.exit_code == 0, result.output
    assert "1 bios rendered." in result.output
    assert profile_of() == (None, "*old*", "<p><em>old</em></p>\n")
    again = runner.invoke(args=["posts", "render"])
    assert "0 bios rendered." in again.output


def test_posts_render_all_renders_every_bio_again_and_kept_profiles_show_it(
    app: Flask, user: User, runner: FlaskCliRunner
) -> None:
    user.bio = "*new rules*"
    make_user("bob")
    db.session.commit()
    # As if rendered under an older policy; bob has no bio and gets none.
    db.session.execute(
        update(User).where(User.id == user.id).values(stored_bio_html="<p>stale</p>")
    )
    db.session.commit()
    reader = app.test_client()
    assert bio_of(text(reader.get("/users/alice"))) == "<p>stale</p>"

    result = runner.invoke(args=["posts", "render", "--all"])

    assert result.exit_code == 0, result.output
    assert "1 bios rendered." in result.output
    assert bio_of(text(reader.get("/users/alice"))) == "<p><em>new rules</em></p>\n"
    assert profile_of("bob") == (None, None, None)
