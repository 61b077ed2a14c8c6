"""Error responses: friendly HTML pages on the site, JSON under /api, never a traceback."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator

import pytest
from flask import Flask, abort
from flask.testing import FlaskClient
from werkzeug.debug import DebuggedApplication

from app import create_app
from app.errors import CSRF_MESSAGE, MESSAGES
from app.extensions import db
from app.models import Post, User
from tests.helpers import PASSWORD, SiteSession, make_user, text

SECRET_DETAIL = "database password is hunter2"


def assert_error_page(response, code: int, message: str) -> None:
    """A page in the site's layout that shows ``code`` and ``message``, and nothing internal."""
    assert response.status_code == code
    assert response.mimetype == "text/html"
    page = text(response)
    assert '<a class="site-name" href="/">Flask Site</a>' in page
    assert "· Flask Site</title>" in page
    assert f'<span class="error-code">{code}</span>' in page
    assert f'<p class="error-message">{html.escape(message)}</p>' in page
    assert 'href="/">Back to the home page</a>' in page
    assert "Traceback" not in page
    assert 'File "' not in page


@pytest.fixture
def bare_app() -> Flask:
    """A fresh app with routes that fail on purpose (no database needed)."""
    app = create_app("testing")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(SECRET_DETAIL)

    @app.get("/api/boom")
    def api_boom() -> str:
        raise RuntimeError(SECRET_DETAIL)

    @app.get("/abort/<int:code>")
    def abort_with(code: int) -> str:
        abort(code)

    return app


@pytest.fixture
def app_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the "app" logger, which does not propagate to the root logger."""
    logger = logging.getLogger("app")
    logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


# --- each status, caused the way a visitor would cause it -----------------------------------


def test_400_page_for_a_form_posted_without_its_csrf_token(client: FlaskClient) -> None:
    response = client.post("/auth/login", data={"login": "alice", "password": PASSWORD})

    assert_error_page(response, 400, CSRF_MESSAGE)


def test_403_page_for_editing_someone_elses_post(site: SiteSession, user: User) -> None:
    make_user("bob")
    post = Post(title="Alice's", body="Text", author=user)
    db.session.add(post)
    db.session.commit()
    assert site.login("bob").status_code == 302

    response = site.client.get(f"/posts/{post.id}/edit")

    assert_error_page(response, 403, "Only the author of a post may change it.")


def test_404_page_for_an_unknown_address(client: FlaskClient) -> None:
    response = client.get("/no/such/page")

    assert_error_page(response, 404, MESSAGES[404])


def test_404_page_for_an_unknown_user_explains_what_is_missing(
    client: FlaskClient, user: User
) -> None:
    response = client.get("/users/nobody")

    assert_error_page(response, 404, "There is no user with that name.")


def test_405_page_for_a_get_of_a_post_only_address(client: FlaskClient) -> None:
    response = client.get("/auth/logout")

    assert_error_page(response, 405, MESSAGES[405])
    assert "POST" in response.headers["Allow"]


def test_413_page_for_a_form_larger_than_max_content_length(
    app: Flask, client: FlaskClient
) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == 1024 * 1024

    response = client.post("/auth/login", data={"login": "x" * (1024 * 1024), "password": "x"})

    assert_error_page(response, 413, MESSAGES[413])


def test_a_form_just_under_max_content_length_is_read(client: FlaskClient) -> None:
    # Not refused for size: it is read, and then fails its CSRF check.
    response = client.post("/auth/login", data={"login": "x" * (1024 * 1024 - 1000)})

    assert_error_page(response, 400, CSRF_MESSAGE)


def test_429_page_for_too_many_login_attempts(site: SiteSession, user: User) -> None:
    token = site.csrf_token("/auth/login")
    attempt = {"login": "alice", "password": "wrong password!", "csrf_token": token}
    for _ in range(5):
        site.client.post("/auth/login", data=attempt)

    response = site.client.post("/auth/login", data=attempt)

    assert_error_page(
        response, 429, "Too many requests: the limit here is 5 per 1 minute. Please wait."
    )
    assert int(response.headers["Retry-After"]) > 0


def test_500_page_hides_the_error_and_logs_it(
    bare_app: Flask, app_log: pytest.LogCaptureFixture
) -> None:
    response = bare_app.test_client().get("/boom")

    assert_error_page(response, 500, MESSAGES[500])
    assert SECRET_DETAIL not in text(response)
    assert "RuntimeError" not in text(response)
    [record] = [r for r in app_log.records if r.levelno >= logging.ERROR]
    assert record.name == "app"
    assert record.getMessage() == "unhandled error on GET /boom"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert str(record.exc_info[1]) == SECRET_DETAIL


@pytest.mark.parametrize("code", sorted(MESSAGES))
def test_werkzeug_default_descriptions_are_replaced_by_friendly_messages(
    bare_app: Flask, code: int
) -> None:
    response = bare_app.test_client().get(f"/abort/{code}")

    assert_error_page(response, code, MESSAGES[code])


# --- the API answers in JSON instead -------------------------------------------------------


def test_api_404_is_json_not_a_page(client: FlaskClient) -> None:
    response = client.get("/api/no-such-thing")

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert response.get_json()["status"] == 404


def test_api_500_is_json_without_the_error(
    bare_app: Flask, app_log: pytest.LogCaptureFixture
) -> None:
    response = bare_app.test_client().get("/api/boom")

    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "status": 500,
        "error": "Internal Server Error",
        "message": MESSAGES[500],
    }
    assert SECRET_DETAIL not in text(response)
    assert any(r.getMessage() == "unhandled error on GET /api/boom" for r in app_log.records)


def get_logged_in_without_a_users_table(app: Flask, path: str):
    """GET ``path`` as a logged-in visitor after the users table has gone (then rebuilt)."""
    from sqlalchemy import text as sql

    session = SiteSession(app.test_client())
    session.login()
    with db.engine.begin() as connection:
        connection.execute(sql("PRAGMA foreign_keys=OFF"))
        connection.execute(sql("DROP TABLE users"))
    try:
        return session.client.get(path)
    finally:
        db.create_all()


def test_a_logged_in_visitor_gets_the_503_page_when_the_schema_is_behind(
    app: Flask, user: User, app_log: pytest.LogCaptureFixture
) -> None:
    """The layout asks who is logged in; the page renders as for a visitor instead."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = get_logged_in_without_a_users_table(app, "/")
    assert_error_page(response, 503, MESSAGES[503])
    assert response.headers["Retry-After"] == "2"
    assert "users" not in text(response)
    assert 'class="nav-user"' not in text(response)
    warnings = [r for r in app_log.records if r.levelname == "WARNING"]
    assert [r.exc_info for r in warnings] == [None]
    assert "no such table: users" in warnings[0].getMessage()
    assert "flask db upgrade" in warnings[0].getMessage()


