"""Password reset by email, on the site and through the API, with a real SMTP server."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import delete

from app import create_app, password_reset
from app.account_links import Action, issue
from app.extensions import db, limiter
from app.models import User
from app.password_reset_pages import SESSION_KEY
from app.validation import SAME_PASSWORD
from tests.api.helpers import assert_json_error, get_token
from tests.helpers import (
    PASSWORD,
    RequestIsolatedClient,
    SiteSession,
    bearer,
    empty_tables,
    fresh,
    link_in,
    make_user,
    text,
    wait_for_mail,
)
from tests.smtp_server import Inbox, SmtpServer, free_port
from tests.test_accounts import field_errors, flashes, is_logged_in
from tests.test_login_sessions import FIREFOX, browser, replay

pytestmark = pytest.mark.db

PUBLIC_URL = "https://site.example"
NEW_PASSWORD = "a brand new passphrase"
FORGOT = "/auth/forgot-password"
FORM = "/auth/reset-password"
# Headers that differ between any two answers, by request or by the clock, whatever they answer.
PER_REQUEST_HEADERS = {"X-Request-ID", "X-RateLimit-Reset", "Retry-After"}
SIGNED_SESSION = re.compile(r"^(session=[^.;]*)\.[^;]*")


def mail_settings(monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer) -> None:
    for name, value in {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_server.port),
        "MAIL_USE_TLS": "false",
        "MAIL_DEFAULT_SENDER": "Example Site <noreply@site.example>",
        "PUBLIC_URL": PUBLIC_URL,
    }.items():
        monkeypatch.setenv(name, value)


def serve(app: Flask) -> Iterator[Flask]:
    """Run ``app`` with a fresh database, and let its outbox empty before the tables go."""
    app.test_client_class = RequestIsolatedClient
    with app.app_context():
        db.create_all()
        yield app
        assert password_reset.wait_for_outbox(10)
        db.session.remove()
        empty_tables()
        db.engine.dispose()


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer) -> Iterator[Flask]:
    """The testing app, mailing through the test SMTP server."""
    mail_settings(monkeypatch, smtp_server)
    yield from serve(create_app("testing"))


def ask(client: FlaskClient, address: str = "alice@example.com"):
    """Fill in and send the "Forgot password?" form."""
    return SiteSession(client).post_form(FORGOT, {"email": address})


def received_link(inbox: Inbox, count: int = 1) -> str:
    """The reset link (its path) in the ``count``-th mail, once it arrived."""
    message = wait_for_mail(inbox, count)[count - 1].message
    return link_in(message, PUBLIC_URL, FORM + "/")


def choose(client: FlaskClient, new: str = NEW_PASSWORD, confirm: str | None = None):
    """Submit the new-password form (the link was opened in ``client`` before)."""
    data = {"new_password": new, "confirm": new if confirm is None else confirm}
    # The CSRF token of another page of the session: a refused link shows no form.
    return SiteSession(client).post_form(FORM, data, form_page=FORGOT)


def reset(client: FlaskClient, inbox: Inbox, address: str = "alice@example.com"):
    """The whole journey in ``client``: ask, open the link from the mail, choose a password."""
    ask(client, address)
    assert client.get(received_link(inbox)).status_code == 302
    return choose(client)


def can_log_in(app: Flask, password: str, login: str = "alice") -> bool:
    response = SiteSession(app.test_client()).login(login, password)
    return response.status_code == 302


def refusal(response) -> str:
    """The reason a "link no longer valid" page gives."""
    match = re.search(r'<p class="flash flash-error" role="alert">([^<]*)</p>', text(response))
    assert match, text(response)
    return html.unescape(match.group(1))


def comparable(response) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body: what must not differ between two addresses.

    A session cookie is compared by its content: its signature holds the time.
    """
    headers = [
        (name, SIGNED_SESSION.sub(r"\1", value) if name == "Set-Cookie" else value)
        for name, value in response.headers.items()
        if name not in PER_REQUEST_HEADERS
    ]
    return response.status_code, headers, response.get_data()


