"""The Mozilla HTTP Observatory's published scoring rules, as code.

The Observatory scans a site's home page over the internet; a private test
server is out of its reach. This grader applies the same rules (the ten tests
of the MDN HTTP Observatory and their score modifiers, as its scoring
documentation lists them) to responses the test suite fetched itself, so any
URL can be graded: a page, a form, the API, a static file.

A scan starts at ``http://host/path`` and follows redirects to the final
response, as the Observatory does. Left out: the HSTS preload list (nothing
here is preloaded) and policies in ``<meta http-equiv>`` tags (we send none).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

# Score modifier of every result, by the Observatory's result names.
MODIFIERS: dict[str, int] = {
    # Content Security Policy
    "csp-implemented-with-no-unsafe-default-src-none": 10,
    "csp-implemented-with-no-unsafe": 5,
    "csp-implemented-with-unsafe-inline-in-style-src-only": 0,
    "csp-implemented-with-insecure-scheme-in-passive-content-only": -10,
    "csp-implemented-with-unsafe-eval": -10,
    "csp-implemented-with-unsafe-inline": -20,
    "csp-implemented-with-insecure-scheme": -20,
    "csp-implemented-but-duplicate-directives": 0,
    "csp-header-invalid": -25,
    "csp-not-implemented": -25,
    "csp-not-implemented-but-reporting-enabled": -25,
    # Cookies
    "cookies-secure-with-httponly-sessions-and-samesite": 5,
    "cookies-secure-with-httponly-sessions": 0,
    "cookies-not-found": 0,
    "cookies-without-secure-flag-but-protected-by-hsts": -5,
    "cookies-session-without-secure-flag-but-protected-by-hsts": -10,
    "cookies-without-secure-flag": -20,
    "cookies-samesite-flag-invalid": -20,
    "cookies-anticsrf-without-samesite-flag": -20,
    "cookies-session-without-httponly-flag": -30,
    "cookies-session-without-secure-flag": -40,
    # Cross-origin resource sharing
    "cross-origin-resource-sharing-not-implemented": 0,
    "cross-origin-resource-sharing-implemented-with-public-access": 0,
    "cross-origin-resource-sharing-implemented-with-restricted-access": 0,
    "cross-origin-resource-sharing-implemented-with-universal-access": -50,
    # Redirection
    "redirection-to-https": 0,
    "redirection-not-needed-no-http": 0,
    "redirection-off-host-from-http": -5,
    "redirection-not-to-https-on-initial-redirection": -10,
    "redirection-not-to-https": -20,
    "redirection-missing": -20,
    "redirection-invalid-cert": -20,
    # Referrer-Policy
    "referrer-policy-private": 5,
    "referrer-policy-not-implemented": 0,
    "referrer-policy-unsafe": -5,
    "referrer-policy-header-invalid": -5,
    # Strict-Transport-Security
    "hsts-implemented-max-age-at-least-six-months": 0,
    "hsts-implemented-max-age-less-than-six-months": -10,
    "hsts-not-implemented": -20,
    "hsts-header-invalid": -20,
    "hsts-not-implemented-no-https": -20,
    "hsts-invalid-cert": -20,
    # Subresource integrity
    "sri-implemented-and-all-scripts-loaded-securely": 5,
    "sri-implemented-and-external-scripts-loaded-securely": 5,
    "sri-not-implemented-response-not-html": 0,
    "sri-not-implemented-but-no-scripts-loaded": 0,
    "sri-not-implemented-but-all-scripts-loaded-from-secure-origin": 0,
    "sri-not-implemented-but-external-scripts-loaded-securely": -5,
    "sri-implemented-but-external-scripts-not-loaded-securely": -20,
    "sri-not-implemented-and-external-scripts-not-loaded-securely": -50,
    # X-Content-Type-Options
    "x-content-type-options-nosniff": 0,
    "x-content-type-options-not-implemented": -5,
    "x-content-type-options-header-invalid": -5,
    # X-Frame-Options
    "x-frame-options-implemented-via-csp": 5,
    "x-frame-options-sameorigin-or-deny": 0,
    "x-frame-options-allow-from-origin": 0,
    "x-frame-options-not-implemented": -20,
    "x-frame-options-header-invalid": -20,
    # Cross-Origin-Resource-Policy
    "cross-origin-resource-policy-implemented-with-same-origin": 10,
    "cross-origin-resource-policy-implemented-with-same-site": 10,
    "cross-origin-resource-policy-implemented-with-cross-origin": 0,
    "cross-origin-resource-policy-not-implemented": 0,
    "cross-origin-resource-policy-header-invalid": -5,
}

# Bonuses count only when the score without them is already an A.
MINIMUM_SCORE_FOR_EXTRA_CREDIT = 90
GRADES = [
    (100, "A+"),
    (90, "A"),
    (85, "A-"),
    (80, "B+"),
    (70, "B"),
    (65, "B-"),
    (60, "C+"),
    (50, "C"),
    (45, "C-"),
    (40, "D+"),
    (30, "D"),
    (25, "D-"),
    (0, "F"),
]
SIX_MONTHS = 15_552_000  # the Observatory accepts this common rounding of 15768000
CORS_TEST_ORIGIN = "https://http-observatory.security.mozilla.org"

_BROAD = {"ftp:", "http:", "https:", "*", "http://*", "http://*.*", "https://*", "https://*.*"}
_INLINE = {"'unsafe-inline'", "data:"}
_NONCE_OR_HASH = ("'sha256-", "'sha384-", "'sha512-", "'nonce-")
_REPEATABLE_DIRECTIVES = {"report-uri", "report-to"}
_HTML_TYPES = {"text/html", "application/xhtml+xml"}


class Headers:
    """Response headers as received: names case-insensitive, repeats kept in order."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self.items = [(name.lower(), value) for name, value in items]

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.items if key == name.lower()]

    def first(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def combined(self, name: str) -> str | None:
        """All values joined with commas, as an HTTP client hands a repeated header over."""
        values = self.all(name)
        return ", ".join(values) if values else None


@dataclass
class Scan:
    """What a scan of one URL saw.

    ``route`` is every URL visited from ``http://host/path`` to the final one
    (the first alone when plain HTTP did not answer). ``cookies`` holds every
    Set-Cookie value received on the way. ``cors_headers`` is the answer to the
    same URL requested with an ``Origin`` header.
    """

    url: str
    status: int
    headers: Headers
    body: str = ""
    route: list[str] = field(default_factory=list)
    http_answered: bool = True
    certificate_valid: bool = True
    cookies: list[str] = field(default_factory=list)
    cors_headers: Headers | None = None


@dataclass(frozen=True)
class Result:
    test: str
    result: str
    passed: bool

    @property
    def modifier(self) -> int:
        return MODIFIERS[self.result]


@dataclass
class Report:
    score: int
    grade: str
    results: list[Result]

    @property
    def failed(self) -> list[Result]:
        return [result for result in self.results if not result.passed]

    def explain(self) -> str:
        lines = [f"score {self.score} ({self.grade})"]
        lines += [
            f"  [{r.modifier:+3d}] {r.result}{'' if r.passed else '  (FAILED)'}"
            for r in self.results
        ]
        return "\n".join(lines)


# --- Content Security Policy ---------------------------------------------------


class InvalidPolicy(ValueError):
    pass


def parse_policies(values: list[str]) -> dict[str, set[str]]:
    """The effective directives of one or more policies (a source must be in every one)."""
    merged: dict[str, set[str]] = {}
    for text in values:
        policy = text.replace("\r", "").replace("\n", "").strip()
        if len(policy) < len("img-src") - 1:
            raise InvalidPolicy(policy)
        seen: dict[str, set[str]] = {}
        for entry in policy.split(";"):
            words = entry.split()
            if not words:
                continue
            directive, sources = words[0].lower(), {word.lower() for word in words[1:]}
            if directive in seen:
                if directive in _REPEATABLE_DIRECTIVES:
                    continue
                raise InvalidPolicy(f"{directive} twice")
            if not sources and directive.endswith("-src"):
                sources = {"'none'"}
            seen[directive] = sources
        for directive, sources in seen.items():
            if directive in merged:
                merged[directive] = (merged[directive] & sources) or {"'none'"}
            else:
                merged[directive] = sources
    return merged


def csp_directives(scan: Scan) -> dict[str, set[str]] | None:
    """The parsed policy of a scan, or None when it has none or cannot be parsed."""
    values = _policies(scan)
    if not values:
        return None
    try:
        return parse_policies(values)
    except InvalidPolicy:
        return None


def _policies(scan: Scan) -> list[str]:
    # Commas separate policies, whether in one header or in several.
    return [
        part for value in scan.headers.all("Content-Security-Policy") for part in value.split(",")
    ]


def csp_test(scan: Scan) -> Result:
    values = _policies(scan)
    if not values:
        reporting = scan.headers.first("Content-Security-Policy-Report-Only")
        result = "csp-not-implemented-but-reporting-enabled" if reporting else "csp-not-implemented"
        return Result("content-security-policy", result, False)
    try:
        csp = parse_policies(values)
    except InvalidPolicy:
        return Result("content-security-policy", "csp-header-invalid", False)

    def effective(directive: str) -> set[str]:
        return set(csp.get(directive) or csp.get("default-src") or {"*"})

    script, style, objects = (
        effective("script-src"),
        effective("style-src"),
        effective("object-src"),
    )
    for sources in (script, style):
        if any(source.startswith(_NONCE_OR_HASH) for source in sources):
            sources.discard("'unsafe-inline'")
    result: str | None = None
    if "'strict-dynamic'" in script:
        if any(source.startswith(_NONCE_OR_HASH) for source in script):
            script = {
                source
                for source in script
                if source not in ("'self'", "'unsafe-inline'")
                and not any(source.startswith(broad) for broad in _BROAD)
            }
        else:
            result = "csp-header-invalid"
    active = [
        source
        for directive, sources in csp.items()
        if directive not in ("img-src", "media-src", "script-src")
        for source in sources
    ] + sorted(script)
    passive = [
        source
        for directive in ("img-src", "media-src")
        for source in (csp.get(directive) or csp.get("default-src") or set())
    ]
    https = scan.url.startswith("https:")
    checks = [
        (
            "csp-implemented-with-unsafe-inline",
            bool(script & (_BROAD | _INLINE)) or bool(objects & _BROAD),
        ),
        (
            "csp-implemented-with-insecure-scheme",
            https and any(source.startswith(("http:", "ftp:")) for source in active),
        ),
        ("csp-implemented-with-unsafe-eval", "'unsafe-eval'" in script | style),
        (
            "csp-implemented-with-insecure-scheme-in-passive-content-only",
            https and any(source.startswith(("http:", "ftp:")) for source in passive),
        ),
        ("csp-implemented-with-unsafe-inline-in-style-src-only", bool(style & (_BROAD | _INLINE))),
    ]
    for name, failed in checks:
        if result is None and failed:
            result = name
    if result is None:
        default_none = csp.get("default-src") == {"'none'"}
        result = (
            "csp-implemented-with-no-unsafe-default-src-none"
            if default_none
            else "csp-implemented-with-no-unsafe"
        )
    passed = result in (
        "csp-implemented-with-no-unsafe",
        "csp-implemented-with-no-unsafe-default-src-none",
        "csp-implemented-with-unsafe-inline-in-style-src-only",
        "csp-implemented-with-insecure-scheme-in-passive-content-only",
    )
    if passed and _repeats_reporting(values):
        result = "csp-implemented-but-duplicate-directives"
    return Result("content-security-policy", result, passed)


def _repeats_reporting(values: list[str]) -> bool:
    for policy in values:
        directives = [entry.split()[0].lower() for entry in policy.split(";") if entry.split()]
        if any(directives.count(name) > 1 for name in _REPEATABLE_DIRECTIVES):
            return True
    return False


# --- Cookies -------------------------------------------------------------------

# From least to most serious: a cookie's worst problem decides the result.
_COOKIE_PROBLEMS = [
    "cookies-without-secure-flag-but-protected-by-hsts",
    "cookies-without-secure-flag",
    "cookies-session-without-secure-flag-but-protected-by-hsts",
    "cookies-samesite-flag-invalid",
    "cookies-anticsrf-without-samesite-flag",
    "cookies-session-without-httponly-flag",
    "cookies-session-without-secure-flag",
]


def _cookie_attributes(set_cookie: str) -> tuple[str, dict[str, str | None]]:
    name_value, *parts = set_cookie.split(";")
    attributes: dict[str, str | None] = {}
    for part in parts:
        key, _, value = part.partition("=")
        attributes[key.strip().lower()] = value.strip() if "=" in part else None
    return name_value.split("=", 1)[0].strip(), attributes


def cookies_test(scan: Scan) -> Result:
    if not scan.cookies:
        return Result("cookies", "cookies-not-found", True)
    hsts = hsts_test(scan).passed
    problems: list[str] = []
    missing_samesite = False
    for set_cookie in scan.cookies:
        name, attributes = _cookie_attributes(set_cookie)
        secure, httponly = "secure" in attributes, "httponly" in attributes
        samesite = attributes.get("samesite") if "samesite" in attributes else None
        session_like = any(word in name.lower() for word in ("login", "sess"))
        if "samesite" in attributes and (samesite or "").lower() not in ("lax", "strict", "none"):
            problems.append("cookies-samesite-flag-invalid")
        if not secure and (samesite or "").lower() == "none":
            problems.append("cookies-samesite-flag-invalid")
        if not secure:
            problems.append(
                "cookies-without-secure-flag-but-protected-by-hsts"
                if hsts
                else "cookies-without-secure-flag"
            )
        if "csrf" in name.lower() and not samesite:
            problems.append("cookies-anticsrf-without-samesite-flag")
        if session_like and not secure:
            problems.append(
                "cookies-session-without-secure-flag-but-protected-by-hsts"
                if hsts
                else "cookies-session-without-secure-flag"
            )
        if session_like and not httponly:
            problems.append("cookies-session-without-httponly-flag")
        missing_samesite = missing_samesite or not samesite
    if problems:
        return Result("cookies", max(problems, key=_COOKIE_PROBLEMS.index), False)
    if missing_samesite:
        return Result("cookies", "cookies-secure-with-httponly-sessions", True)
    return Result("cookies", "cookies-secure-with-httponly-sessions-and-samesite", True)


# --- The other tests -----------------------------------------------------------


def cors_test(scan: Scan) -> Result:
    name = "cross-origin-resource-sharing"
    allowed = scan.cors_headers.first("Access-Control-Allow-Origin") if scan.cors_headers else None
    if scan.cors_headers is None or allowed is None:
        return Result(name, "cross-origin-resource-sharing-not-implemented", True)
    credentials = (scan.cors_headers.first("Access-Control-Allow-Credentials") or "").strip()
    if allowed.strip() == "*":
        return Result(name, "cross-origin-resource-sharing-implemented-with-public-access", True)
    if allowed.strip() == CORS_TEST_ORIGIN and credentials.lower() == "true":
        return Result(
            name, "cross-origin-resource-sharing-implemented-with-universal-access", False
        )
    return Result(name, "cross-origin-resource-sharing-implemented-with-restricted-access", True)


def redirection_test(scan: Scan) -> Result:
    name = "redirection"
    if not scan.http_answered:
        return Result(name, "redirection-not-needed-no-http", True)
    if not scan.certificate_valid:
        return Result(name, "redirection-invalid-cert", False)
    route = [urlsplit(url) for url in scan.route]
    if len(route) <= 1:
        return Result(name, "redirection-missing", False)
    if route[-1].scheme != "https":
        return Result(name, "redirection-not-to-https", False)
    if route[1].scheme == "http":
        return Result(name, "redirection-not-to-https-on-initial-redirection", False)
    if route[0].scheme == "http" and route[0].hostname != route[1].hostname:
        return Result(name, "redirection-off-host-from-http", False)
    return Result(name, "redirection-to-https", True)


def referrer_policy_test(scan: Scan) -> Result:
    name = "referrer-policy"
    private = ["no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"]
    unsafe = ["origin", "origin-when-cross-origin", "unsafe-url", "no-referrer-when-downgrade"]
    value = scan.headers.combined("Referrer-Policy")
    if value is None:
        return Result(name, "referrer-policy-not-implemented", True)
    # Browsers use the last value they understand.
    known = [token.strip().lower() for token in value.split(",")]
    known = [token for token in known if token in private + unsafe]
    if known and known[-1] in private:
        return Result(name, "referrer-policy-private", True)
    if known:
        return Result(name, "referrer-policy-unsafe", False)
    return Result(name, "referrer-policy-header-invalid", False)


def hsts_test(scan: Scan) -> Result:
    name = "strict-transport-security"
    if not scan.url.startswith("https:"):
        return Result(name, "hsts-not-implemented-no-https", False)
    if not scan.certificate_valid:
        return Result(name, "hsts-invalid-cert", False)
    value = scan.headers.combined("Strict-Transport-Security")
    if value is None:
        return Result(name, "hsts-not-implemented", False)
    max_age = None
    for parameter in value.split(";"):
        parameter = parameter.strip().lower()
        if parameter.startswith("max-age="):
            digits = parameter.removeprefix("max-age=").strip('"')
            max_age = int(digits) if digits.isdigit() else None
    if "," in value or max_age is None:
        return Result(name, "hsts-header-invalid", False)
    if max_age < SIX_MONTHS:
        return Result(name, "hsts-implemented-max-age-less-than-six-months", False)
    return Result(name, "hsts-implemented-max-age-at-least-six-months", True)


class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))


