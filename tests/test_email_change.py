"""Changing the email address on the site, confirmed by a mailed link; notices of account changes.

Mail goes to a real SMTP server on 127.0.0.1 (``mailbox``); links are followed
from the received messages.
"""

from __future__ import annotations

import io
import logging
import threading

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, select
from sqlalchemy.orm import ORMExecuteState, Session

from app.account_links import Action, issue
from app.extensions import db
from app.models import User
from tests.api.helpers import assert_json_error, get_token
from tests.helpers import (
    PASSWORD,
    SiteSession,
    bearer,
    csrf_token_from,
    fresh,
    link_in,
    mail_text,
    mails_to,
    make_user,
    refuse_mail,
    text,
)
from tests.smtp_server import Inbox
from tests.test_account_settings import change_password, flashes, logged_in_browser, post_settings
from tests.test_accounts import field_errors, is_logged_in

pytestmark = pytest.mark.db

NEW_ADDRESS = "alice.new@example.org"
CONFIRM = "/account/email/confirm/"


def ask_for(site: SiteSession, address: str = NEW_ADDRESS, password: str = PASSWORD):
    """Submit the settings page's email change form."""
    return post_settings(site, "email", {"email_current_password": password, "new_email": address})


def confirmation_link(app: Flask, inbox: Inbox, address: str = NEW_ADDRESS) -> str:
    [message] = mails_to(inbox, address)
    return link_in(message, app.config["PUBLIC_URL"], CONFIRM)


def confirm(client: FlaskClient, link: str):
    """Open the link, then press the page's button (a POST with its CSRF token)."""
    page = client.get(link)
    assert page.status_code == 200, text(page)
    return client.post(link, data={"csrf_token": csrf_token_from(text(page))})


def address_of(username: str) -> str:
    fresh()
    email = db.session.scalar(select(User.email).where(User.username == username))
    assert email is not None
    return email


@pytest.fixture
def app_warnings() -> io.StringIO:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("app")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


# --- Asking for the change ----------------------------------------------------------------------


