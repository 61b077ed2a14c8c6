"""A real browser (Debian's Chromium, driven by Playwright) through the whole site."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from werkzeug.serving import make_server

from app import create_app, password_reset
from app.extensions import db
from tests.smtp_server import Inbox, SmtpServer

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium as root in a container, with nothing reaching out to the network.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require_browser() -> None:
    from tests.helpers import skip_or_fail

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        skip_or_fail(f"Chromium is not installed at {CHROMIUM} (run: sudo make test-deps)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        skip_or_fail("the playwright Python package is not installed")


@pytest.fixture
def live_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The app served over HTTP on a free loopback port, with its own SQLite file."""
    yield from serve_app(tmp_path, monkeypatch)


@pytest.fixture
def mailing_live_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpServer
) -> Iterator[str]:
    """``live_server``, sending its mail to the test SMTP server."""
    monkeypatch.setenv("MAIL_SERVER", "127.0.0.1")
    monkeypatch.setenv("MAIL_PORT", str(smtp_server.port))
    monkeypatch.setenv("MAIL_USE_TLS", "false")
    yield from serve_app(tmp_path, monkeypatch)


def serve_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("TEST_DATABASE_URL", f"sqlite:///{tmp_path / 'browser.db'}")
    app = create_app("testing")
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    # Links in mail lead where the browser can follow them.
    app.config["PUBLIC_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base_url
    server.shutdown()
    thread.join(timeout=10)
    assert password_reset.wait_for_outbox(10)
    with app.app_context():
        db.engine.dispose()


# Installed in every document before anything else runs; it reaches Python
# through a binding, which the page's Content Security Policy does not govern.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportCspViolation(
    `${location.pathname}: ${event.effectiveDirective} refused ${event.blockedURI || "inline"}`
  );
});
"""
FAILED_LOAD_CONSOLE_ERROR = "Failed to load resource: the server responded with a status of"


@contextmanager
def browser_page(
    base_url: str,
    not_found: tuple[str, ...] = (),
    refused: Mapping[str, int] | None = None,
    **context_options: object,
) -> Iterator:
    """A Chromium page whose relative URLs resolve against ``base_url``.

    Fails the test if the page logged a console error (a missing asset, a
    script error) or the browser reported a Content Security Policy violation.
    The 404 status of the pages in ``not_found`` (visited on purpose) is expected,
    and so is the status ``refused`` gives for each of its pages (read when the
    error is logged, so a test may add a page it learns of on the way).
    """
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url, **context_options)
        violations: list[str] = []
        context.expose_function("reportCspViolation", lambda text: violations.append(text))
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(15_000)
        errors: list[str] = []

        def on_console(message) -> None:
            if message.type != "error":
                return
            url = message.location.get("url", "")
            expected_statuses = {path: 404 for path in not_found} | dict(refused or {})
            expected = any(
                url.endswith(path)
                and message.text.startswith(f"{FAILED_LOAD_CONSOLE_ERROR} {status}")
                for path, status in expected_statuses.items()
            )
            if not expected:
                errors.append(message.text)

        page.on("console", on_console)
        yield page
        browser.close()
        assert violations == [], f"Content Security Policy violations: {violations}"
        assert errors == [], f"console errors: {errors}"


@pytest.fixture
def page(live_server: str):
    with browser_page(live_server) as page:
        yield page


def test_register_log_in_write_a_post_see_it_and_log_out(page) -> None:
    register_write_and_log_out(page, mount="")


def register(page, username: str, password: str, mount: str = "") -> None:
    """Create an account through the form (the browser is then logged in as it)."""
    page.goto(f"{mount}/auth/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    page.get_by_role("button", name="Create account").click()


def register_write_and_log_out(page, mount: str, username: str = "browser_user") -> None:
    """The whole journey of a new user, as a person clicks through it."""
    from playwright.sync_api import expect

    page.goto(f"{mount}/")
    expect(page.get_by_role("heading", name="Latest posts")).to_be_visible()
    # The stylesheet is ours and it loaded.
    assert page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"

    page.get_by_role("link", name="Register").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@Example.com")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Repeat password").fill("a long enough passphrase")
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".nav-user")).to_have_text(username)

    # Log out, then log in again with the email address.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have been logged out.")).to_be_visible()
    expect(page.locator(".nav-user")).to_have_count(0)
    page.get_by_role("link", name="Log in", exact=True).click()
    page.get_by_label("Username or email").fill(f"{username.upper()}@example.com")
    page.get_by_label("Password").fill("a long enough passphrase")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".nav-user")).to_have_text(username)

    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title").fill("Hello from <Chromium>")
    page.get_by_label("Text").fill("Written by a real browser.\nSecond line.")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Hello from <Chromium>")).to_be_visible()

    page.get_by_role("link", name="Home").click()
    expect(page.get_by_role("link", name="Hello from <Chromium>")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in", exact=True)).to_be_visible()
    # Logged out for real: writing a post asks to log in again.
    page.goto(f"{mount}/posts/new")
    next_url = quote(f"{mount}/posts/new", safe="")
    expect(page).to_have_url(f"{mount}/auth/login?next={next_url}", ignore_case=True)


def test_create_and_revoke_a_token_then_delete_the_account(page) -> None:
    """The account settings journey: a token shown once, then the account gone for good."""
    from playwright.sync_api import expect

    username, password = "leaving_user", "a long enough passphrase"
    register(page, username, password)
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title").fill("Soon gone")
    page.get_by_label("Text").fill("Deleted with the account.")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Soon gone")).to_be_visible()

    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Account settings")).to_be_visible()
    page.get_by_label("Label").fill("Browser token")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator(".token-secret code").inner_text()
    assert len(secret) > 30
    page.get_by_role("link", name="Back to account settings").click()
    expect(page.get_by_role("cell", name="Browser token", exact=True)).to_be_visible()
    expect(page.get_by_text(secret)).to_have_count(0)
    # Revoking asks first, on a page of its own.
    page.get_by_role("link", name="Revoke Browser token").click()
    expect(page.get_by_role("heading", name="Revoke this API token?")).to_be_visible()
    page.get_by_role("button", name="Revoke the token").click()
    expect(page.get_by_text("API token “Browser token” revoked.")).to_be_visible()

    expect(page.get_by_text("all your posts and API tokens")).to_be_visible()
    page.get_by_label("Your password").fill(password)
    page.get_by_label("Type your username to confirm").fill(username)
    page.get_by_role("button", name="Delete my account").click()

    expect(page.get_by_text(f"The account {username} and its posts were deleted.")).to_be_visible()
    expect(page.locator(".nav-user")).to_have_count(0)
    expect(page.get_by_role("link", name="Soon gone")).to_have_count(0)
    page.get_by_role("link", name="Log in", exact=True).click()
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Invalid username, email or password.")).to_be_visible()
    expect(page.locator(".nav-user")).to_have_count(0)


def test_deleting_a_post_asks_first_and_cancel_keeps_it(page) -> None:
    from playwright.sync_api import expect

    register(page, "careful_user", "a long enough passphrase")
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title").fill("Think twice")
    page.get_by_label("Text").fill("Asked about before it goes.")
    page.get_by_role("button", name="Publish").click()

    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete this post?")).to_be_visible()
    expect(page.get_by_text("This cannot be undone.")).to_be_visible()
    expect(page.get_by_text("Asked about before it goes.")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_role("heading", name="Think twice")).to_be_visible()

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete the post").click()
    expect(page.get_by_text("The post was deleted.")).to_be_visible()
    expect(page.get_by_role("link", name="Think twice")).to_have_count(0)


def test_forgot_password_request_the_mail_follow_the_link_and_land_logged_in(
    mailing_live_server: str, inbox: Inbox
) -> None:
    """The "Forgot password?" journey, with the link read from the mail the server received."""
    from playwright.sync_api import expect

    from tests.helpers import link_in, wait_for_mail

    username, old, new = "forgetful", "a long enough passphrase", "another long passphrase"
    with browser_page(mailing_live_server, refused={"/auth/reset-password": 410}) as page:
        register(page, username, old)
        page.get_by_role("button", name="Log out").click()

        page.get_by_role("link", name="Log in", exact=True).click()
        page.get_by_role("link", name="Forgot password?").click()
        page.get_by_label("Email").fill(f"{username.upper()}@example.com")
        page.get_by_role("button", name="Send me a link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        expect(page.get_by_text("If an account uses that address")).to_be_visible()

        [received] = wait_for_mail(inbox)
        assert received.rcpt_tos == [f"{username}@example.com"]
        link = link_in(received.message, mailing_live_server, "/auth/reset-password/")
        page.goto(link)
        # The token is gone from the address bar before the form shows.
        expect(page).to_have_url(f"{mailing_live_server}/auth/reset-password")
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        page.get_by_label("New password", exact=True).fill(new)
        page.get_by_label("Repeat new password").fill(new)
        page.get_by_role("button", name="Set password and log in").click()

        expect(page.get_by_text("Your password was changed and you are logged in.")).to_be_visible()
        expect(page.locator(".nav-user")).to_have_text(username)
        # The link worked once.
        page.goto(link)
        expect(page.get_by_role("heading", name="This link is no longer valid")).to_be_visible()


def test_change_the_email_address_through_the_mailed_link(live_server: str, tmp_path: Path) -> None:
    """The email change journey; its pages, and a refused link's, pass the policy too."""
    from playwright.sync_api import expect

    from tests.helpers import link_in

    username, password = "moving_user", "a long enough passphrase"
    refused: dict[str, int] = {}
    with browser_page(live_server, refused=refused) as page:
        register(page, username, password)
        page.goto("/account")
        section = page.locator("section", has=page.get_by_role("heading", name="Change email"))
        section.get_by_label("Current password").fill(password)
        section.get_by_label("New email address").fill("moved@example.org")
        section.get_by_role("button", name="Send the confirmation link").click()
        expect(page.get_by_text("We sent a link to moved@example.org.")).to_be_visible()

        [mail_file] = (tmp_path / "mail").glob("*.eml")
        message = message_from_bytes(mail_file.read_bytes(), policy=default)
        assert isinstance(message, EmailMessage)
        link = link_in(message, live_server, "/account/email/confirm/")
        page.goto(link)
        page.get_by_role("button", name="Confirm the new address").click()
        expect(page.get_by_text("Your email address is now moved@example.org.")).to_be_visible()
        expect(page.locator(".nav-user")).to_have_text(username)

        refused[link] = 410
        response = page.goto(link)
        assert response is not None
        assert response.status == 410
        expect(page.get_by_role("heading", name="This link no longer works")).to_be_visible()


