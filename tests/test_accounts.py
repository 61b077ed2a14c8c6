"""Accounts on the HTML site: registering, logging in and out, sessions and their cookies."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.accounts import LOGIN_FAILED
from app.errors import CSRF_MESSAGE
from app.extensions import db
from app.models import Post, User
from tests.helpers import NAV_USER, PASSWORD, SiteSession, fresh, make_user, text

pytestmark = pytest.mark.db


def user_count() -> int:
    fresh()
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def find_user(username: str) -> User | None:
    fresh()
    return db.session.scalar(select(User).where(User.username_key == username.lower()))


def nav_user(page: str) -> str | None:
    match = NAV_USER.search(page)
    return match.group(1) if match else None


def field_errors(page: str) -> list[str]:
    return [
        html.unescape(error)
        for block in re.findall(r'<ul class="field-errors"[^>]*>(.*?)</ul>', page, re.S)
        for error in re.findall(r"<li>(.*?)</li>", block, re.S)
    ]


def flashes(page: str) -> list[str]:
    return [
        html.unescape(message)
        for message in re.findall(r'<div class="flash flash-\w+" role="status">(.*?)</div>', page)
    ]


def set_cookies(response) -> dict[str, str]:
    """The Set-Cookie headers of ``response``, by cookie name."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def is_logged_in(client: FlaskClient) -> bool:
    response = client.get("/posts/new")
    if response.status_code == 200:
        return True
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    return False


def register_data(
    username: str = "carol",
    email: str | None = None,
    password: str = PASSWORD,
    confirm: str | None = None,
) -> dict[str, object]:
    return {
        "username": username,
        "email": email if email is not None else "carol@example.com",
        "password": password,
        "confirm": password if confirm is None else confirm,
    }


def assert_form_refused(response, error: str) -> None:
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Create an account</h1>" in page
    assert error in field_errors(page)


# --- registering ------------------------------------------------------------------------


def test_register_page_shows_the_form(client: FlaskClient) -> None:
    response = client.get("/auth/register")

    assert response.status_code == 200
    page = text(response)
    for name in ("username", "email", "password", "confirm", "csrf_token"):
        assert f'name="{name}"' in page


def test_register_creates_the_account_logs_in_and_redirects_home(
    app: Flask, site: SiteSession
) -> None:
    response = site.register("carol")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert user_count() == 1
    page = text(site.client.get("/"))
    assert nav_user(page) == "carol"
    assert "Welcome, carol! Your account is ready." in flashes(page)
    assert is_logged_in(site.client)


def test_register_stores_the_email_in_lower_case(site: SiteSession) -> None:
    site.post_form("/auth/register", register_data("carol", email="Carol.Smith@Example.COM"))

    user = find_user("carol")
    assert user is not None
    assert user.email == "carol.smith@example.com"


def test_password_is_stored_hashed_with_scrypt(site: SiteSession) -> None:
    site.register("carol")

    user = find_user("carol")
    assert user is not None
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("username", ["alice", "ALICE", "Alice"])
def test_register_refuses_a_username_taken_in_any_case(
    site: SiteSession, user: User, username: str
) -> None:
    response = site.post_form("/auth/register", register_data(username, email="other@example.com"))

    assert_form_refused(response, "That username is taken.")
    assert user_count() == 1


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@Example.com"])
def test_register_refuses_an_email_already_registered_in_any_case(
    site: SiteSession, user: User, email: str
) -> None:
    response = site.post_form("/auth/register", register_data("carol", email=email))

    assert_form_refused(response, "An account with that email already exists.")
    assert user_count() == 1


