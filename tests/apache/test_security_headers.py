"""Security headers as a browser gets them, graded as the Observatory does."""

from __future__ import annotations

import http.client
import re
import ssl
import uuid
from urllib.parse import urljoin, urlsplit

import pytest

from app.security_headers import COMMON_HEADERS, JSON_CSP, PAGE_CSP, PRIVATE_CACHE_CONTROL
from scripts.private_apache import PrivateApache
from tests.apache.conftest import Client
from tests.observatory import CORS_TEST_ORIGIN, Headers, Scan, grade

pytestmark = pytest.mark.apache

REDIRECTS = {301, 302, 303, 307, 308}


def _get(url: str, tls: ssl.SSLContext, headers: dict[str, str] | None = None):
    parts = urlsplit(url)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, context=tls, timeout=30
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        connection.close()


def observatory_scan(apache: PrivateApache, path: str) -> Scan:
    """Fetch ``path`` as the Observatory does: from plain HTTP, following redirects."""
    tls = ssl.create_default_context(cafile=str(apache.cert))
    url = f"http://localhost:{apache.http_port}{path}"
    route, cookies = [url], []
    for _ in range(10):
        status, headers, body = _get(url, tls)
        cookies += [value for name, value in headers if name.lower() == "set-cookie"]
        location = next((v for n, v in headers if n.lower() == "location"), None)
        if status not in REDIRECTS or location is None:
            break
        url = urljoin(url, location)
        route.append(url)
    _, cors_headers, _ = _get(url, tls, {"Origin": CORS_TEST_ORIGIN})
    return Scan(
        url=url,
        status=status,
        headers=Headers(headers),
        body=body.decode(errors="replace"),
        route=route,
        cookies=cookies,
        cors_headers=Headers(cors_headers),
    )


def static_stylesheet(web: Client) -> str:
    found = re.search(r'href="(/static/css/style\.css\?v=[0-9a-f]+)"', web.request("/").text)
    assert found, "no versioned stylesheet link on the home page"
    return found[1]


@pytest.mark.parametrize("path", ["/", "/auth/login", "/api/posts", "static"])
def test_the_observatory_grades_every_kind_of_response_a_plus(
    apache: PrivateApache, web: Client, path: str
) -> None:
    if path == "static":
        path = static_stylesheet(web)
    scan = observatory_scan(apache, path)
    assert scan.status == 200
    assert scan.route[0].startswith("http://")
    assert scan.url.startswith("https://")
    report = grade(scan)
    print(f"{path}: {report.explain()}")
    assert report.failed == [], report.explain()
    assert report.score >= 100, report.explain()
    assert report.grade == "A+", report.explain()


def test_the_log_in_form_earns_the_cookie_bonus(apache: PrivateApache) -> None:
    report = grade(observatory_scan(apache, "/auth/login"))
    results = {result.test: result.result for result in report.results}
    assert results["cookies"] == "cookies-secure-with-httponly-sessions-and-samesite"
    assert results["redirection"] == "redirection-to-https"
    assert results["strict-transport-security"] == "hsts-implemented-max-age-at-least-six-months"


@pytest.mark.parametrize(
    ("path", "status", "policy"),
    [
        ("/", 200, PAGE_CSP),
        ("/api/posts", 200, JSON_CSP),
        ("/no-such-page", 404, PAGE_CSP),
        ("/api/no-such-thing", 404, JSON_CSP),
        ("/static/favicon.svg", 200, PAGE_CSP),
        ("/static/no-such-file.css", 404, PAGE_CSP),  # Apache's own error page
    ],
)
def test_each_header_is_sent_once_with_the_policy_for_its_kind(
    web: Client, path: str, status: int, policy: str
) -> None:
    reply = web.request(path)
    assert reply.status == status
    assert reply.headers.get_all("Content-Security-Policy") == [policy]
    for name, value in COMMON_HEADERS.items():
        assert reply.headers.get_all(name) == [value], name
    assert len(reply.headers.get_all("Strict-Transport-Security")) == 1


def test_private_pages_stay_private_through_apache(web: Client) -> None:
    form = web.request("/auth/register")
    assert form.headers["Cache-Control"] == PRIVATE_CACHE_CONTROL
    assert "Cookie" in form.headers["Vary"]
    home = web.request("/")
    assert "no-store" not in (home.headers["Cache-Control"] or "")


@pytest.mark.parametrize("instance", ["apache", "mixed_apache"])
def test_no_page_breaks_the_policy_in_a_real_browser_over_https(
    request: pytest.FixtureRequest, instance: str
) -> None:
    from tests.test_browser import MISSING_PAGE, browser_page, visit_every_page

    apache: PrivateApache = request.getfixturevalue(instance)
    with browser_page(apache.base_url, not_found=(MISSING_PAGE,), ignore_https_errors=True) as page:
        visit_every_page(page, mount=apache.mount, username=f"e{uuid.uuid4().hex[:8]}")
