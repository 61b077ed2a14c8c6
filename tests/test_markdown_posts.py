"""Posts shown as their rendered Markdown: the post page, the lists' excerpts, the preview
and ``flask posts render``, on the real database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, insert, select, update

from app import post_counts, post_rendering
from app.extensions import db
from app.models import Post, User
from app.validation import BODY_MAX
from tests.helpers import SiteSession, fresh, text

pytestmark = pytest.mark.db

MARKDOWN = (
    "# A heading\n\n"
    "Some **strong** words and https://example.org/page.\n\n"
    "<script>alert(1)</script>\n\n"
    "| left | right |\n|:--|--:|\n| a | b |\n"
)
EXCERPT = (
    "A heading. Some strong words and https://example.org/page. <script>alert(1)</script> "
    "left right a b"
)
LONG_AGO = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)


def logged_in(app: Flask, username: str = "alice") -> SiteSession:
    session = SiteSession(app.test_client())
    assert session.login(username).status_code == 302
    return session


def publish(author: User, body: str = MARKDOWN, title: str = "Markdown") -> Post:
    post = Post(title=title, body=body, author=author)
    db.session.add(post)
    db.session.commit()
    return post


def post_body_of(page: str) -> str:
    found = re.search(r'<div class="post-body">(.*?)</div>', page, re.S)
    assert found, "the page shows no post body"
    return found.group(1)


def excerpts_of(page: str) -> list[str]:
    return re.findall(r'<p class="post-excerpt">(.*?)</p>', page, re.S)


def post_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(Post)) or 0


def insert_unrendered(author: User, body: str) -> int:
    """A post as code older than the rendering columns writes it: no HTML, no excerpt."""
    db.session.execute(
        insert(Post),
        [{"title": "Old", "body": body, "user_id": author.id, "updated_at": LONG_AGO}],
    )
    db.session.commit()
    post_counts.recount()
    post_id = db.session.scalar(select(Post.id).where(Post.title == "Old"))
    assert post_id is not None
    return post_id


def stored(post_id: int) -> tuple[str | None, str | None, datetime]:
    fresh()
    row = db.session.execute(
        select(Post.stored_html, Post.stored_excerpt, Post.updated_at).where(Post.id == post_id)
    ).one()
    return row[0], row[1], row[2]


# --- Pages ---------------------------------------------------------------------------------


def test_a_post_page_shows_the_rendered_and_sanitised_markdown(app: Flask, user: User) -> None:
    post = publish(user)

    page = text(app.test_client().get(f"/posts/{post.id}"))

    body = post_body_of(page)
    assert "<h2>A heading</h2>" in body
    assert "<strong>strong</strong>" in body
    assert '<a href="https://example.org/page" rel="nofollow ugc noopener">' in body
    assert "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>" in body
    assert "<table>" in body
    assert "<script" not in page
    # The table's alignment would be an inline style, which the page's policy refuses.
    assert not re.search(r"\sstyle\s*=", page)


def test_the_lists_show_the_plain_text_excerpt(app: Flask, user: User) -> None:
    publish(user)
    anonymous = app.test_client()
    alice = logged_in(app)

    for client in (anonymous, alice.client):
        for path in ("/", "/users/alice"):
            assert excerpts_of(text(client.get(path))) == [
                EXCERPT.replace("<", "&lt;").replace(">", "&gt;")
            ], path


def test_the_stored_rendering_is_made_when_the_post_is_written(app: Flask, user: User) -> None:
    post = publish(user)

    html, excerpt, _ = stored(post.id)

    assert html == post_rendering.render(MARKDOWN).html
    assert excerpt == EXCERPT


def test_an_edit_renders_the_post_again_and_kept_pages_follow(app: Flask, user: User) -> None:
    post = publish(user, "*before*")
    anonymous = app.test_client()
    assert "<em>before</em>" in text(anonymous.get(f"/posts/{post.id}"))
    assert excerpts_of(text(anonymous.get("/"))) == ["before"]

    alice = logged_in(app)
    saved = alice.post_form(
        f"/posts/{post.id}/edit", {"title": "Markdown", "body": "**after**"}, form_page="/posts/new"
    )
    assert saved.status_code == 302

    assert "<strong>after</strong>" in text(anonymous.get(f"/posts/{post.id}"))
    assert excerpts_of(text(anonymous.get("/"))) == ["after"]
    assert stored(post.id)[:2] == ("<p><strong>after</strong></p>\n", "after")


def test_a_body_whose_html_outgrows_a_text_column_is_stored_whole(app: Flask, user: User) -> None:
    # Every address becomes a mailto link: about 8 times the text, past TEXT's 64 KiB.
    body = " ".join(["a@b.cc"] * (BODY_MAX // 7))
    post = publish(user, body)

    html, _, _ = stored(post.id)

    assert html is not None
    assert len(html.encode()) > 65_535
    assert html == post_rendering.render(body).html


# --- Preview -------------------------------------------------------------------------------


def preview_of(page: str) -> str | None:
    found = re.search(
        r'<section class="post-preview".*?<div class="post-body">(.*?)</div>', page, re.S
    )
    return found.group(1) if found else None


def test_preview_shows_the_rendered_post_and_the_form_as_typed_and_saves_nothing(
    app: Flask, user: User
) -> None:
    alice = logged_in(app)

    response = alice.post_form(
        "/posts/new", {"title": "Draft <title>", "body": MARKDOWN, "preview": "y"}
    )

    assert response.status_code == 200
    page = text(response)
    preview = preview_of(page)
    assert preview is not None
    assert "<h2>A heading</h2>" in preview
    assert "<strong>strong</strong>" in preview
    assert "<script" not in page
    # The form holds what was typed, ready to go on.
    assert 'value="Draft &lt;title&gt;"' in page
    assert "# A heading\n\nSome **strong** words" in page.replace("&#34;", '"')
    assert 'name="csrf_token"' in page
    assert response.headers["Cache-Control"] == "private, no-store"
    assert post_count() == 0


def test_preview_needs_the_forms_csrf_token(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = alice.client.post(
        "/posts/new", data={"title": "Sneaky", "body": "**x**", "preview": "y"}
    )

    assert response.status_code == 400
    assert preview_of(text(response)) is None
    assert post_count() == 0


def test_preview_of_a_body_that_breaks_the_rules_shows_the_error_instead(
    app: Flask, user: User
) -> None:
    alice = logged_in(app)

    response = alice.post_form("/posts/new", {"title": "T", "body": "   ", "preview": "y"})

    assert response.status_code == 200
    assert preview_of(text(response)) is None
    assert "field-errors" in text(response)
    assert post_count() == 0


def test_preview_of_an_edit_leaves_the_post_as_it_was(app: Flask, user: User) -> None:
    post = publish(user, "*published*")
    alice = logged_in(app)

    response = alice.post_form(
        f"/posts/{post.id}/edit",
        {"title": "Changed", "body": "**draft**", "preview": "y"},
        form_page="/posts/new",
    )

    assert response.status_code == 200
    assert preview_of(text(response)) == "<p><strong>draft</strong></p>\n"
    fresh()
    kept = db.session.get(Post, post.id)
    assert kept is not None
    assert (kept.title, kept.body, kept.body_html) == (
        "Markdown",
        "*published*",
        "<p><em>published</em></p>\n",
    )


def test_the_publish_button_still_publishes(app: Flask, user: User) -> None:
    alice = logged_in(app)

    response = alice.post_form("/posts/new", {"title": "Out", "body": "*now*"})

    assert response.status_code == 302
    assert post_count() == 1
    assert "<em>now</em>" in text(alice.client.get(response.headers["Location"]))


# --- Rows without a stored rendering, and `flask posts render` --------------------------------


def test_a_post_without_a_stored_rendering_is_rendered_when_read(app: Flask, user: User) -> None:
    post_id = insert_unrendered(user, "*old*")
    client = app.test_client()

    assert "<p><em>old</em></p>" in post_body_of(text(client.get(f"/posts/{post_id}")))
    assert excerpts_of(text(client.get("/"))) == ["old"]
    assert client.get(f"/api/posts/{post_id}").get_json()["body_html"] == "<p><em>old</em></p>\n"
    # A read writes nothing.
    assert stored(post_id)[:2] == (None, None)


def test_posts_render_stores_what_is_missing_and_leaves_the_edit_time(
    app: Flask, user: User, runner: FlaskCliRunner
) -> None:
    post_id = insert_unrendered(user, "*old*")
    rendered_id = publish(user, "**new**").id
    before = stored(rendered_id)

    result = runner.invoke(args=["posts", "render"])

    assert result.exit_code == 0, result.output
    assert "1 posts rendered." in result.output
    assert stored(post_id) == ("<p><em>old</em></p>\n", "old", LONG_AGO)
    assert stored(rendered_id) == before
    again = runner.invoke(args=["posts", "render"])
    assert "0 posts rendered." in again.output


def test_posts_render_all_renders_every_post_again_and_kept_pages_show_it(
    app: Flask, user: User, runner: FlaskCliRunner
) -> None:
    posts = [publish(user, f"*post {number}*", title=f"Post {number}") for number in range(3)]
    # As if rendered under an older policy.
    db.session.execute(update(Post).values(stored_html="<p>stale</p>", stored_excerpt="stale"))
    db.session.commit()
    anonymous = app.test_client()
    assert "stale" in text(anonymous.get(f"/posts/{posts[0].id}"))
    assert excerpts_of(text(anonymous.get("/"))) == ["stale"] * 3

    result = runner.invoke(args=["posts", "render", "--all"])

    assert result.exit_code == 0, result.output
    assert "3 posts rendered." in result.output
    assert "<em>post 0</em>" in text(anonymous.get(f"/posts/{posts[0].id}"))
    assert excerpts_of(text(anonymous.get("/"))) == ["post 2", "post 1", "post 0"]


def test_posts_render_works_through_more_than_one_batch(
    app: Flask, user: User, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import stored_renderings

    monkeypatch.setattr(stored_renderings, "BATCH", 2)
    ids = [insert_unrendered_numbered(user, number) for number in range(5)]

    result = runner.invoke(args=["posts", "render"])

    assert "5 posts rendered." in result.output
    assert [stored(post_id)[1] for post_id in ids] == [f"number {n}" for n in range(5)]


def insert_unrendered_numbered(author: User, number: int) -> int:
    db.session.execute(
        insert(Post), [{"title": f"Old {number}", "body": f"number {number}", "user_id": author.id}]
    )
    db.session.commit()
    post_id = db.session.scalar(select(Post.id).where(Post.title == f"Old {number}"))
    assert post_id is not None
    return post_id