@pytest.mark.parametrize(
    ("username", "error"),
    [
        ("ab", "Field must be between 3 and 32 characters long."),
        ("a" * 33, "Field must be between 3 and 32 characters long."),
        ("car ol", "letters, digits, underscore, dot or hyphen"),
        ("car!ol", "letters, digits, underscore, dot or hyphen"),
        ("carol/x", "letters, digits, underscore, dot or hyphen"),
        ("<carol>", "letters, digits, underscore, dot or hyphen"),
        ("carol\n", "letters, digits, underscore, dot or hyphen"),
        ("abc\n", "letters, digits, underscore, dot or hyphen"),
        ("", "This field is required."),
    ],
    ids=[
        "2-chars",
        "33-chars",
        "space",
        "bang",
        "slash",
        "angle",
        "newline",
        "short-newline",
        "empty",
    ],
)
def test_register_refuses_a_bad_username(site: SiteSession, username: str, error: str) -> None:
    response = site.post_form("/auth/register", register_data(username))

    assert response.status_code == 200
    assert any(error in message for message in field_errors(text(response)))
    assert user_count() == 0


@pytest.mark.parametrize("username", ["abc", "a" * 32, "Carol_S.mith-2"])
def test_register_accepts_usernames_of_3_to_32_allowed_characters(
    site: SiteSession, username: str
) -> None:
    response = site.post_form("/auth/register", register_data(username))

    assert response.status_code == 302
    user = find_user(username)
    assert user is not None
    assert user.username == username


@pytest.mark.parametrize(
    "email",
    [
        "not-an-email",
        "carol@",
        "@example.com",
        "carol@example",
        "carol example@x.com",
        # The API's rule: a special-use domain can never receive mail.
        "carol@host.test",
    ],
)
def test_register_refuses_an_invalid_email(site: SiteSession, email: str) -> None:
    response = site.post_form("/auth/register", register_data(email=email))

    assert response.status_code == 200
    assert field_errors(text(response)) == ["Invalid email address."]
    assert user_count() == 0


@pytest.mark.parametrize(
    ("length", "accepted"), [(11, False), (12, True), (128, True), (129, False)]
)
def test_register_password_must_have_12_to_128_characters(
    site: SiteSession, length: int, accepted: bool
) -> None:
    response = site.post_form("/auth/register", register_data(password="p" * length))

    if accepted:
        assert response.status_code == 302
        assert user_count() == 1
    else:
        assert_form_refused(response, "Field must be between 12 and 128 characters long.")
        assert user_count() == 0


def test_register_refuses_a_mismatched_confirmation(site: SiteSession) -> None:
    response = site.post_form(
        "/auth/register", register_data(password=PASSWORD, confirm=PASSWORD + "!")
    )

    assert_form_refused(response, "The passwords differ.")
    assert user_count() == 0


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
def test_logged_in_user_is_sent_home_from_login_and_register(
    site: SiteSession, user: User, path: str
) -> None:
    site.login()

    response = site.client.get(path)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- logging in -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "login", ["alice", "ALICE", "alice@example.com", "Alice@Example.COM", "  alice  "]
)
def test_login_by_username_or_email_in_any_case(site: SiteSession, user: User, login: str) -> None:
    response = site.login(login)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = text(site.client.get("/"))
    assert nav_user(page) == "alice"
    assert "Welcome back, alice." in flashes(page)


@pytest.mark.parametrize(
    ("login", "password"),
    [("nobody", PASSWORD), ("nobody@example.com", PASSWORD), ("alice", "wrong password!")],
    ids=["unknown-user", "unknown-email", "wrong-password"],
)
def test_failed_login_shows_one_message_whatever_was_wrong(
    site: SiteSession, user: User, login: str, password: str
) -> None:
    response = site.login(login, password)

    assert response.status_code == 200
    page = text(response)
    assert flashes(page) == [LOGIN_FAILED]
    assert "<h1>Log in</h1>" in page
    # The message was shown once and is not carried to the next page.
    assert flashes(text(site.client.get("/"))) == []
    assert not is_logged_in(site.client)


