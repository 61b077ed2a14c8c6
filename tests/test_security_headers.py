"""Security headers and cache rules the app sends itself, under any WSGI server."""

from __future__ import annotations

import pytest
from flask import Flask, session
from flask.testing import FlaskClient
from flask.wrappers import Response
from flask_wtf.csrf import generate_csrf

from app import security_headers
from app.apache_config import VhostSettings, render_vhost
from app.extensions import db
from app.models import Post
from app.security_headers import COMMON_HEADERS, JSON_CSP, PAGE_CSP, PRIVATE_CACHE_CONTROL
from tests.helpers import SiteSession, make_user
from tests.observatory import Headers, Scan, csp_test, x_frame_options_test

REQUIRED_PAGE_DIRECTIVES = [
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
]


def test_the_page_policy_is_strict() -> None:
    directives = [part.strip() for part in PAGE_CSP.split(";")]
    assert directives[0] == "default-src 'none'"
    for directive in REQUIRED_PAGE_DIRECTIVES:
        assert directive in directives
    for unsafe in ("unsafe-inline", "unsafe-eval", "data:", "*", "http:", "https:"):
        assert unsafe not in PAGE_CSP
    assert JSON_CSP == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.parametrize(
    ("path", "status", "policy"),
    [
        ("/", 200, PAGE_CSP),
        ("/about", 200, PAGE_CSP),
        ("/auth/login", 200, PAGE_CSP),
        ("/no-such-page", 404, PAGE_CSP),
        ("/api/posts", 200, JSON_CSP),
        ("/api/openapi.json", 200, JSON_CSP),
        ("/api/no-such-thing", 404, JSON_CSP),
    ],
)
def test_every_response_carries_its_policy_and_the_common_headers(
    client: FlaskClient, path: str, status: int, policy: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.headers.getlist("Content-Security-Policy") == [policy]
    for name, value in COMMON_HEADERS.items():
        assert response.headers.getlist(name) == [value], name
    # HSTS belongs to the server that terminates TLS.
    assert "Strict-Transport-Security" not in response.headers


def test_error_responses_made_by_the_error_handlers_carry_the_headers_too(
    client: FlaskClient,
) -> None:
    response = client.delete("/about")
    assert response.status_code == 405
    assert response.headers["Content-Security-Policy"] == PAGE_CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_header_a_view_set_itself_is_kept_whatever_its_case(app: Flask) -> None:
    own_policy = "default-src 'none'; img-src 'self'"
    response = Response(
        "framed on purpose",
        headers={"content-security-policy": own_policy, "x-frame-options": "SAMEORIGIN"},
    )
    with app.test_request_context("/"):
        security_headers.add_security_headers(response)
    assert response.headers.getlist("Content-Security-Policy") == [own_policy]
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("Referrer-Policy") == [COMMON_HEADERS["Referrer-Policy"]]


@pytest.mark.parametrize("path", ["/", "/auth/login", "/api/posts"])
def test_the_app_alone_earns_the_csp_and_framing_bonuses(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    scan = Scan(url=f"https://localhost{path}", status=200, headers=Headers(response.headers))
    assert csp_test(scan).result == "csp-implemented-with-no-unsafe-default-src-none"
    assert x_frame_options_test(scan).result == "x-frame-options-implemented-via-csp"


def test_the_vhost_renders_the_same_headers_for_what_apache_serves() -> None:
    conf = render_vhost(VhostSettings(server_name="example.com", venv="/v", project="/p"))
    assert (
        f'Header always set Content-Security-Policy "{PAGE_CSP}" '
        "\"expr=-z resp('Content-Security-Policy')\"" in conf
    )
    for name, value in COMMON_HEADERS.items():
        assert f'Header always set {name} "{value}" "expr=-z resp(\'{name}\')"' in conf
    assert "frame-ancestors 'none'\"" in conf
    assert conf.count("Content-Security-Policy") == 2  # the value and the condition


# --- Cache-Control: nothing private in a shared cache -----------------------------


def is_private(response) -> bool:
    return response.headers.get("Cache-Control") == PRIVATE_CACHE_CONTROL and "Cookie" in (
        response.headers.get("Vary", "")
    )


@pytest.mark.parametrize("path", ["/auth/login", "/auth/register"])
def test_forms_with_a_csrf_token_are_private(client: FlaskClient, path: str) -> None:
    for _ in range(2):  # a first visit, and one with the session already holding the token
        response = client.get(path)
        assert 'name="csrf_token"' in response.get_data(as_text=True)
        assert is_private(response)


def test_a_csrf_token_or_a_logged_in_session_alone_makes_a_response_private(app: Flask) -> None:
    with app.test_request_context("/"):
        assert not security_headers.is_private(Response("public"))
        generate_csrf()
        assert security_headers.is_private(Response("has a token"))
    with app.test_request_context("/"):
        session["_user_id"] = "someone"
        assert security_headers.is_private(Response("someone's page"))
    with app.test_request_context("/"):
        assert security_headers.is_private(Response(headers={"Set-Cookie": "a=b"}))


@pytest.mark.parametrize("path", ["/", "/about", "/users/alice", "/posts/1", "/api/posts"])
def test_public_pages_for_anonymous_visitors_keep_their_caching(
    app: Flask, client: FlaskClient, path: str
) -> None:
    db.session.add(Post(title="Hello", body="World", author=make_user()))
    db.session.commit()
    response = client.get(path)
    assert response.status_code == 200
    # Any cache may keep them, revalidating each time (app/page_cache.py).
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["ETag"].startswith('W/"')
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("path", ["/", "/about", "/users/alice", "/posts/new", "/no-such-page"])
def test_every_page_of_a_logged_in_user_is_private(
    site: SiteSession, client: FlaskClient, path: str
) -> None:
    site.register("alice")
    response = client.get(path)
    assert response.status_code in (200, 404)
    assert is_private(response), dict(response.headers)


def test_logging_in_and_out_answers_privately(site: SiteSession) -> None:
    make_user("alice")
    logged_in = site.login("alice")
    assert logged_in.status_code == 302
    assert is_private(logged_in)
    logged_out = site.logout()
    assert logged_out.status_code == 302
    assert is_private(logged_out)
    # The page that shows "You have been logged out" writes the session: private.
    farewell = site.client.get("/")
    assert "logged out" in farewell.get_data(as_text=True)
    assert is_private(farewell)
    # Anonymous again: the home page is public once more.
    assert site.client.get("/").headers["Cache-Control"] == "no-cache"


def test_token_answers_keep_their_own_no_store(client: FlaskClient, token: str) -> None:
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.headers["Cache-Control"] == "no-store"
    assert me.headers["Content-Security-Policy"] == JSON_CSP