# --- Asking for a link --------------------------------------------------------------------------


def test_the_log_in_page_offers_a_reset(client: FlaskClient) -> None:
    page = text(client.get("/auth/login"))
    assert f'href="{FORGOT}">Forgot password?</a>' in page
    form = text(client.get(FORGOT))
    assert 'name="email"' in form
    assert 'name="csrf_token"' in form


def test_the_answer_is_the_same_byte_for_byte_with_or_without_an_account(
    app: Flask, user: User, inbox: Inbox
) -> None:
    client = app.test_client()
    answers = []
    for n, address in enumerate(("alice@example.com", "nobody@example.com")):
        # The same browser, from a new network each time so that the limit's
        # headers start afresh too: only the address differs.
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        answers.append(ask(client, address))
    existing, missing = answers

    assert existing.status_code == 200
    assert password_reset.answer() in html.unescape(text(existing))
    assert "1 hour" in password_reset.answer()
    assert comparable(existing) == comparable(missing)
    assert password_reset.wait_for_outbox(10)
    [received] = wait_for_mail(inbox)
    assert received.rcpt_tos == ["alice@example.com"]
    assert received.message["Subject"] == "Reset your password"


def test_an_address_is_matched_as_registration_stores_it(
    client: FlaskClient, user: User, inbox: Inbox
) -> None:
    ask(client, "  ALICE@Example.COM ")
    assert received_link(inbox).startswith(FORM + "/")


def test_an_invalid_address_is_refused_by_the_form(client: FlaskClient, inbox: Inbox) -> None:
    response = ask(client, "not an address")
    assert response.status_code == 200
    assert field_errors(text(response)) == ["Invalid email address."]
    assert password_reset.wait_for_outbox(10)
    assert inbox.messages() == []