def test_login_with_missing_fields_shows_field_errors(site: SiteSession, user: User) -> None:
    response = site.post_form("/auth/login", {"login": "", "password": ""})

    assert response.status_code == 200
    assert field_errors(text(response)) == ["This field is required."] * 2
    assert not is_logged_in(site.client)


def test_login_starts_a_fresh_session(site: SiteSession, user: User) -> None:
    site.client.get("/auth/login")
    with site.client.session_transaction() as session:
        session["marker"] = "x"

    site.login()

    with site.client.session_transaction() as session:
        assert "marker" not in session
    assert is_logged_in(site.client)


def test_login_redirects_to_a_safe_next_page(site: SiteSession, user: User) -> None:
    response = site.post_form(
        "/auth/login?next=/posts/new", {"login": "alice", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/posts/new"
    assert site.client.get("/posts/new").status_code == 200


def test_login_form_keeps_next_in_its_action(client: FlaskClient) -> None:
    page = text(client.get("/auth/login?next=/posts/new"))

    assert 'action="/auth/login?next=/posts/new"' in page


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "http:/evil.example",
        "/\t/evil.example",
        "evil.example",
    ],
)
def test_login_ignores_a_next_page_on_another_site(
    site: SiteSession, user: User, target: str
) -> None:
    path = "/auth/login?" + urlencode({"next": target})

    response = site.post_form(path, {"login": "alice", "password": PASSWORD})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_anonymous_visitor_is_sent_to_login_and_back(site: SiteSession, user: User) -> None:
    response = site.client.get("/posts/new")
    assert response.status_code == 302
    login_page = response.headers["Location"]
    assert login_page == "/auth/login?next=%2Fposts%2Fnew"

    response = site.post_form(login_page, {"login": "alice", "password": PASSWORD})

    assert response.headers["Location"] == "/posts/new"


# --- logging out ------------------------------------------------------------------------


def test_logout_ends_the_session_and_redirects_home(site: SiteSession, user: User) -> None:
    site.login()

    response = site.logout()

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = text(site.client.get("/"))
    assert nav_user(page) is None
    assert "You have been logged out." in flashes(page)
    assert not is_logged_in(site.client)


def test_logout_is_post_only(site: SiteSession, user: User) -> None:
    site.login()

    response = site.client.get("/auth/logout")

    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert '<span class="error-code">405</span>' in text(response)
    assert "POST" in response.headers["Allow"]
    assert is_logged_in(site.client)


def test_logout_without_csrf_token_is_refused_and_keeps_the_user_logged_in(
    site: SiteSession, user: User
) -> None:
    site.login()

    response = site.client.post("/auth/logout")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert html.escape(CSRF_MESSAGE) in text(response)
    assert is_logged_in(site.client)


def test_logout_with_a_wrong_csrf_token_is_refused(site: SiteSession, user: User) -> None:
    site.login()

    response = site.client.post("/auth/logout", data={"csrf_token": "forged"})

    assert response.status_code == 400
    assert is_logged_in(site.client)


@pytest.mark.parametrize(
    ("path", "logged_in"),
    [
        ("/auth/login", False),
        ("/auth/register", False),
        ("/auth/logout", True),
        ("/posts/new", True),
        ("/posts/{post_id}/edit", True),
        ("/posts/{post_id}/delete", True),
    ],
)
def test_form_post_without_csrf_token_is_refused_and_changes_nothing(
    site: SiteSession, user: User, path: str, logged_in: bool
) -> None:
    post = Post(title="Kept", body="Kept", author=user)
    db.session.add(post)
    db.session.commit()
    post_id = post.id
    if logged_in:
        site.login()
    data = {
        "login": "alice",
        "password": PASSWORD,
        "username": "carol",
        "email": "carol@example.com",
        "confirm": PASSWORD,
        "title": "Changed",
        "body": "Changed",
    }

    response = site.client.post(path.format(post_id=post_id), data=data)

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert html.escape(CSRF_MESSAGE) in text(response)
    assert is_logged_in(site.client) == logged_in
    assert user_count() == 1
    kept = db.session.get(Post, post_id)
    assert kept is not None
    assert (kept.title, kept.body) == ("Kept", "Kept")