def test_find_a_post_through_the_search_box_and_open_it(page) -> None:
    """A visitor types words into the header's box and opens the post they find."""
    from playwright.sync_api import expect

    register(page, "searcher", "a long enough passphrase")
    for title, body in (("Lantern repair", "Oil, wick and glass."), ("Candles", "Wax, a wick.")):
        page.goto("/posts/new")
        page.get_by_label("Title").fill(title)
        page.get_by_label("Text").fill(body)
        page.get_by_role("button", name="Publish").click()
        expect(page.get_by_role("heading", name=title)).to_be_visible()

    page.goto("/about")
    page.get_by_label("Search posts").fill("Wick glass")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Posts matching “Wick glass”")).to_be_visible()
    expect(page.get_by_label("Words to find")).to_have_value("Wick glass")
    results = page.locator(".post-summary-title")
    expect(results).to_have_text(["Lantern repair"])

    # The page's own form, sent with Enter: other words, best match first.
    page.get_by_label("Order").select_option("relevance")
    page.get_by_label("Words to find").fill("wick")
    page.get_by_label("Words to find").press("Enter")
    expect(page.get_by_role("heading", name="Posts matching “wick”")).to_be_visible()
    expect(results).to_have_count(2)
    assert "order=relevance" in page.url

    page.get_by_role("link", name="Lantern repair").click()
    expect(page.get_by_role("heading", name="Lantern repair")).to_be_visible()


