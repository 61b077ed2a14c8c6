"""The account settings page: password, sessions, API tokens, deleting the account."""

from __future__ import annotations

import html
import pickle
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.account_settings import WRONG_PASSWORD
from app.errors import CSRF_MESSAGE
from app.extensions import cache, db
from app.models import ApiToken, Post, User
from tests.api.helpers import assert_json_error, get_token
from tests.helpers import PASSWORD, SiteSession, bearer, csrf_token_from, fresh, make_user, text
from tests.test_accounts import is_logged_in, nav_user
from tests.test_login_sessions import FIREFOX, browser, replay

pytestmark = pytest.mark.db

NEW_PASSWORD = "a brand new passphrase"
SECRET = re.compile(r'<p class="token-secret"><code>([^<]+)</code></p>')


def post_settings(site: SiteSession, action: str, data: dict[str, object]):
    """Submit one of the settings page's forms, with the page's CSRF token."""
    return site.post_form(f"/account/{action}", data, form_page="/account")


def change_password(site: SiteSession, current: str = PASSWORD, new: str = NEW_PASSWORD, **extra):
    data = {"current_password": current, "new_password": new, "confirm": new, **extra}
    return post_settings(site, "password", data)


def delete_account(site: SiteSession, password: str = PASSWORD, username: str = "alice"):
    return post_settings(site, "delete", {"password": password, "username": username})


def flashes(page: str) -> list[str]:
    return [html.unescape(m) for m in re.findall(r'class="flash[^"]*"[^>]*>([^<]*)<', page)]


def logged_in_browser(
    app: Flask, remember: bool = False, address: str = "192.0.2.10"
) -> SiteSession:
    site = SiteSession(browser(app, FIREFOX, address))
    assert site.login(remember=remember).status_code == 302
    return site


def users() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(User)) or 0


# --- The page -----------------------------------------------------------------------------------


def test_the_settings_page_needs_a_log_in(client: FlaskClient, user: User) -> None:
    response = client.get("/account")

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")


def test_the_settings_page_has_every_section_and_says_what_deletion_removes(
    site: SiteSession, user: User
) -> None:
    site.login()

    response = site.client.get("/account")

    page = text(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    for heading in (
        "Profile",
        "Change password",
        "Sessions and devices",
        "API tokens",
        "Delete account",
    ):
        assert f">{heading}</h2>" in page
    assert "all your posts and API tokens" in page
    assert "That is 0 posts and 0 API tokens." in " ".join(page.split())
    assert "Your API tokens are revoked too" in page
    assert 'href="/account"' in text(site.client.get("/"))
    # Every form that posts sends a CSRF token, and none needs a script. The
    # header's search form is a GET: a token there would end up in URLs.
    assert page.count('name="csrf_token"') == page.count("<form") - 1
    assert page.count('<form class="site-search" role="search" method="get"') == 1
    assert "<script" not in page


@pytest.mark.parametrize(
    "action", ["profile", "password", "email", "sessions", "tokens", "tokens/1/revoke", "delete"]
)
def test_every_settings_form_needs_its_csrf_token(
    app: Flask, site: SiteSession, user: User, action: str
) -> None:
    site.login()
    token = get_token(site.client, "alice")
    data = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm": NEW_PASSWORD,
        "label": "x",
        "password": PASSWORD,
        "username": "alice",
        "email_current_password": PASSWORD,
        "new_email": "alice.new@example.org",
        "display_name": "Mallory",
        "bio": "Forged.",
    }

    response = site.client.post(f"/account/{action}", data=data)

    assert response.status_code == 400
    assert html.escape(CSRF_MESSAGE) in text(response)
    assert is_logged_in(site.client)
    assert site.client.get("/api/me", headers=bearer(token)).status_code == 200
    assert users() == 1
    assert db.session.scalars(select(User.display_name)).one() is None
    assert SiteSession(app.test_client()).login("alice", PASSWORD).status_code == 302


# --- Change password ----------------------------------------------------------------------------