def test_a_404_page_still_renders_for_a_logged_in_visitor_when_the_database_fails(
    app: Flask, user: User, app_log: pytest.LogCaptureFixture
) -> None:
    response = get_logged_in_without_a_users_table(app, "/no/such/page")
    assert_error_page(response, 404, MESSAGES[404])
    assert 'class="nav-user"' not in text(response)
    warnings = [r for r in app_log.records if r.levelno >= logging.WARNING]
    assert [(r.levelname, r.exc_info) for r in warnings] == [("WARNING", None)]
    assert "on the 404 page" in warnings[0].getMessage()


def _failing_app(debug: bool) -> Flask:
    app = create_app("testing")
    app.config["TESTING"] = False  # as served: exceptions propagate only in debug mode
    app.debug = debug

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError(SECRET_DETAIL)

    return app


def test_debug_mode_hands_the_error_to_werkzeugs_debugger() -> None:
    """flask run --debug: the developer sees the traceback in the browser."""
    app = _failing_app(debug=True)
    # What `flask run --debug` wraps the app in.
    app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=False)  # type: ignore[method-assign]

    response = app.test_client().get("/boom")

    assert response.status_code == 500
    page = text(response)
    assert "Werkzeug Debugger" in page
    assert SECRET_DETAIL in page


def test_without_debug_the_debugger_never_shows() -> None:
    app = _failing_app(debug=False)
    app.wsgi_app = DebuggedApplication(app.wsgi_app, evalex=False)  # type: ignore[method-assign]

    response = app.test_client().get("/boom")

    assert_error_page(response, 500, MESSAGES[500])
    assert "Werkzeug Debugger" not in text(response)
    assert SECRET_DETAIL not in text(response)