JOURNEY_MARKDOWN = (
    "Notes from the **lighthouse** keepers:\n\n"
    "- polish the lens\n"
    "- wind the clockwork\n\n"
    "More at [the keepers' guild](https://example.org/guild)."
)


def test_write_in_markdown_preview_publish_find_follow_and_delete(page) -> None:
    """The whole life of a post: written in Markdown, previewed, published, found
    through search, read in the site's feed, then deleted after confirming."""
    import feedparser
    from playwright.sync_api import expect

    register(page, "keeper", "a long enough passphrase")
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title").fill("Lighthouse log")
    page.get_by_label("Text").fill(JOURNEY_MARKDOWN)
    page.get_by_role("button", name="Preview").click()
    preview = page.locator(".post-preview")
    expect(preview.locator("li")).to_have_text(["polish the lens", "wind the clockwork"])
    expect(page.get_by_label("Text")).to_have_value(JOURNEY_MARKDOWN)

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Lighthouse log")).to_be_visible()
    body = page.locator(".post-body")
    expect(body.locator("strong")).to_have_text("lighthouse")
    expect(body.locator("li")).to_have_count(2)
    link = body.get_by_role("link", name="the keepers' guild")
    expect(link).to_have_attribute("href", "https://example.org/guild")
    expect(link).to_have_attribute("rel", "nofollow ugc noopener")
    post_path = urlsplit(page.url).path

    page.get_by_label("Search posts").fill("clockwork lens")
    page.get_by_role("button", name="Search").click()
    expect(page.locator(".post-summary-title")).to_have_text(["Lighthouse log"])

    feed_link = page.locator('link[rel="alternate"][type="application/atom+xml"]').first
    feed = feedparser.parse(page.request.get(feed_link.get_attribute("href") or "").body())
    assert not feed.bozo, feed.get("bozo_exception")
    assert [entry.title for entry in feed.entries] == ["Lighthouse log"]
    assert feed.entries[0].link.endswith(post_path)
    assert "<li>polish the lens</li>" in feed.entries[0].content[0].value

    page.goto(post_path)
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading", name="Delete this post?")).to_be_visible()
    page.get_by_role("button", name="Delete the post").click()
    expect(page.get_by_text("The post was deleted.")).to_be_visible()
    page.goto("/search?q=clockwork")
    expect(page.locator(".post-summary-title")).to_have_count(0)
    feed = feedparser.parse(page.request.get("/feed.atom").body())
    assert feed.entries == []


