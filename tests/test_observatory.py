"""The Observatory grader itself: good headers score A+, each known fault costs what it should."""

from __future__ import annotations

import pytest

from tests.observatory import Headers, Scan, grade

STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
GOOD_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": STRICT_CSP,
    "Strict-Transport-Security": "max-age=63072000",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "DENY",
}
ROUTE = ["http://example.com/", "https://example.com/"]


def scan(
    headers: dict[str, str] | None = None,
    body: str = "<!doctype html><title>t</title>",
    **options: object,
) -> Scan:
    """A scan of https://example.com/ reached by one redirect from http://, as graded."""
    items = (GOOD_HEADERS if headers is None else headers).items()
    fields: dict[str, object] = {"url": "https://example.com/", "route": ROUTE, **options}
    return Scan(status=200, headers=Headers(items), body=body, **fields)  # type: ignore[arg-type]


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in GOOD_HEADERS.items() if key != name}


def replaced(name: str, value: str) -> dict[str, str]:
    return {**GOOD_HEADERS, name: value}


def result_of(report, test: str) -> str:
    return next(r.result for r in report.results if r.test == test)


def test_the_headers_we_send_score_a_plus_with_every_test_passed() -> None:
    report = grade(scan())
    assert report.failed == [], report.explain()
    # 100 + CSP default-src 'none' (10) + Referrer-Policy (5) + frame-ancestors (5).
    assert (report.score, report.grade) == (120, "A+"), report.explain()


def test_secure_cookies_with_samesite_earn_a_bonus() -> None:
    cookies = ["session=abc; Secure; HttpOnly; Path=/; SameSite=Lax"]
    report = grade(scan(cookies=cookies))
    assert result_of(report, "cookies") == "cookies-secure-with-httponly-sessions-and-samesite"
    assert report.score == 125


@pytest.mark.parametrize(
    ("headers", "test", "result", "score", "letter"),
    [
        # 'unsafe-inline' in script-src: -20, and the bonuses are gone (80 < 90).
        (
            replaced("Content-Security-Policy", "default-src 'self' 'unsafe-inline'"),
            "content-security-policy",
            "csp-implemented-with-unsafe-inline",
            80,
            "B+",
        ),
        (
            replaced(
                "Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-eval'"
            ),
            "content-security-policy",
            "csp-implemented-with-unsafe-eval",
            # No frame-ancestors here, so X-Frame-Options counts (0): 90 + 5.
            95,
            "A",
        ),
        (
            replaced(
                "Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'"
            ),
            "content-security-policy",
            "csp-implemented-with-unsafe-inline-in-style-src-only",
            105,
            "A+",
        ),
        (
            replaced("Content-Security-Policy", "default-src https:"),
            "content-security-policy",
            "csp-implemented-with-unsafe-inline",
            80,
            "B+",
        ),
        (
            replaced("Content-Security-Policy", "default-src 'self'; img-src http://cdn.example"),
            "content-security-policy",
            "csp-implemented-with-insecure-scheme-in-passive-content-only",
            95,
            "A",
        ),
        # Without CSP, X-Frame-Options decides framing (0) and CSP costs 25: 75.
        (
            without("Content-Security-Policy"),
            "content-security-policy",
            "csp-not-implemented",
            75,
            "B",
        ),
        (
            replaced("Content-Security-Policy", "script-src 'self'; script-src 'none'"),
            "content-security-policy",
            "csp-header-invalid",
            75,
            "B",
        ),
        (
            without("X-Content-Type-Options"),
            "x-content-type-options",
            "x-content-type-options-not-implemented",
            95 + 10 + 5 + 5,
            "A+",
        ),
        (
            replaced("X-Content-Type-Options", "nosniff, nosniff"),
            "x-content-type-options",
            "x-content-type-options-header-invalid",
            115,
            "A+",
        ),
        (
            without("Strict-Transport-Security"),
            "strict-transport-security",
            "hsts-not-implemented",
            80,
            "B+",
        ),
        (
            replaced("Strict-Transport-Security", "max-age=86400"),
            "strict-transport-security",
            "hsts-implemented-max-age-less-than-six-months",
            110,
            "A+",
        ),
        (
            replaced("Referrer-Policy", "unsafe-url"),
            "referrer-policy",
            "referrer-policy-unsafe",
            110,
            "A+",
        ),
    ],
)
def test_each_fault_lowers_the_score_by_its_modifier(
    headers: dict[str, str], test: str, result: str, score: int, letter: str
) -> None:
    report = grade(scan(headers))
    assert result_of(report, test) == result, report.explain()
    assert (report.score, report.grade) == (score, letter), report.explain()
    assert report.score < grade(scan()).score


