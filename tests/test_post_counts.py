"""Each user's kept number of posts: right after every kind of write, and recountable."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from app.account_changes import delete_account
from app.extensions import db
from app.models import Post, User
from app.post_counts import recount, total_posts
from tests.helpers import bearer, make_user

pytestmark = pytest.mark.db


def counted() -> int:
    """COUNT(*) over the posts, as a new transaction sees them."""
    # MariaDB's REPEATABLE READ: a transaction this test session opened before
    # a request committed would not see that request's writes.
    db.session.commit()
    return int(db.session.scalar(select(func.count()).select_from(Post)) or 0)


def kept(user: User | None = None) -> int:
    """The kept count of ``user`` (everyone's for None), as a new transaction sees it."""
    user_id = user.id if user else None
    db.session.commit()
    return total_posts(user_id)


def test_posts_added_and_deleted_through_the_api_are_counted(
    client: FlaskClient, user: User, token: str
) -> None:
    ids = [
        client.post(
            "/api/posts", json={"title": f"t{i}", "body": "b"}, headers=bearer(token)
        ).get_json()["id"]
        for i in range(3)
    ]
    assert kept(user) == kept() == 3

    client.delete(f"/api/posts/{ids[0]}", headers=bearer(token))

    assert kept(user) == kept() == counted() == 2
    listing = client.get("/api/posts").get_json()
    assert (listing["total"], len(listing["items"])) == (2, 2)


def test_several_posts_in_one_flush_and_an_edit_count_right(app: Flask, user: User) -> None:
    other = make_user("bob")
    db.session.add_all(
        [Post(title="a", body="b", author=user), Post(title="c", body="d", author=user)]
        + [Post(title="e", body="f", author=other)]
    )
    db.session.commit()
    post = db.session.scalars(select(Post).where(Post.user_id == user.id)).first()
    assert post is not None
    post.title = "edited"
    db.session.commit()

    assert (kept(user), kept(other), kept()) == (2, 1, 3)
    # The loaded account sees the new count too.
    assert user.post_count == 2


def test_deleting_an_account_takes_its_posts_out_of_the_total(app: Flask, user: User) -> None:
    other = make_user("bob")
    db.session.add_all(
        [Post(title="a", body="b", author=user), Post(title="c", body="d", author=other)]
    )
    db.session.commit()

    delete_account(user)
    db.session.commit()

    assert kept() == counted() == 1


def test_posts_written_past_the_orm_are_counted_by_recount(app: Flask, user: User) -> None:
    db.session.execute(
        insert(Post),
        [{"title": f"bulk {i}", "body": "b", "user_id": user.id} for i in range(5)],
    )
    db.session.commit()
    assert kept(user) == 0  # bulk SQL bypasses the kept counts, as documented

    recount()

    assert kept(user) == kept() == counted() == 5


def test_flask_recount_posts_says_how_many(app: Flask, user: User) -> None:
    db.session.execute(insert(Post), [{"title": "bulk", "body": "b", "user_id": user.id}])
    db.session.commit()

    result = app.test_cli_runner().invoke(args=["recount-posts"])

    assert result.exit_code == 0, result.output
    assert result.output == "1 posts counted.\n"
    assert kept(user) == 1