def test_changing_the_password_keeps_this_browser_and_ends_every_other_credential(
    app: Flask, client: FlaskClient, user: User
) -> None:
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    here = logged_in_browser(app)
    other = logged_in_browser(app, address="198.51.100.5")
    remembered = logged_in_browser(app, remember=True, address="203.0.113.9")
    stolen = remembered.client.get_cookie("remember_token")
    assert stolen is not None
    token = get_token(client, "alice")

    response = change_password(here)

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    page = text(here.client.get("/account"))
    assert "Your password was changed." in " ".join(flashes(page))
    assert is_logged_in(here.client)
    assert not is_logged_in(other.client)
    assert not is_logged_in(remembered.client)
    assert not is_logged_in(replay(app, stolen.value, FIREFOX, "203.0.113.9"))
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    assert SiteSession(app.test_client()).login("alice", PASSWORD).status_code == 200
    assert SiteSession(app.test_client()).login("alice", NEW_PASSWORD).status_code == 302


def test_a_remembered_browser_that_changes_the_password_gets_a_new_remember_cookie(
    app: Flask, user: User
) -> None:
    here = logged_in_browser(app, remember=True)
    old = here.client.get_cookie("remember_token")
    assert old is not None

    change_password(here)

    new = here.client.get_cookie("remember_token")
    assert new is not None
    assert new.value != old.value
    assert is_logged_in(replay(app, new.value, FIREFOX, "192.0.2.99"))
    assert not is_logged_in(replay(app, old.value, FIREFOX, "192.0.2.99"))


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("not my password", NEW_PASSWORD, NEW_PASSWORD, WRONG_PASSWORD),
        (PASSWORD, PASSWORD, PASSWORD, "The new password must differ from the current one."),
        (PASSWORD, "too short", "too short", "Field must be between 12 and 128 characters long."),
        (PASSWORD, NEW_PASSWORD, "something else", "The passwords differ."),
        ("", NEW_PASSWORD, NEW_PASSWORD, "This field is required."),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    app: Flask, site: SiteSession, user: User, current: str, new: str, confirm: str, message: str
) -> None:
    site.login()
    other = logged_in_browser(app)

    response = change_password(site, current, new, confirm=confirm)

    assert response.status_code == 200
    assert html.escape(message) in text(response)
    assert is_logged_in(site.client)
    assert is_logged_in(other.client)
    assert SiteSession(app.test_client()).login("alice", PASSWORD).status_code == 302


