"""Emailed account links: signed, time-limited, single-use, one action each."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from app.account_links import Action, LinkRefused, claim, consume, issue, redeem
from app.extensions import db
from app.models import User
from tests.helpers import make_user

pytestmark = pytest.mark.db


def refusal(token: str, action: Action = Action.PASSWORD_RESET) -> str:
    with pytest.raises(LinkRefused) as refused:
        redeem(token, action)
    return refused.value.reason


def test_a_link_names_its_user_and_carries_its_data(user: User) -> None:
    token = issue(user, Action.EMAIL_CHANGE, email="new@example.com")
    db.session.commit()

    link = redeem(token, Action.EMAIL_CHANGE)

    assert link.user is user
    assert link.data == {"email": "new@example.com"}


def test_a_link_works_until_it_is_consumed(user: User) -> None:
    token = issue(user, Action.PASSWORD_RESET)
    db.session.commit()
    assert redeem(token, Action.PASSWORD_RESET).user is user

    consume(user, Action.PASSWORD_RESET)
    db.session.commit()

    assert refusal(token) == LinkRefused.USED


def test_a_newer_link_replaces_the_older_one(user: User) -> None:
    older = issue(user, Action.PASSWORD_RESET)
    newer = issue(user, Action.PASSWORD_RESET)
    db.session.commit()

    assert refusal(older) == LinkRefused.USED
    assert redeem(newer, Action.PASSWORD_RESET).user is user


def test_a_password_change_ends_every_link_sent_before_it(user: User) -> None:
    reset = issue(user, Action.PASSWORD_RESET)
    change = issue(user, Action.EMAIL_CHANGE, email="new@example.com")
    user.set_password("another long passphrase")
    db.session.commit()

    assert refusal(reset) == LinkRefused.USED
    assert refusal(change, Action.EMAIL_CHANGE) == LinkRefused.USED


def test_links_of_one_kind_do_not_touch_the_other(user: User) -> None:
    reset = issue(user, Action.PASSWORD_RESET)
    issue(user, Action.EMAIL_CHANGE, email="new@example.com")
    db.session.commit()

    assert redeem(reset, Action.PASSWORD_RESET).user is user
    # Signed for another action: worthless here, whatever it holds.
    assert refusal(reset, Action.EMAIL_CHANGE) == LinkRefused.INVALID


def test_an_expired_link_is_refused_as_expired(app: Flask, user: User) -> None:
    token = issue(user, Action.PASSWORD_RESET)
    db.session.commit()
    app.config["PASSWORD_RESET_LINK_SECONDS"] = -1

    assert refusal(token) == LinkRefused.EXPIRED


@pytest.mark.parametrize("change", [lambda t: t[:-2] + "xx", lambda t: "x" + t, lambda t: ""])
def test_a_tampered_or_truncated_link_is_invalid(user: User, change: Callable[[str], str]) -> None:
    token = issue(user, Action.PASSWORD_RESET)
    db.session.commit()

    assert refusal(change(token)) == LinkRefused.INVALID


def test_a_link_signed_with_another_key_is_invalid(app: Flask, user: User) -> None:
    token = issue(user, Action.PASSWORD_RESET)
    db.session.commit()
    app.config["SECRET_KEY"] = "another key entirely, just as long as the first one"

    assert refusal(token) == LinkRefused.INVALID


def test_a_link_of_an_account_deleted_since_is_refused(user: User) -> None:
    token = issue(user, Action.PASSWORD_RESET)
    db.session.commit()
    db.session.delete(user)
    db.session.commit()

    assert refusal(token) == LinkRefused.USED


def test_a_link_is_bound_to_the_account_it_was_sent_for(user: User) -> None:
    bob = make_user("bob")
    bobs = issue(bob, Action.PASSWORD_RESET)
    alices = issue(user, Action.PASSWORD_RESET)
    db.session.commit()

    assert redeem(bobs, Action.PASSWORD_RESET).user is bob
    consume(user, Action.PASSWORD_RESET)
    db.session.commit()
    # Alice's link is dead; Bob's still works, and still only for Bob.
    assert refusal(alices) == LinkRefused.USED
    assert redeem(bobs, Action.PASSWORD_RESET).user is bob


def test_two_uses_of_one_link_at_once_cannot_both_pass(user: User) -> None:
    token = issue(user, Action.PASSWORD_RESET)
    db.session.commit()
    # Both requests checked the link before either used it.
    first = redeem(token, Action.PASSWORD_RESET)
    second = redeem(token, Action.PASSWORD_RESET)

    claim(first)
    db.session.commit()

    with pytest.raises(LinkRefused) as refused:
        claim(second)
    assert refused.value.reason == LinkRefused.USED
    assert refusal(token) == LinkRefused.USED
