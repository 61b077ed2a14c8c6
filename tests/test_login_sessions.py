"""Remember-me cookies bound to the browser, and revoking every credential at once."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.extensions import db
from app.models import User
from tests.api.helpers import assert_json_error, get_token
from tests.helpers import PASSWORD, SiteSession, bearer, fresh
from tests.test_accounts import is_logged_in, set_cookies

pytestmark = pytest.mark.db

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
FIREFOX_UPDATED = "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0"
CHROME_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def browser(app: Flask, user_agent: str, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    client.environ_base["REMOTE_ADDR"] = address
    return client


def remember_cookie_of(app: Flask) -> str:
    """Log alice in with "remember me" from Firefox; the remember-me cookie's value."""
    site = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    assert site.login(remember=True).status_code == 302
    cookie = site.client.get_cookie("remember_token")
    assert cookie is not None
    return cookie.value


def replay(app: Flask, cookie: str, user_agent: str, address: str) -> FlaskClient:
    """A new browser holding only the remember-me cookie."""
    client = browser(app, user_agent, address)
    client.set_cookie("remember_token", cookie)
    return client


@pytest.mark.parametrize(
    "user_agent", [CHROME_ON_WINDOWS, "curl/8.5.0", "python-requests/2.32.3", ""]
)
def test_a_remember_cookie_replayed_by_another_browser_is_refused_and_deleted(
    app: Flask, user: User, user_agent: str
) -> None:
    thief = replay(app, remember_cookie_of(app), user_agent, "198.51.100.7")

    response = thief.get("/posts/new")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    assert "remember_token" in set_cookies(response)
    assert thief.get_cookie("remember_token") is None
    assert not is_logged_in(thief)


def test_the_same_browser_stays_logged_in_from_a_new_address(app: Flask, user: User) -> None:
    # A phone that moved from Wi-Fi to the mobile network, browser restarted.
    phone = replay(app, remember_cookie_of(app), FIREFOX, "203.0.113.99")

    assert is_logged_in(phone)
    assert is_logged_in(phone)
    assert phone.get_cookie("remember_token") is not None


def test_a_remembered_browser_that_changes_address_mid_session_stays_logged_in(
    app: Flask, user: User
) -> None:
    phone = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    phone.login(remember=True)
    assert is_logged_in(phone.client)

    phone.client.environ_base["REMOTE_ADDR"] = "203.0.113.99"

    assert is_logged_in(phone.client)
    assert is_logged_in(phone.client)
    assert phone.client.get_cookie("remember_token") is not None


def test_a_browser_without_remember_me_that_changes_address_is_logged_out(
    app: Flask, user: User
) -> None:
    laptop = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    laptop.login()

    laptop.client.environ_base["REMOTE_ADDR"] = "203.0.113.99"

    assert not is_logged_in(laptop.client)


def test_both_cookies_copied_to_another_browser_are_refused(app: Flask, user: User) -> None:
    victim = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    victim.login(remember=True)
    thief = browser(app, CHROME_ON_WINDOWS, "198.51.100.7")
    for name in ("session", "remember_token"):
        cookie = victim.client.get_cookie(name)
        assert cookie is not None
        thief.set_cookie(name, cookie.value)

    assert not is_logged_in(thief)
    assert thief.get_cookie("remember_token") is None
    assert is_logged_in(victim.client)


def test_a_browser_update_keeps_the_remember_cookie_working(app: Flask, user: User) -> None:
    updated = replay(app, remember_cookie_of(app), FIREFOX_UPDATED, "192.0.2.10")

    assert is_logged_in(updated)


def test_a_remember_cookie_replayed_after_logout_is_refused_and_deleted(
    app: Flask, user: User
) -> None:
    site = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    site.login(remember=True)
    cookie = site.client.get_cookie("remember_token")
    assert cookie is not None
    site.logout()

    # The same browser string, as a careful thief would send it.
    thief = replay(app, cookie.value, FIREFOX, "198.51.100.7")

    assert not is_logged_in(thief)
    assert thief.get_cookie("remember_token") is None


def test_a_remember_cookie_replayed_after_a_password_change_is_refused(
    app: Flask, user: User
) -> None:
    cookie = remember_cookie_of(app)
    assert is_logged_in(replay(app, cookie, FIREFOX, "192.0.2.10"))

    user.set_password("a brand new passphrase")
    db.session.commit()

    assert not is_logged_in(replay(app, cookie, FIREFOX, "192.0.2.10"))


def test_a_session_not_bound_to_the_browser_is_refused(app: Flask, user: User) -> None:
    site = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    site.login()
    assert is_logged_in(site.client)
    fresh()
    alice = db.session.get(User, user.id)
    assert alice is not None
    with site.client.session_transaction() as session:
        assert session["_user_id"] != alice.get_id()
        # What a bare flask_login.login_user() would have stored.
        session["_user_id"] = alice.get_id()

    assert not is_logged_in(site.client)


def test_revoking_credentials_ends_sessions_remember_cookies_and_api_tokens(
    app: Flask, client: FlaskClient, user: User
) -> None:
    laptop = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    laptop.login(remember=True)
    cookie = laptop.client.get_cookie("remember_token")
    assert cookie is not None
    token = get_token(client, "alice")

    fresh()
    alice = db.session.get(User, user.id)
    assert alice is not None
    alice.revoke_credentials()
    db.session.commit()

    assert not is_logged_in(laptop.client)
    assert not is_logged_in(replay(app, cookie.value, FIREFOX, "192.0.2.10"))
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    # The password itself still works: only what was issued with it ended.
    assert (
        SiteSession(browser(app, FIREFOX, "192.0.2.10")).login("alice", PASSWORD).status_code == 302
    )