def test_password_change_attempts_count_as_password_guesses(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login()
    app.config["RATELIMIT_LOGIN"] = "2 per minute"

    statuses = [change_password(site, current="guess").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    # The same counter as the log-in form's.
    assert SiteSession(site.client).post_form("/auth/logout", {}, form_page="/").status_code == 302
    assert SiteSession(site.client).login("alice").status_code == 429


def test_wrong_current_passwords_pause_the_account_like_failed_log_ins(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login()
    app.config["RATELIMIT_LOGIN_ACCOUNT"] = "2 per 15 minutes"
    for _ in range(2):
        assert WRONG_PASSWORD in text(change_password(site, current="guess"))

    refused = change_password(site)

    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many failed log-ins for this account" in text(refused)
    assert SiteSession(app.test_client()).login("alice", NEW_PASSWORD).status_code == 200


# --- Log out everywhere else --------------------------------------------------------------------


def test_log_out_everywhere_else_keeps_only_this_browser(
    app: Flask, client: FlaskClient, user: User
) -> None:
    here = logged_in_browser(app)
    other = logged_in_browser(app, remember=True, address="198.51.100.5")
    stolen = other.client.get_cookie("remember_token")
    assert stolen is not None
    token = get_token(client, "alice")

    response = post_settings(here, "sessions", {})

    assert response.status_code == 302
    assert "You were logged out everywhere else" in " ".join(
        flashes(text(here.client.get("/account")))
    )
    assert is_logged_in(here.client)
    assert not is_logged_in(other.client)
    assert not is_logged_in(replay(app, stolen.value, FIREFOX, "198.51.100.5"))
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    # The password is unchanged.
    assert SiteSession(app.test_client()).login("alice", PASSWORD).status_code == 302


def test_log_out_everywhere_else_asks_first_and_says_what_ends(
    app: Flask, client: FlaskClient, user: User
) -> None:
    here = logged_in_browser(app)
    other = logged_in_browser(app, address="198.51.100.5")
    token = get_token(client, "alice")
    settings = text(here.client.get("/account"))
    assert 'href="/account/sessions"' in settings

    response = here.client.get("/account/sessions")

    page = text(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert '<h1 id="confirm-heading">Log out everywhere else?</h1>' in page
    assert "your 1 API token (&ldquo;API token&rdquo;)" in " ".join(page.split())
    assert "This cannot be undone." in page
    form = re.search(r'method="post" action="/account/sessions">(.*?)</form>', page, re.S)
    assert form
    assert 'name="csrf_token"' in form.group(1)
    assert '<a class="button button-secondary" href="/account">Cancel</a>' in page
    # Asking ended nothing.
    assert is_logged_in(other.client)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


# --- API tokens ---------------------------------------------------------------------------------


def test_a_token_created_on_the_page_is_shown_once_works_and_is_listed_by_prefix(
    site: SiteSession, user: User
) -> None:
    site.login()

    response = post_settings(site, "tokens", {"label": "Backup script"})

    assert response.status_code == 201
    assert "no-store" in response.headers["Cache-Control"]
    secret = SECRET.search(text(response))
    assert secret, "the new token's secret is on the page"
    token = secret.group(1)
    me = site.client.get("/api/me", headers=bearer(token))
    assert me.get_json()["username"] == "alice"
    listing = text(site.client.get("/account"))
    assert "Backup script" in listing
    assert f"<code>{token[:8]}&hellip;</code>" in listing
    assert token not in listing


def test_a_token_label_is_required_and_follows_the_text_rule(site: SiteSession, user: User) -> None:
    site.login()

    for label, message in [
        ("", "This field is required."),
        ("x" * 65, "Field cannot be longer than 64 characters."),
        ("bidi \u202e", "invisible control character"),
    ]:
        response = post_settings(site, "tokens", {"label": label})
        assert response.status_code == 200
        assert html.escape(message) in text(response)
    fresh()
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0


def test_a_token_revoked_on_the_page_stops_working_and_others_stay(
    site: SiteSession, user: User
) -> None:
    site.login()
    kept = get_token(site.client, "alice")
    revoked = get_token(site.client, "alice")
    fresh()
    revoked_id = max(db.session.scalars(select(ApiToken.id)))

    response = post_settings(site, f"tokens/{revoked_id}/revoke", {})

    assert response.status_code == 302
    assert "revoked" in " ".join(flashes(text(site.client.get("/account"))))
    assert_json_error(site.client.get("/api/me", headers=bearer(revoked)), 401)
    assert site.client.get("/api/me", headers=bearer(kept)).status_code == 200


def test_revoking_a_token_asks_first_on_a_page_showing_the_token(
    site: SiteSession, user: User
) -> None:
    site.login()
    post_settings(site, "tokens", {"label": "Backup <script>"})
    fresh()
    token = db.session.scalars(select(ApiToken)).one()
    settings = text(site.client.get("/account"))
    assert f'href="/account/tokens/{token.id}/revoke"' in settings

    response = site.client.get(f"/account/tokens/{token.id}/revoke")

    page = text(response)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "private, no-store"
    assert '<h1 id="confirm-heading">Revoke this API token?</h1>' in page
    assert "<dd>Backup &lt;script&gt;</dd>" in page
    assert f"<code>{token.prefix}&hellip;</code>" in page
    assert "This cannot be undone:" in page
    action = f'method="post" action="/account/tokens/{token.id}/revoke">'
    form = re.search(f"{re.escape(action)}(.*?)</form>", page, re.S)
    assert form
    assert 'name="csrf_token"' in form.group(1)
    assert '<a class="button button-secondary" href="/account">Cancel</a>' in page
    fresh()
    assert db.session.scalars(select(ApiToken.id)).all() == [token.id]


def test_nobody_is_asked_to_revoke_someone_elses_token(
    app: Flask, site: SiteSession, user: User
) -> None:
    make_user("bob")
    get_token(app.test_client(), "bob")
    fresh()
    bobs_id = db.session.scalar(select(ApiToken.id))
    site.login()

    assert site.client.get(f"/account/tokens/{bobs_id}/revoke").status_code == 404


def test_someone_elses_token_cannot_be_revoked_from_the_page(
    app: Flask, site: SiteSession, user: User
) -> None:
    make_user("bob")
    bobs = get_token(app.test_client(), "bob")
    fresh()
    bobs_id = db.session.scalar(select(ApiToken.id))
    site.login()

    response = post_settings(site, f"tokens/{bobs_id}/revoke", {})

    assert response.status_code == 404
    assert site.client.get("/api/me", headers=bearer(bobs)).status_code == 200


# --- Delete the account -------------------------------------------------------------------------


def test_deleting_the_account_logs_out_removes_everything_and_frees_the_username(
    app: Flask, site: SiteSession, user: User
) -> None:
    make_user("bob")
    db.session.add_all([Post(title="Alice writes", body="Gone.", author=user)])
    db.session.commit()
    site.login()
    token = get_token(site.client, "alice")

    response = delete_account(site)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = text(site.client.get("/"))
    assert "The account alice and its posts were deleted." in " ".join(flashes(home))
    assert nav_user(home) is None
    assert "Alice writes" not in home
    assert not is_logged_in(site.client)
    assert site.client.get("/users/alice").status_code == 404
    assert_json_error(site.client.get("/api/me", headers=bearer(token)), 401)
    assert SiteSession(app.test_client()).login("alice", PASSWORD).status_code == 200
    fresh()
    assert db.session.scalar(select(func.count()).select_from(Post)) == 0
    assert db.session.scalar(select(func.count()).select_from(ApiToken)) == 0
    again = SiteSession(app.test_client()).register("alice", password="another passphrase!")
    assert again.status_code == 302


@pytest.mark.parametrize(
    ("password", "username", "message"),
    [
        ("not my password", "alice", WRONG_PASSWORD),
        (PASSWORD, "bob", "That is not your username."),
        (PASSWORD, "", "This field is required."),
        ("", "alice", "This field is required."),
    ],
)
def test_a_refused_deletion_says_why_and_keeps_the_account(
    site: SiteSession, user: User, password: str, username: str, message: str
) -> None:
    site.login()

    response = delete_account(site, password, username)

    assert response.status_code == 200
    assert html.escape(message) in text(response)
    assert users() == 1
    assert is_logged_in(site.client)


def test_the_username_confirmation_ignores_case(site: SiteSession, user: User) -> None:
    site.login()

    assert delete_account(site, username=" ALICE ").status_code == 302
    assert users() == 0


def test_deletion_attempts_count_as_password_guesses(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login()
    app.config["RATELIMIT_LOGIN"] = "2 per minute"

    statuses = [delete_account(site, password="guess").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert users() == 1


def test_another_session_of_a_deleted_account_is_simply_logged_out(app: Flask, user: User) -> None:
    here = logged_in_browser(app)
    there = logged_in_browser(app, remember=True, address="198.51.100.5")
    # The other browser has the settings page open, with its forms, mid-visit.
    form_token = csrf_token_from(text(there.client.get("/account")))

    assert delete_account(here).status_code == 302

    for method, path, data in [
        ("get", "/account", None),
        ("post", "/account/sessions", {"csrf_token": form_token}),
        ("post", "/account/tokens", {"csrf_token": form_token, "label": "late"}),
        ("post", "/posts/new", {"csrf_token": form_token, "title": "T", "body": "B"}),
        ("get", "/", None),
    ]:
        response = there.client.open(path, method=method.upper(), data=data)
        assert response.status_code in (200, 302), (path, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/auth/login"), path
    assert nav_user(text(there.client.get("/"))) is None
    assert there.client.get_cookie("remember_token") is None
    fresh()
    assert db.session.scalar(select(func.count()).select_from(Post)) == 0


def test_nothing_of_a_deleted_account_is_left_in_the_cache(
    app: Flask, site: SiteSession, user: User
) -> None:
    db.session.add(Post(title="Cached words", body="In every list.", author=user))
    db.session.commit()
    make_user("bob")
    for path in ("/", "/users/alice", "/users/bob", "/api/posts", "/api/users"):
        assert site.client.get(path).status_code == 200
    stored = cache.cache._cache  # SimpleCache, the test configuration's cache
    assert any(b"Cached words" in pickle.dumps(value) for value in stored.values())
    site.login()

    delete_account(site)

    for key, value in stored.items():
        dumped = key.encode() + pickle.dumps(value)
        assert b"alice" not in dumped.lower(), key
        assert b"Cached words" not in dumped, key
    assert "Cached words" not in text(site.client.get("/"))
    assert "alice" not in text(site.client.get("/api/users"))
    assert site.client.get("/users/alice").status_code == 404