def _site(host: str | None) -> str:
    # The last two labels stand in for the registrable domain (no public suffix list).
    return ".".join((host or "").lower().split(".")[-2:])


def sri_test(scan: Scan) -> Result:
    name = "subresource-integrity"
    mime = (scan.headers.first("Content-Type") or "").split(";")[0].strip().lower()
    if mime and mime not in _HTML_TYPES:
        return Result(name, "sri-not-implemented-response-not-html", True)
    parser = _Scripts()
    parser.feed(scan.body)
    if not parser.scripts:
        return Result(name, "sri-not-implemented-but-no-scripts-loaded", True)
    order = [
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-implemented-but-external-scripts-not-loaded-securely",
        "sri-not-implemented-but-external-scripts-loaded-securely",
        "sri-not-implemented-and-external-scripts-not-loaded-securely",
    ]
    worst: str | None = None
    foreign = False
    own_site = _site(urlsplit(scan.url).hostname)
    for script in parser.scripts:
        src = script.get("src")
        if not src:
            continue
        integrity = script.get("integrity")
        if src.startswith("//"):
            same_origin, secure = False, False
        elif src.startswith(("http://", "https://")):
            same_origin = _site(urlsplit(src).hostname) == own_site
            secure = src.startswith("https://")
        else:
            same_origin, secure = True, scan.url.startswith("https:")
        if same_origin:
            if integrity and secure and worst is None:
                worst = "sri-implemented-and-all-scripts-loaded-securely"
            continue
        foreign = True
        if integrity and not secure:
            found = "sri-implemented-but-external-scripts-not-loaded-securely"
        elif not integrity and secure:
            found = "sri-not-implemented-but-external-scripts-loaded-securely"
        elif not integrity:
            found = "sri-not-implemented-and-external-scripts-not-loaded-securely"
        else:
            continue
        worst = found if worst is None else max(worst, found, key=order.index)
    if worst is None:
        worst = (
            "sri-implemented-and-external-scripts-loaded-securely"
            if foreign
            else "sri-not-implemented-but-all-scripts-loaded-from-secure-origin"
        )
    passed = worst in (
        "sri-implemented-and-all-scripts-loaded-securely",
        "sri-implemented-and-external-scripts-loaded-securely",
        "sri-not-implemented-but-all-scripts-loaded-from-secure-origin",
    )
    return Result(name, worst, passed)