def test_the_api_docs_show_every_operation_and_try_one_out(page) -> None:
    """Swagger UI, from the repository, runs under the page's policy and calls the API."""
    from playwright.sync_api import expect

    page.goto("/")
    page.get_by_role("link", name="API docs").click()
    expect(page.get_by_role("heading", name="API documentation")).to_be_visible()
    document = page.request.get("/api/openapi.json").json()
    methods = {"get", "post", "put", "patch", "delete"}
    count = sum(len(methods & set(item)) for item in document["paths"].values())
    operations = page.locator(".opblock")
    expect(operations).to_have_count(count)

    listing = page.locator("#operations-posts-listPosts")
    listing.locator(".opblock-summary-control").click()
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()
    status = listing.locator(".live-responses-table .response .response-col_status")
    expect(status).to_have_text("200")
    expect(listing.locator(".live-responses-table")).to_contain_text('"items"')


PREVIEWED_MARKDOWN = (
    "# Section\n\n"
    "Some **bold** text, a [link](https://example.org) and "
    "![a picture](https://example.org/picture.png).\n\n"
    "```\n" + "long_line_of_code() " * 12 + "\n```\n\n"
    "| left | right |\n|:--|--:|\n| " + "wide " * 20 + "| 2 |\n"
)


def test_preview_shows_the_rendered_post_without_saving_it(page) -> None:
    """Preview is a second submit button: no script, nothing saved, the form kept as typed."""
    from playwright.sync_api import expect

    register(page, "previewer", "a long enough passphrase")
    page.get_by_role("link", name="New post").click()
    page.get_by_label("Title").fill("Previewed")
    page.get_by_label("Text").fill(PREVIEWED_MARKDOWN)
    page.get_by_role("button", name="Preview").click()

    preview = page.locator(".post-preview")
    expect(preview.get_by_role("heading", name="Section", level=2)).to_be_visible()
    expect(preview.locator("strong")).to_have_text("bold")
    expect(preview.get_by_role("link", name="link", exact=True)).to_have_attribute(
        "rel", "nofollow ugc noopener"
    )
    expect(preview.locator("a.image-link")).to_have_text("a picture")
    expect(page.get_by_label("Title")).to_have_value("Previewed")
    expect(page.get_by_label("Text")).to_have_value(PREVIEWED_MARKDOWN)
    # Nothing saved, as another tab shows.
    profile = page.context.new_page()
    profile.goto("/users/previewer")
    expect(profile.get_by_text("No posts yet.")).to_be_visible()
    profile.close()

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Previewed", level=1)).to_be_visible()
    expect(
        page.locator(".post-body").get_by_role("heading", name="Section", level=2)
    ).to_be_visible()
    # Shown as a link: the page loads no image from another site.
    assert page.locator("img").count() == 0
    # Long code lines and wide tables scroll inside themselves, not the page.
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_set_a_display_name_and_a_bio_and_see_them_on_the_profile(page) -> None:
    """The profile journey: the settings form, then the profile as anyone sees it."""
    from playwright.sync_api import expect

    register(page, "profiled", "a long enough passphrase")
    page.goto("/users/profiled")
    expect(page.get_by_role("heading", name="profiled", level=1)).to_be_visible()

    page.get_by_role("link", name="Account").click()
    section = page.locator("section", has=page.get_by_role("heading", name="Profile"))
    section.get_by_label("Display name").fill("Ada Lovelace")
    section.get_by_label("Bio").fill(
        "Counts *engines*.\n\n- [notes](https://example.org)\n\n<script>alert(1)</script>"
    )
    section.get_by_role("button", name="Save profile").click()
    expect(page.get_by_text("Your profile is saved.")).to_be_visible()
    expect(section.get_by_label("Display name")).to_have_value("Ada Lovelace")

    section.get_by_role("link", name="your profile").click()
    expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
    bio = page.locator(".profile-bio")
    expect(bio.locator("em")).to_have_text("engines")
    expect(bio.get_by_role("link", name="notes")).to_have_attribute("rel", "nofollow ugc noopener")
    expect(bio.get_by_text("<script>alert(1)</script>")).to_be_visible()
    assert page.locator("script").count() == 0
    # As a visitor who is not logged in sees it: the second visit comes from the page cache.
    profile = page.url
    page.get_by_role("button", name="Log out").click()
    for _ in range(2):
        page.goto(profile)
        expect(page.get_by_role("heading", name="Ada Lovelace", level=1)).to_be_visible()
        expect(page.locator(".profile-bio em")).to_have_text("engines")
    page.set_viewport_size({"width": 360, "height": 740})
    assert page.evaluate("document.documentElement.scrollWidth") <= 360


