"""The mixed vhost: a static site at /, the Flask app mounted at /app."""

from __future__ import annotations

import json
import re

import pytest

from scripts.private_apache import PrivateApache
from tests.apache.conftest import Client, error_lines, write_file

pytestmark = pytest.mark.apache


def test_the_static_site_is_served_at_the_root(
    mixed_web: Client, mixed_apache: PrivateApache
) -> None:
    write_file(mixed_apache.root / "htdocs" / "index.html", "<h1>Company home</h1>")
    reply = mixed_web.request("/")
    assert reply.status == 200
    assert "Company home" in reply.text
    assert "X-Request-ID" not in reply.headers


def test_the_mount_point_without_a_slash_redirects_to_the_app(mixed_web: Client) -> None:
    reply = mixed_web.request("/app")
    assert reply.status == 301
    assert reply.headers["Location"].endswith("/app/")


def test_the_app_at_app_makes_every_link_under_app(mixed_web: Client) -> None:
    reply = mixed_web.request("/app/")
    assert reply.status == 200
    assert "Latest posts" in reply.text
    urls = re.findall(r'(?:href|src|action)="([^"]+)"', reply.text)
    assert urls
    local = [url for url in urls if not url.startswith(("http:", "https:", "#", "mailto:"))]
    assert local, urls
    assert all(url.startswith("/app/") for url in local), local


def test_the_apps_static_files_come_from_apache_under_app(mixed_web: Client) -> None:
    home = mixed_web.request("/app/").text
    stylesheet = re.search(r'href="(/app/static/css/style\.css\?v=[0-9a-f]+)"', home)
    assert stylesheet
    reply = mixed_web.request(stylesheet[1])
    assert reply.status == 200
    assert "X-Request-ID" not in reply.headers
    assert "max-age=31536000" in reply.headers["Cache-Control"]


def test_the_api_is_under_app_api(mixed_web: Client) -> None:
    reply = mixed_web.request("/app/api/health")
    assert reply.status == 200
    assert json.loads(reply.body)["status"] == "healthy"
    document = json.loads(mixed_web.request("/app/api/openapi.json").body)
    assert document["servers"] == [{"url": "/app"}]
    created = mixed_web.request(
        "/app/api/users",
        "POST",
        {"Content-Type": "application/json"},
        json.dumps(
            {"username": "mixed", "email": "mixed@example.com", "password": "x" * 16}
        ).encode(),
    )
    assert created.status == 201
    assert created.headers["Location"] == "/app/api/users/1"


def test_app_pages_outside_the_mount_are_not_the_apps(mixed_web: Client) -> None:
    assert mixed_web.request("/api/health").status == 404
    assert "X-Request-ID" not in mixed_web.request("/api/health").headers


def test_register_log_in_post_and_log_out_under_app_in_a_real_browser(
    mixed_apache: PrivateApache,
) -> None:
    from tests.test_browser import browser_page, register_write_and_log_out

    origin = f"https://localhost:{mixed_apache.https_port}"
    with browser_page(origin, ignore_https_errors=True) as page:
        register_write_and_log_out(page, mount="/app", username="mixed_browser")


def test_zz_the_error_logs_hold_no_errors(mixed_web: Client, mixed_apache: PrivateApache) -> None:
    """Runs last: nothing any test above did made Apache or the app log an error."""
    assert error_lines(mixed_apache) == []