def test_the_settings_page_has_the_email_form_only_when_the_site_sends_mail(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login()
    assert "Change email address" in text(site.client.get("/account"))

    app.config["MAIL_ENABLED"] = False

    page = text(site.client.get("/account"))
    assert "Change email address" not in page
    assert 'name="new_email"' not in page


def test_without_mail_the_email_change_routes_are_not_found(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    assert ask_for(site).status_code == 302
    link = confirmation_link(app, mailbox)
    app.config["MAIL_ENABLED"] = False

    assert ask_for(site).status_code == 404
    assert site.client.get(link).status_code == 404
    token = csrf_token_from(text(site.client.get("/account")))
    assert site.client.post(link, data={"csrf_token": token}).status_code == 404
    assert address_of("alice") == "alice@example.com"


def test_asking_mails_a_link_to_the_new_address_and_changes_nothing_yet(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()

    response = ask_for(site, "  Alice.New@Example.ORG ")

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    page = text(site.client.get("/account"))
    flash = flashes(page)[-1]
    assert flash.startswith(f"We sent a link to {NEW_ADDRESS}. Your address changes when you")
    assert flash.endswith("until then it stays alice@example.com.")
    assert "has not been used" in page
    [message] = mails_to(mailbox, NEW_ADDRESS)
    assert message["Subject"] == "Confirm your new email address"
    assert "Hello alice," in mail_text(message)
    assert link_in(message, app.config["PUBLIC_URL"], CONFIRM)
    # Only the new address gets mail now; the old one is told once it is done.
    assert len(mailbox.messages()) == 1
    assert address_of("alice") == "alice@example.com"
    assert is_logged_in(site.client)


@pytest.mark.parametrize(
    ("address", "password", "error"),
    [
        (NEW_ADDRESS, "not my password", "Wrong password."),
        ("not an address", PASSWORD, "Invalid email address."),
        ("someone@host.test", PASSWORD, "Invalid email address."),
        ("ALICE@example.com", PASSWORD, "That is already your email address."),
        ("Bob@Example.com", PASSWORD, "An account with that email already exists."),
    ],
)
def test_a_refused_request_says_why_and_sends_nothing(
    site: SiteSession, user: User, mailbox: Inbox, address: str, password: str, error: str
) -> None:
    make_user("bob")
    site.login()

    response = ask_for(site, address, password)

    assert response.status_code == 200
    assert field_errors(text(response)) == [error]
    assert mailbox.messages() == []
    fresh()
    assert db.session.get(User, user.id).email_change_nonce is None


def test_email_change_requests_count_as_password_guesses(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    app.config["RATELIMIT_LOGIN"] = "2 per minute"

    statuses = [ask_for(site, password="guess").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert mailbox.messages() == []


def test_links_to_one_address_are_limited_whoever_asks(
    app: Flask, client: FlaskClient, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    app.config["RATELIMIT_EMAIL_CHANGE_ADDRESS"] = "2 per hour"
    app.config["RATELIMIT_LOGIN"] = "100 per minute"
    make_user("bob")
    site.login()

    assert [ask_for(site).status_code for _ in range(2)] == [302, 302]
    refused = ask_for(site)
    # Another account asking for the same address meets the same count.
    bobs = client.patch(
        "/api/me",
        json={"current_password": PASSWORD, "email": NEW_ADDRESS},
        headers=bearer(get_token(client, "bob")),
    )

    assert refused.status_code == 429
    assert "Too many links were mailed to that address" in text(refused)
    body = assert_json_error(bobs, 429)
    assert "Too many links were mailed to that address" in body["message"]
    assert int(bobs.headers["Retry-After"]) > 0
    assert len(mails_to(mailbox, NEW_ADDRESS)) == 2
    assert ask_for(site, "elsewhere@example.org").status_code == 302


def test_a_link_that_cannot_be_sent_is_withdrawn_and_the_page_says_so(
    app: Flask, site: SiteSession, user: User, app_warnings: io.StringIO
) -> None:
    site.login()
    refuse_mail(app)

    ask_for(site)

    assert flashes(text(site.client.get("/account")))[-1:] == [
        "We could not send the email just now. Nothing was sent; please try again in a few minutes."
    ]
    assert f"to {NEW_ADDRESS} not sent" in app_warnings.getvalue()
    fresh()
    assert db.session.get(User, user.id).email_change_nonce is None


# --- Confirming ---------------------------------------------------------------------------------


def test_the_link_shows_a_button_and_opening_it_changes_nothing(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    ask_for(site)
    link = confirmation_link(app, mailbox)
    # A mail scanner opening the link, twice: nothing happens.
    scanner = app.test_client()
    for _ in range(2):
        page = scanner.get(link)
        assert page.status_code == 200
        assert "Confirm the new address" in text(page)
        assert NEW_ADDRESS in text(page)
        assert page.headers["Cache-Control"] == "private, no-store"

    assert address_of("alice") == "alice@example.com"


def test_confirming_changes_the_address_keeps_this_browser_and_ends_every_other_credential(
    app: Flask, client: FlaskClient, user: User, mailbox: Inbox
) -> None:
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    here = logged_in_browser(app)
    other = logged_in_browser(app, address="198.51.100.5")
    token = get_token(client, "alice")
    ask_for(here)

    response = confirm(here.client, confirmation_link(app, mailbox))

    assert response.status_code == 302
    assert response.headers["Location"] == "/account"
    assert flashes(text(here.client.get("/account")))[-1:] == [
        f"Your email address is now {NEW_ADDRESS}. Every other browser was logged out and "
        "your API tokens were revoked."
    ]
    assert address_of("alice") == NEW_ADDRESS
    assert is_logged_in(here.client)
    assert not is_logged_in(other.client)
    assert_json_error(client.get("/api/me", headers=bearer(token)), 401)
    # The new address logs in; the old one names nobody.
    assert SiteSession(app.test_client()).login(NEW_ADDRESS).status_code == 302
    assert SiteSession(app.test_client()).login("alice@example.com").status_code == 200
    [notice] = mails_to(mailbox, "alice@example.com")
    assert notice["Subject"] == "Your email address was changed"
    body = " ".join(mail_text(notice).split())
    assert f"changed from alice@example.com to {NEW_ADDRESS}." in body
    assert "If you did not" in body


def test_the_link_s_page_passes_its_token_to_nobody_and_confirms_over_https(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    ask_for(site)
    link = confirmation_link(app, mailbox)
    https = app.test_client()

    page = https.get(link, base_url="https://localhost")
    # No Referer leaves this page: not to its stylesheet, not with its own form.
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "no-store" in page.headers["Cache-Control"]
    answer = https.post(
        link, data={"csrf_token": csrf_token_from(text(page))}, base_url="https://localhost"
    )

    assert answer.status_code == 302
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert address_of("alice") == NEW_ADDRESS


def test_a_browser_not_logged_in_can_confirm_and_is_sent_to_log_in(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    ask_for(site)
    phone = app.test_client()

    response = confirm(phone, confirmation_link(app, mailbox))

    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login"
    assert address_of("alice") == NEW_ADDRESS
    # The link proves the address, not the password: it logs no one in.
    assert not is_logged_in(phone)
    assert not is_logged_in(site.client)


def test_a_notice_to_the_old_address_that_fails_does_not_undo_the_change(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox, app_warnings: io.StringIO
) -> None:
    site.login()
    ask_for(site)
    link = confirmation_link(app, mailbox)
    refuse_mail(app)

    confirm(site.client, link)

    assert address_of("alice") == NEW_ADDRESS
    assert (
        "We could not send the notice of this change to alice@example.com; the new address "
        "is in place all the same."
    ) in flashes(text(site.client.get("/account")))
    assert "to alice@example.com not sent" in app_warnings.getvalue()


# --- Links that cannot be used ------------------------------------------------------------------


def swap_case(token: str, index: int) -> str:
    """``token`` with one letter changed (digits and punctuation become a letter)."""
    char = token[index]
    changed = char.swapcase() if char.isalpha() else "x"
    return token[:index] + changed + token[index + 1 :]


def assert_refused(response, status: int, title: str) -> None:
    assert response.status_code == status
    page = text(response)
    assert f"<h1>{title}</h1>" in page
    assert "Nothing was changed." in page
    # Never whose link it was.
    assert "alice" not in page.split('<section class="error-page">', 1)[1].split("</section>")[0]


def test_an_expired_link_says_so_and_changes_nothing(
    app: Flask, user: User, site: SiteSession, mailbox: Inbox
) -> None:
    site.login()
    ask_for(site)
    link = confirmation_link(app, mailbox)
    site.logout()
    app.config["EMAIL_CHANGE_LINK_SECONDS"] = -1
    visitor = app.test_client()

    assert_refused(visitor.get(link), 410, "This link has expired")
    token = csrf_token_from(text(visitor.get("/auth/login")))
    assert_refused(visitor.post(link, data={"csrf_token": token}), 410, "This link has expired")
    assert address_of("alice") == "alice@example.com"


def test_a_used_link_says_so(app: Flask, site: SiteSession, user: User, mailbox: Inbox) -> None:
    site.login()
    ask_for(site)
    link = confirmation_link(app, mailbox)
    confirm(site.client, link)

    assert_refused(site.client.get(link), 410, "This link no longer works")
    token = csrf_token_from(text(site.client.get("/account")))
    assert_refused(
        site.client.post(link, data={"csrf_token": token}), 410, "This link no longer works"
    )


def test_an_account_deleted_while_its_link_is_confirmed_changes_nothing(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    ask_for(site)
    link = confirmation_link(app, mailbox)
    page = site.client.get(link)
    user_id = user.id

    deleted = []

    def delete_the_account(state: ORMExecuteState) -> None:
        # Just before the confirmation's first write, committed on a connection of
        # its own, as another request's would be.
        if state.is_update and not deleted:
            with db.engine.connect() as other:
                other.execute(delete(User).where(User.id == user_id))
                other.commit()
            deleted.append(user_id)

    event.listen(Session, "do_orm_execute", delete_the_account)
    try:
        answer = site.client.post(link, data={"csrf_token": csrf_token_from(text(page))})
    finally:
        if event.contains(Session, "do_orm_execute", delete_the_account):
            event.remove(Session, "do_orm_execute", delete_the_account)

    assert_refused(answer, 410, "This link no longer works")
    assert not is_logged_in(site.client)
    fresh()
    assert db.session.scalar(select(User).where(User.email == NEW_ADDRESS)) is None


def test_a_newer_request_or_a_password_change_ends_the_link(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    app.config["RATELIMIT_LOGIN"] = "20 per minute"
    site.login()
    ask_for(site)
    first = confirmation_link(app, mailbox)
    ask_for(site, "alice.other@example.org")
    second = confirmation_link(app, mailbox, "alice.other@example.org")

    assert_refused(site.client.get(first), 410, "This link no longer works")
    change_password(site)
    assert_refused(site.client.get(second), 410, "This link no longer works")
    assert address_of("alice") == "alice@example.com"


@pytest.mark.parametrize(
    "spoil",
    [
        lambda link: link[:-3],
        # A character inside the payload: the last one of a signature may carry unused bits.
        lambda link: CONFIRM + swap_case(link.removeprefix(CONFIRM), 10),
        lambda link: CONFIRM + "not-a-token",
    ],
)
def test_a_tampered_link_is_not_valid_and_changes_nothing(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox, spoil
) -> None:
    site.login()
    ask_for(site)
    link = spoil(confirmation_link(app, mailbox))

    assert_refused(site.client.get(link), 400, "This link is not valid")
    token = csrf_token_from(text(site.client.get("/account")))
    assert_refused(
        site.client.post(link, data={"csrf_token": token}), 400, "This link is not valid"
    )
    assert address_of("alice") == "alice@example.com"


def test_a_link_made_for_another_action_is_not_valid(
    app: Flask, site: SiteSession, user: User
) -> None:
    site.login()
    reset = issue(user, Action.PASSWORD_RESET)
    db.session.commit()

    assert_refused(site.client.get(CONFIRM + reset), 400, "This link is not valid")


def test_another_accounts_browser_cannot_confirm_the_link(
    app: Flask, user: User, mailbox: Inbox
) -> None:
    make_user("bob")
    alice = logged_in_browser(app)
    ask_for(alice)
    link = confirmation_link(app, mailbox)
    bob = SiteSession(app.test_client())
    assert bob.login("bob").status_code == 302

    assert_refused(bob.client.get(link), 403, "This link is for another account")
    token = csrf_token_from(text(bob.client.get("/account")))
    assert_refused(
        bob.client.post(link, data={"csrf_token": token}), 403, "This link is for another account"
    )
    assert address_of("alice") == "alice@example.com"
    assert address_of("bob") == "bob@example.com"
    assert is_logged_in(bob.client)
    # Still Alice's to use.
    assert confirm(alice.client, link).status_code == 302
    assert address_of("alice") == NEW_ADDRESS


def test_confirming_needs_the_csrf_token(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()
    ask_for(site)

    response = site.client.post(confirmation_link(app, mailbox), data={})

    assert response.status_code == 400
    assert address_of("alice") == "alice@example.com"


# --- The same address for two accounts ----------------------------------------------------------


def two_pending_links(app: Flask, mailbox: Inbox, address: str) -> tuple[SiteSession, ...]:
    """Alice and Bob each ask for ``address``; their browsers, and the links in order."""
    make_user("bob")
    sites = []
    for name in ("alice", "bob"):
        site = SiteSession(app.test_client())
        assert site.login(name).status_code == 302
        assert ask_for(site, address).status_code == 302
        sites.append(site)
    return tuple(sites)


def test_an_address_taken_since_the_link_was_sent_is_refused_clearly(
    app: Flask, user: User, mailbox: Inbox
) -> None:
    alice, bob = two_pending_links(app, mailbox, "shared@example.org")
    alices_link, bobs_link = (
        link_in(message, app.config["PUBLIC_URL"], CONFIRM)
        for message in mails_to(mailbox, "shared@example.org")
    )

    assert confirm(alice.client, alices_link).status_code == 302
    refused = confirm(bob.client, bobs_link)

    assert_refused(refused, 409, "That address is taken now")
    assert address_of("alice") == "shared@example.org"
    assert address_of("bob") == "bob@example.com"
    assert is_logged_in(bob.client)


def test_the_unique_address_holds_when_the_check_misses_the_other_confirmation(
    app: Flask, user: User, mailbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The race's window, forced: the check saw the address free, the database refuses it."""
    alice, bob = two_pending_links(app, mailbox, "shared@example.org")
    alices_link, bobs_link = (
        link_in(message, app.config["PUBLIC_URL"], CONFIRM)
        for message in mails_to(mailbox, "shared@example.org")
    )
    assert confirm(alice.client, alices_link).status_code == 302
    monkeypatch.setattr(User, "email_taken", classmethod(lambda cls, email: False))

    assert_refused(confirm(bob.client, bobs_link), 409, "That address is taken now")
    assert address_of("bob") == "bob@example.com"


def test_two_accounts_confirming_one_address_at_once_end_with_one_owner(
    app: Flask, user: User, mailbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On MariaDB the two confirmations run at once; SQLite has one writer, so in turn.

    At once means both requests have found the address free before either
    writes it: each waits for the other after its check.
    """
    alice, bob = two_pending_links(app, mailbox, "shared@example.org")
    links = [
        link_in(message, app.config["PUBLIC_URL"], CONFIRM)
        for message in mails_to(mailbox, "shared@example.org")
    ]
    clients = [alice.client, bob.client]
    forms = [csrf_token_from(text(c.get(link))) for c, link in zip(clients, links, strict=True)]
    at_once = db.engine.dialect.name != "sqlite"
    barrier = threading.Barrier(2)
    checked = threading.Barrier(2)
    real_check = User.email_taken.__func__

    def check_then_wait(cls: type[User], email: str) -> bool:
        taken = real_check(cls, email)
        checked.wait(timeout=10)
        return taken

    if at_once:
        monkeypatch.setattr(User, "email_taken", classmethod(check_then_wait))
    statuses: list[int] = [0, 0]
    pages: list[str] = ["", ""]

    def press(index: int) -> None:
        if at_once:
            barrier.wait(timeout=10)
        response = clients[index].post(links[index], data={"csrf_token": forms[index]})
        statuses[index], pages[index] = response.status_code, text(response)

    if at_once:
        threads = [threading.Thread(target=press, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    else:
        press(0)
        press(1)

    assert sorted(statuses) == [302, 409], pages
    loser = statuses.index(409)
    assert "That address is taken now" in pages[loser]
    fresh()
    owners = db.session.scalars(select(User.username).where(User.email == "shared@example.org"))
    assert list(owners) == [["alice", "bob"][1 - loser]]
    assert address_of(["alice", "bob"][loser]) == f"{['alice', 'bob'][loser]}@example.com"


# --- The password change notice -----------------------------------------------------------------


def test_a_password_change_is_told_to_the_accounts_address(
    site: SiteSession, user: User, mailbox: Inbox
) -> None:
    site.login()

    change_password(site)

    [notice] = mails_to(mailbox, "alice@example.com")
    assert notice["Subject"] == "Your password was changed"
    assert "The password of your account" in mail_text(notice)
    assert len(mailbox.messages()) == 1


def test_a_password_change_notice_that_fails_is_logged_and_said_and_the_change_stands(
    app: Flask, site: SiteSession, user: User, app_warnings: io.StringIO
) -> None:
    site.login()
    refuse_mail(app)

    change_password(site)

    assert flashes(text(site.client.get("/account")))[-2:] == [
        "Your password was changed. Every other browser was logged out and your API tokens "
        "were revoked.",
        "We could not send the notice of this change to alice@example.com; the new password "
        "is in place all the same.",
    ]
    assert "mail 'Your password was changed' to alice@example.com not sent" in (
        app_warnings.getvalue()
    )
    assert (
        SiteSession(app.test_client()).login("alice", "a brand new passphrase").status_code == 302
    )


def test_without_mail_a_password_change_sends_no_notice(
    app: Flask, site: SiteSession, user: User, mailbox: Inbox
) -> None:
    app.config["MAIL_ENABLED"] = False
    site.login()

    change_password(site)

    assert mailbox.messages() == []
    assert flashes(text(site.client.get("/account")))[-1:] == [
        "Your password was changed. Every other browser was logged out and your API tokens "
        "were revoked."
    ]