def test_the_site_is_usable_on_a_phone_sized_screen(page) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto("/")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360, "the page scrolls sideways on a small screen"


MISSING_PAGE = "/no-such-page"


def visit_every_page(page, mount: str, username: str = "every_page") -> list[str]:
    """Open each kind of page, anonymous and logged in; return the paths visited.

    Run inside ``browser_page(..., not_found=(MISSING_PAGE,))``, which fails on
    any Content Security Policy violation or console error.
    """
    from playwright.sync_api import expect

    visited: list[str] = []

    def visit(path: str, status: int = 200) -> None:
        response = page.goto(f"{mount}{path}")
        assert response is not None, path
        assert response.status == status, path
        # Our stylesheet applied: the policy let it load.
        assert page.evaluate("getComputedStyle(document.body).fontFamily") != "Times New Roman"
        visited.append(path)

    for path in ("/", "/about", "/search", "/auth/login"):
        visit(path)
    # Offered only where the site sends mail (not under the Apache tests' configuration).
    if page.get_by_role("link", name="Forgot password?").count():
        visit("/auth/forgot-password")
    visit("/api/docs")
    # Swagger UI has read the document and drawn the operations before the next page.
    expect(page.locator(".opblock").first).to_be_visible()
    visit("/auth/register")
    visit(MISSING_PAGE, 404)

    register(page, username, "a long enough passphrase", mount=mount)
    expect(page.locator(".nav-user")).to_have_text(username)

    visit("/posts/new")
    page.get_by_label("Title").fill("Every page")
    page.get_by_label("Text").fill("Visited by a real browser.")
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("heading", name="Every page")).to_be_visible()
    post_path = urlsplit(page.url).path.removeprefix(mount)
    for path in (
        post_path,
        f"{post_path}/edit",
        f"{post_path}/delete",
        f"/users/{username}",
        "/account",
        "/account/sessions",
        "/",
        "/about",
    ):
        visit(path)
    visit("/search?q=every+page")
    expect(page.get_by_role("link", name="Every page")).to_be_visible()
    visit(MISSING_PAGE, 404)
    return visited


def test_no_page_breaks_the_content_security_policy(live_server: str) -> None:
    with browser_page(live_server, not_found=(MISSING_PAGE,)) as page:
        visited = visit_every_page(page, mount="")
    assert len(visited) == 19


def test_a_policy_violation_would_be_caught(live_server: str) -> None:
    """The detector works: an inline style the policy refuses fails the check."""

    def inject_an_inline_style() -> None:
        with browser_page(live_server) as page:
            page.goto("/about")
            page.evaluate(
                "document.head.appendChild(document.createElement('style')).textContent ="
                " 'body { color: red }'"
            )
            page.wait_for_timeout(200)

    with pytest.raises(AssertionError, match="style-src-elem refused inline"):
        inject_an_inline_style()