def x_content_type_options_test(scan: Scan) -> Result:
    name = "x-content-type-options"
    value = scan.headers.combined("X-Content-Type-Options")
    if value is None:
        return Result(name, "x-content-type-options-not-implemented", False)
    if value.strip().lower() == "nosniff":
        return Result(name, "x-content-type-options-nosniff", True)
    return Result(name, "x-content-type-options-header-invalid", False)


def x_frame_options_test(scan: Scan) -> Result:
    name = "x-frame-options"
    csp = csp_directives(scan)
    if csp is not None and "frame-ancestors" in csp:
        return Result(name, "x-frame-options-implemented-via-csp", True)
    value = scan.headers.combined("X-Frame-Options")
    if value is None:
        return Result(name, "x-frame-options-not-implemented", False)
    value = value.strip().lower()
    if value in ("deny", "sameorigin"):
        return Result(name, "x-frame-options-sameorigin-or-deny", True)
    if value.startswith("allow-from"):
        return Result(name, "x-frame-options-allow-from-origin", True)
    return Result(name, "x-frame-options-header-invalid", False)


def cross_origin_resource_policy_test(scan: Scan) -> Result:
    name = "cross-origin-resource-policy"
    value = scan.headers.combined("Cross-Origin-Resource-Policy")
    if value is None:
        return Result(name, "cross-origin-resource-policy-not-implemented", True)
    results = {
        "same-origin": "cross-origin-resource-policy-implemented-with-same-origin",
        "same-site": "cross-origin-resource-policy-implemented-with-same-site",
        "cross-origin": "cross-origin-resource-policy-implemented-with-cross-origin",
    }
    result = results.get(value.strip().lower(), "cross-origin-resource-policy-header-invalid")
    return Result(name, result, result != "cross-origin-resource-policy-header-invalid")


TESTS = [
    csp_test,
    cookies_test,
    cors_test,
    redirection_test,
    referrer_policy_test,
    hsts_test,
    sri_test,
    x_content_type_options_test,
    x_frame_options_test,
    cross_origin_resource_policy_test,
]


def grade(scan: Scan) -> Report:
    """Run every test on ``scan`` and score it as the Observatory does."""
    results = [test(scan) for test in TESTS]
    with_bonus = 100 + sum(result.modifier for result in results)
    penalties_only = 100 + sum(min(result.modifier, 0) for result in results)
    score = with_bonus if penalties_only >= MINIMUM_SCORE_FOR_EXTRA_CREDIT else penalties_only
    score = max(score, 0)
    letter = next(letter for floor, letter in GRADES if score >= floor)
    return Report(score, letter, results)