def test_old_session_cookie_no_longer_authenticates_after_logout(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login()
    stolen = site.client.get_cookie("session")
    assert stolen is not None
    copy = app.test_client()
    copy.set_cookie("session", stolen.value)
    assert is_logged_in(copy), "the copied cookie should work while the session lasts"

    site.logout()

    replay = app.test_client()
    replay.set_cookie("session", stolen.value)
    assert not is_logged_in(replay)
    assert not is_logged_in(copy)


def test_logout_ends_the_users_sessions_on_other_devices(app: Flask, user: User) -> None:
    laptop = SiteSession(app.test_client())
    phone = SiteSession(app.test_client())
    laptop.login()
    phone.login()

    laptop.logout()

    assert not is_logged_in(phone.client)


# --- remember me and cookies ------------------------------------------------------------


def test_remember_me_sets_an_httponly_remember_cookie(site: SiteSession, user: User) -> None:
    response = site.login(remember=True)

    cookie = set_cookies(response)["remember_token"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie


def test_remember_cookie_logs_the_user_back_in_without_the_session_cookie(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login(remember=True)
    remember = site.client.get_cookie("remember_token")
    assert remember is not None

    later = app.test_client()
    later.set_cookie("remember_token", remember.value)

    assert later.get_cookie("session") is None
    assert is_logged_in(later)
    # ...and stays logged in afterwards, with the remember cookie kept.
    assert nav_user(text(later.get("/"))) == "alice"
    assert is_logged_in(later)
    assert later.get_cookie("remember_token") is not None


def test_login_without_remember_me_sets_no_remember_cookie(site: SiteSession, user: User) -> None:
    response = site.login()

    assert "remember_token" not in set_cookies(response)
    assert site.client.get_cookie("remember_token") is None


def test_remember_cookie_stops_working_after_logout(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login(remember=True)
    remember = site.client.get_cookie("remember_token")
    assert remember is not None

    response = site.logout()

    assert site.client.get_cookie("remember_token") is None
    assert "remember_token" in set_cookies(response)  # told to delete it
    later = app.test_client()
    later.set_cookie("remember_token", remember.value)
    assert not is_logged_in(later)


def test_session_cookie_is_httponly_and_samesite_lax(site: SiteSession, user: User) -> None:
    response = site.login()

    cookie = set_cookies(response)["session"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie


# --- changing the password --------------------------------------------------------------


def test_changing_the_password_ends_existing_sessions(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login(remember=True)
    remember = site.client.get_cookie("remember_token")
    assert remember is not None
    assert is_logged_in(site.client)

    user.set_password("a brand new passphrase")
    db.session.commit()

    assert not is_logged_in(site.client)
    later = app.test_client()
    later.set_cookie("remember_token", remember.value)
    assert not is_logged_in(later)
    assert site.login(password=PASSWORD).status_code == 200
    assert site.login(password="a brand new passphrase").status_code == 302


# --- rate limits ------------------------------------------------------------------------


def test_sixth_login_attempt_in_a_minute_gets_a_friendly_429_page(
    site: SiteSession, user: User
) -> None:
    token = site.csrf_token("/auth/login")
    attempt = {"login": "alice", "password": "wrong password!", "csrf_token": token}
    for _ in range(5):
        assert site.client.post("/auth/login", data=attempt).status_code == 200

    response = site.client.post("/auth/login", data=attempt)

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    page = text(response)
    assert '<span class="error-code">429</span>' in page
    assert "Too many requests" in page
    assert "Flask Site" in page
    assert int(response.headers["Retry-After"]) > 0
    # Even the right password is refused until the window passes.
    correct = {**attempt, "password": PASSWORD}
    assert site.client.post("/auth/login", data=correct).status_code == 429
    # The form itself can still be shown.
    assert site.client.get("/auth/login").status_code == 200


def test_refused_registrations_do_not_use_up_the_registration_limit(
    app: Flask, site: SiteSession
) -> None:
    assert app.config["RATELIMIT_REGISTER"] == "10 per hour"
    token = site.csrf_token("/auth/register")
    refused = {**register_data(confirm="does not match"), "csrf_token": token}
    for _ in range(10):
        assert site.client.post("/auth/register", data=refused).status_code == 200

    response = site.client.post("/auth/register", data={**register_data(), "csrf_token": token})

    assert response.status_code == 302
    assert user_count() == 1


def test_the_eleventh_account_from_one_client_in_an_hour_gets_a_429_page(app: Flask) -> None:
    for number in range(10):
        # A new browser each time: a logged-in visitor cannot register.
        response = SiteSession(app.test_client()).register(f"user{number:02d}")
        assert response.status_code == 302, number

    response = SiteSession(app.test_client()).register("one_too_many")

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "10 per 1 hour" in text(response)
    assert int(response.headers["Retry-After"]) > 0
    assert user_count() == 10
    assert find_user("one_too_many") is None
    assert app.test_client().get("/auth/register").status_code == 200


def test_every_registration_attempt_counts_against_the_higher_attempts_limit(
    app: Flask, site: SiteSession
) -> None:
    app.config["RATELIMIT_REGISTER_ATTEMPTS"] = "4 per hour"
    token = site.csrf_token("/auth/register")
    refused = {**register_data(confirm="does not match"), "csrf_token": token}
    for _ in range(4):
        assert site.client.post("/auth/register", data=refused).status_code == 200

    response = site.client.post("/auth/register", data={**register_data(), "csrf_token": token})

    assert response.status_code == 429
    assert "4 per 1 hour" in text(response)
    assert user_count() == 0


def test_rate_limit_is_configured_by_ratelimit_login(app: Flask, site: SiteSession) -> None:
    app.config["RATELIMIT_LOGIN"] = "2 per minute"
    make_user()
    token = site.csrf_token("/auth/login")
    attempt = {"login": "alice", "password": "wrong password!", "csrf_token": token}

    statuses = [site.client.post("/auth/login", data=attempt).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_a_copied_session_from_another_address_is_refused_even_with_x_forwarded_for(
    app: Flask, user: User
) -> None:
    """Strong session protection fingerprints the peer address, not a header anyone can send."""
    victim = app.test_client()
    victim.environ_base["REMOTE_ADDR"] = "192.0.2.10"
    SiteSession(victim).login()
    cookie = victim.get_cookie("session")
    assert cookie is not None

    thief = app.test_client()
    thief.environ_base["REMOTE_ADDR"] = "198.51.100.7"
    thief.set_cookie("session", cookie.value)
    response = thief.get("/posts/new", headers={"X-Forwarded-For": "192.0.2.10"})
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_a_registration_that_loses_a_race_gets_a_form_error_not_a_500(
    app: Flask, site: SiteSession, user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.forms import RegistrationForm

    # As if alice registered between the form's uniqueness check and the insert.
    monkeypatch.setattr(RegistrationForm, "validate_username", lambda form, field: None)
    monkeypatch.setattr(RegistrationForm, "validate_email", lambda form, field: None)
    response = site.register("alice")
    assert response.status_code == 200
    assert "That username or email is taken." in text(response)
    assert user_count() == 1


def test_log_in_by_email_matches_however_the_address_is_composed(app: Flask) -> None:
    import unicodedata

    make_user("jose", email="jos\u00e9@example.com")
    session = SiteSession(app.test_client())
    decomposed = unicodedata.normalize("NFD", "JOS\u00c9@EXAMPLE.COM")
    response = session.login(decomposed)
    assert response.status_code == 302