def test_a_mail_that_cannot_be_sent_is_logged_with_the_request_id_and_the_answer_is_the_same(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("MAIL_SERVER", "127.0.0.1")
    monkeypatch.setenv("MAIL_PORT", str(free_port()))
    monkeypatch.setenv("MAIL_USE_TLS", "false")
    monkeypatch.setenv("PUBLIC_URL", PUBLIC_URL)
    for app in serve(create_app("testing")):
        make_user()
        client = app.test_client()
        client.get(FORGOT)
        with caplog.at_level(logging.WARNING, logger="app"):
            response = SiteSession(client).post_form(FORGOT, {"email": "alice@example.com"})
            assert password_reset.wait_for_outbox(10)
        assert response.status_code == 200
        assert password_reset.answer() in html.unescape(text(response))
        request_id = response.headers["X-Request-ID"]
        failures = [r for r in caplog.records if "not sent" in r.getMessage()]
        assert len(failures) == 1, caplog.records
        assert getattr(failures[0], "request_id", None) == request_id


# --- The link and the new password --------------------------------------------------------------


def test_the_whole_journey_ends_logged_in_with_the_new_password(
    app: Flask, user: User, inbox: Inbox
) -> None:
    client = browser(app, FIREFOX, "192.0.2.10")
    ask(client)
    link = received_link(inbox)

    opened = client.get(link)
    # The token leaves the address bar at once, and the answer that carried it leaks nothing.
    assert opened.status_code == 302
    assert opened.headers["Location"] == FORM
    assert opened.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in opened.headers["Cache-Control"]
    form = client.get(FORM)
    assert form.status_code == 200
    assert "no-store" in form.headers["Cache-Control"]
    assert "<strong>alice</strong>" in text(form)
    assert link.rsplit("/", 1)[1] not in text(form)

    done = choose(client)

    assert done.status_code == 302
    assert done.headers["Location"] == "/"
    assert "Your password was changed and you are logged in." in " ".join(
        flashes(text(client.get("/")))
    )
    assert is_logged_in(client)
    assert can_log_in(app, NEW_PASSWORD)
    assert not can_log_in(app, PASSWORD)


def test_the_request_log_never_shows_the_link_s_token(
    app: Flask, user: User, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    client = browser(app, FIREFOX, "192.0.2.10")
    ask(client)
    link = received_link(inbox)
    token = link.rsplit("/", 1)[1]

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="app.request"):
        client.get(link)

    lines = [r.getMessage() for r in caplog.records if r.name == "app.request"]
    assert len(lines) == 1
    assert lines[0].startswith("GET /auth/reset-password/[redacted] 302 ")
    assert token not in caplog.text


def test_a_reset_ends_every_session_remember_cookie_and_api_token_and_the_link(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    other = SiteSession(browser(app, FIREFOX, "198.51.100.5"))
    assert other.login(remember=True).status_code == 302
    stolen = other.client.get_cookie("remember_token")
    assert stolen is not None
    token = get_token(client, "alice")
    here = browser(app, FIREFOX, "192.0.2.10")

    ask(here)
    link = received_link(inbox)
    assert here.get(link).status_code == 302
    assert choose(here).status_code == 302

    assert is_logged_in(here)
    assert not is_logged_in(other.client)
    # A remember-me cookie copied before the change is dead, even in the browser it came from.
    assert not is_logged_in(replay(app, stolen.value, FIREFOX, "198.51.100.5"))
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    # The link worked once.
    again = browser(app, FIREFOX, "192.0.2.10")
    again.get(link)
    refused = again.get(FORM)
    assert refused.status_code == 410
    assert "already used" in refusal(refused)


def test_a_new_password_equal_to_the_old_or_too_short_is_refused_and_the_link_still_works(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    # Each submission of the form counts as a password guess.
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    ask(client)
    client.get(received_link(inbox))

    same = choose(client, PASSWORD)
    short = choose(client, "short")
    differ = choose(client, NEW_PASSWORD, "something else entirely")

    assert same.status_code == short.status_code == differ.status_code == 200
    assert field_errors(text(same)) == [SAME_PASSWORD]
    assert field_errors(text(short)) == ["Field must be between 12 and 128 characters long."]
    assert field_errors(text(differ)) == ["The passwords differ."]
    assert not is_logged_in(client)
    assert can_log_in(app, PASSWORD)
    assert choose(client).status_code == 302
    assert can_log_in(app, NEW_PASSWORD)


def test_an_expired_link_is_refused_as_expired_and_changes_nothing(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    ask(client)
    link = received_link(inbox)
    app.config["PASSWORD_RESET_LINK_SECONDS"] = -1

    client.get(link)
    posted = choose(client)
    client.get(link)
    page = client.get(FORM)

    assert page.status_code == posted.status_code == 410
    assert "This link has expired" in refusal(page)
    assert can_log_in(app, PASSWORD)


def test_a_newer_link_replaces_the_older_one(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    ask(client)
    older = received_link(inbox)
    ask(client)
    newer = received_link(inbox, 2)
    assert older != newer

    client.get(older)
    refused = client.get(FORM)
    assert refused.status_code == 410
    assert "a newer one was sent since" in refusal(refused)
    client.get(newer)
    assert choose(client).status_code == 302


@pytest.mark.parametrize(
    "tamper", [lambda t: t[:-2] + ("xx" if not t.endswith("xx") else "yy"), lambda t: "x" + t]
)
def test_a_tampered_link_is_invalid_and_changes_nothing(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox, tamper
) -> None:
    ask(client)
    link = received_link(inbox)
    base, token = link.rsplit("/", 1)

    client.get(f"{base}/{tamper(token)}")
    page = client.get(FORM)
    client.get(f"{base}/{tamper(token)}")
    posted = choose(client)

    assert page.status_code == posted.status_code == 400
    assert "not a valid password reset link" in refusal(page)
    assert can_log_in(app, PASSWORD)
    # The session forgot the bad token: the real link still works.
    client.get(link)
    assert client.get(FORM).status_code == 200


def test_the_form_without_a_link_is_refused(client: FlaskClient) -> None:
    response = client.get(FORM)
    assert response.status_code == 400
    assert "not a valid password reset link" in refusal(response)


def test_a_link_made_for_another_action_or_pointing_at_another_user_is_refused(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    bob = make_user("bob")
    ask(client)
    link = received_link(inbox)
    with app.test_request_context():
        email_change = issue(user, Action.EMAIL_CHANGE, email="new@example.com")
    db.session.commit()
    fresh()
    nonce = db.session.get(User, user.id).password_reset_nonce
    # alice's valid nonce in a token naming bob: without the key it cannot be signed...
    forged = URLSafeTimedSerializer("not the key", salt="password-reset").dumps(
        {"user": bob.id, "nonce": nonce, "data": {}}
    )
    # ...and signed with it, bob's own (absent) nonce does not match.
    signed = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="password-reset").dumps(
        {"user": bob.id, "nonce": nonce, "data": {}}
    )

    for token, status in ((email_change, 400), (forged, 400), (signed, 410)):
        client.get(f"{FORM}/{token}")
        assert client.get(FORM).status_code == status, token
        client.get(f"{FORM}/{token}")
        assert choose(client).status_code == status, token
    assert can_log_in(app, PASSWORD, "bob")
    assert can_log_in(app, PASSWORD, "alice")
    client.get(link)
    assert client.get(FORM).status_code == 200


def test_a_link_opened_in_another_users_browser_resets_only_its_own_account(
    app: Flask, user: User, inbox: Inbox
) -> None:
    make_user("bob")
    bobs_browser = SiteSession(browser(app, FIREFOX, "192.0.2.10"))
    assert bobs_browser.login("bob").status_code == 302
    ask(app.test_client(), "alice@example.com")

    bobs_browser.client.get(received_link(inbox))
    assert "<strong>alice</strong>" in text(bobs_browser.client.get(FORM))
    assert choose(bobs_browser.client).status_code == 302

    assert can_log_in(app, NEW_PASSWORD, "alice")
    assert can_log_in(app, PASSWORD, "bob")


def test_a_reset_for_an_account_deleted_meanwhile_is_refused(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    ask(client)
    client.get(received_link(inbox))
    assert client.get(FORM).status_code == 200
    db.session.execute(delete(User))
    db.session.commit()

    posted = choose(client)

    assert posted.status_code == 410
    assert not is_logged_in(client)
    fresh()
    assert db.session.query(User).count() == 0


def test_an_account_deleted_between_the_check_and_the_change_is_refused_too(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app import account_links

    ask(client)
    client.get(received_link(inbox))
    claim = account_links.claim

    def deleted_first(link: account_links.RedeemedLink) -> None:
        # Another request deletes the account just before this one uses the link.
        with app.app_context():
            db.session.execute(delete(User).where(User.id == link.user.id))
            db.session.commit()
        claim(link)

    monkeypatch.setattr(account_links, "claim", deleted_first)

    posted = choose(client)

    assert posted.status_code == 410
    assert not is_logged_in(client)


# --- Limits -------------------------------------------------------------------------------------


def test_requests_are_limited_per_client(app: Flask, client: FlaskClient) -> None:
    app.config["RATELIMIT_PASSWORD_RESET"] = "2 per hour"
    assert [ask(client, f"n{n}@example.com").status_code for n in range(3)] == [200, 200, 429]
    # Another client is not held back.
    assert ask(browser(app, FIREFOX, "198.51.100.5"), "n@example.com").status_code == 200


def test_mail_to_one_address_is_limited_whoever_asks_and_the_answer_does_not_change(
    app: Flask, user: User, inbox: Inbox
) -> None:
    app.config["RATELIMIT_PASSWORD_RESET_ADDRESS"] = "2 per hour"
    answers = [
        comparable(ask(browser(app, FIREFOX, f"198.51.100.{n}"), address))[2]
        for n in range(3)
        for address in ("alice@example.com", "nobody@example.com")
    ]
    assert password_reset.wait_for_outbox(10)

    assert len(set(answers)) == 1
    assert len(inbox.messages()) == 2


def test_reset_mail_works_while_the_limit_storage_is_down(
    monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer, inbox: Inbox
) -> None:
    mail_settings(monkeypatch, smtp_server)
    # Nothing listens there: a Redis that is down.
    monkeypatch.setenv("TEST_RATELIMIT_STORAGE_URI", f"redis://127.0.0.1:{free_port()}")
    try:
        for app in serve(create_app("testing")):
            make_user()
            client = app.test_client()
            assert ask(client).status_code == 200
            client.get(received_link(inbox))
            assert choose(client).status_code == 302
    finally:
        # The limiter is one object for every app of the process: the next app's
        # storage is up, so let it count there from its first request.
        limiter._storage_dead = False


# --- Without mail -------------------------------------------------------------------------------


def test_without_mail_there_is_no_reset_on_the_site_or_in_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MAIL_ENABLED", "false")
    for app in serve(create_app("testing")):
        make_user()
        client = app.test_client()
        assert "Forgot password?" not in text(client.get("/auth/login"))
        for path in (FORGOT, FORM, f"{FORM}/anything"):
            assert client.get(path).status_code == 404, path
        assert_json_error(
            client.post("/api/password-reset", json={"email": "alice@example.com"}), 404
        )
        document = client.get("/api/openapi.json").get_json()
        assert "/api/password-reset" not in document["paths"]


# --- The API ------------------------------------------------------------------------------------


def test_the_api_answers_the_same_with_or_without_an_account_and_mails_the_link(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    answers = []
    for n, address in enumerate(("alice@example.com", "nobody@example.com")):
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{n}"
        answers.append(client.post("/api/password-reset", json={"email": address}))
    existing, missing = answers

    assert existing.status_code == 202
    assert existing.get_json() == {"message": password_reset.answer()}
    assert comparable(existing) == comparable(missing)
    site = browser(app, FIREFOX, "192.0.2.10")
    site.get(received_link(inbox))
    assert choose(site).status_code == 302
    assert can_log_in(app, NEW_PASSWORD)


def test_the_api_refuses_an_invalid_address(client: FlaskClient, inbox: Inbox) -> None:
    response = client.post("/api/password-reset", json={"email": "not an address"})
    assert_json_error(response, 400)
    assert "email" in response.get_json()["errors"]


def test_the_session_keeps_the_token_only_until_it_is_used(
    app: Flask, client: FlaskClient, user: User, inbox: Inbox
) -> None:
    reset(client, inbox)
    with client.session_transaction() as session:
        assert SESSION_KEY not in session


def test_a_failure_in_the_mail_thread_is_logged_with_the_request_id_and_the_next_mail_goes_out(
    client: FlaskClient,
    user: User,
    inbox: Inbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    send_link = password_reset._send_link
    calls = []

    def fails_once(address: str) -> None:
        calls.append(address)
        if len(calls) == 1:
            raise OSError("the database went away")
        send_link(address)

    monkeypatch.setattr(password_reset, "_send_link", fails_once)
    with caplog.at_level(logging.ERROR, logger="app"):
        first = client.post("/api/password-reset", json={"email": "alice@example.com"})
        assert password_reset.wait_for_outbox(10)
    second = client.post("/api/password-reset", json={"email": "alice@example.com"})

    assert first.status_code == second.status_code == 202
    [failure] = [r for r in caplog.records if r.getMessage() == "password reset mail not sent"]
    assert getattr(failure, "request_id", None) == first.headers["X-Request-ID"]
    assert received_link(inbox).startswith(FORM + "/")