def test_x_frame_options_alone_is_enough_without_frame_ancestors() -> None:
    headers = replaced("Content-Security-Policy", "default-src 'self'")
    assert (
        result_of(grade(scan(headers)), "x-frame-options") == "x-frame-options-sameorigin-or-deny"
    )
    headers.pop("X-Frame-Options")
    report = grade(scan(headers))
    assert result_of(report, "x-frame-options") == "x-frame-options-not-implemented"
    # 80 without bonuses is below an A, so the CSP and Referrer-Policy bonuses do not count.
    assert (report.score, report.grade) == (80, "B+")


@pytest.mark.parametrize(
    ("cookie", "result"),
    [
        (
            "session=abc; HttpOnly; Path=/; SameSite=Lax",
            "cookies-session-without-secure-flag-but-protected-by-hsts",
        ),
        ("session=abc; Secure; Path=/; SameSite=Lax", "cookies-session-without-httponly-flag"),
        ("session=abc; Secure; HttpOnly; SameSite=Sometimes", "cookies-samesite-flag-invalid"),
        ("csrf_token=abc; Secure", "cookies-anticsrf-without-samesite-flag"),
        ("theme=dark; SameSite=Lax", "cookies-without-secure-flag-but-protected-by-hsts"),
    ],
)
def test_unsafe_cookies_fail(cookie: str, result: str) -> None:
    report = grade(scan(cookies=[cookie]))
    assert result_of(report, "cookies") == result
    assert any(r.test == "cookies" for r in report.failed)


def test_a_session_cookie_without_secure_and_without_hsts_costs_forty() -> None:
    report = grade(scan(without("Strict-Transport-Security"), cookies=["session=abc; HttpOnly"]))
    assert result_of(report, "cookies") == "cookies-session-without-secure-flag"
    assert report.score == 100 - 40 - 20


@pytest.mark.parametrize(
    ("route", "result"),
    [
        (["http://example.com/"], "redirection-missing"),
        (
            ["http://example.com/", "http://www.example.com/", "https://www.example.com/"],
            "redirection-not-to-https-on-initial-redirection",
        ),
        (["http://example.com/", "https://www.example.com/"], "redirection-off-host-from-http"),
    ],
)
def test_redirects_that_do_not_go_straight_to_https_on_the_same_host_fail(
    route: list[str], result: str
) -> None:
    report = grade(scan(route=route))
    assert result_of(report, "redirection") == result
    assert report.failed


def test_credentialed_cors_for_any_origin_costs_fifty() -> None:
    cors = Headers(
        [
            ("Access-Control-Allow-Origin", "https://http-observatory.security.mozilla.org"),
            ("Access-Control-Allow-Credentials", "true"),
        ]
    )
    report = grade(scan(cors_headers=cors))
    assert result_of(report, "cross-origin-resource-sharing").endswith("universal-access")
    assert report.score == 50


def test_external_scripts_without_integrity_fail_and_same_origin_scripts_pass() -> None:
    external = '<script src="https://cdn.example.net/x.js"></script>'
    report = grade(scan(body=external))
    assert result_of(report, "subresource-integrity") == (
        "sri-not-implemented-but-external-scripts-loaded-securely"
    )
    own = '<script src="/static/app.js"></script>'
    assert grade(scan(body=own)).failed == []


def test_json_and_static_files_need_no_subresource_integrity() -> None:
    headers = replaced("Content-Type", "application/json")
    report = grade(scan(headers, body='{"a": "<script src=//x></script>"}'))
    assert result_of(report, "subresource-integrity") == "sri-not-implemented-response-not-html"
