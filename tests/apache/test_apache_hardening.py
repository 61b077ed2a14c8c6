"""The rendered Apache site is safe on its own: TRACE, slow clients, body size, error pages."""

from __future__ import annotations

import http.client
import json
import re
import select
import socket
import ssl
import time
import uuid
from collections.abc import Iterator

import pytest

from scripts.private_apache import HEADER_TIMEOUT, PrivateApache
from tests.apache.conftest import Client, Reply, start_instance

pytestmark = pytest.mark.apache

NO_SNIFF_NO_FRAMES = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
SECURITY_HEADERS = {**NO_SNIFF_NO_FRAMES, "Strict-Transport-Security": "max-age=63072000"}


def body_limit(apache: PrivateApache) -> int:
    """The LimitRequestBody the site was rendered with (the app's MAX_CONTENT_LENGTH)."""
    limits = set(re.findall(r"^\s*LimitRequestBody (\d+)$", site_conf(apache), re.MULTILINE))
    assert len(limits) == 1, limits
    return int(limits.pop())


def site_conf(apache: PrivateApache) -> str:
    return (apache.root / "site.conf").read_text()


def new_user() -> dict[str, str]:
    name = f"h{uuid.uuid4().hex[:10]}"
    return {"username": name, "email": f"{name}@example.com", "password": "x" * 16}


def post_chunked(apache: PrivateApache, path: str, chunks: Iterator[bytes]) -> Reply:
    """POST ``chunks`` with Transfer-Encoding: chunked (no Content-Length)."""
    tls = ssl.create_default_context(cafile=str(apache.cert))
    connection = http.client.HTTPSConnection(
        "localhost", apache.https_port, context=tls, timeout=30
    )
    try:
        connection.request(
            "POST",
            path,
            body=chunks,
            headers={"Content-Type": "application/json"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    except (BrokenPipeError, ConnectionResetError):
        # Apache may refuse and close before the client has sent everything.
        response = connection.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        connection.close()


def in_chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.fixture(scope="module")
def own_apache() -> Iterator[PrivateApache]:
    """An instance of its own for the tests that make mod_wsgi or Apache log errors
    (refused bodies, a missing daemon socket), so the shared instance's logs stay clean."""
    yield from start_instance("")


def test_trace_is_refused_and_echoes_nothing(web: Client) -> None:
    secret = f"Bearer {uuid.uuid4().hex}"
    reply = web.request("/", method="TRACE", headers={"Authorization": secret})
    assert reply.status == 405
    assert secret not in reply.text
    assert reply.headers["Content-Type"] != "message/http"
    plain = web.request("/", method="TRACE", headers={"Authorization": secret}, https=False)
    assert plain.status != 200
    assert secret not in plain.text


def test_the_site_and_the_server_wide_snippet_turn_trace_off(apache: PrivateApache) -> None:
    # Both vhosts (80 and 443) on their own, and the snippet for requests no vhost sees.
    assert site_conf(apache).count("TraceEnable Off") == 2
    assert "TraceEnable Off" in (apache.root / "server-hardening.conf").read_text()


def test_slow_clients_are_disconnected_within_the_header_timeout(apache: PrivateApache) -> None:
    """Slowloris: connections trickling header lines are closed, not kept forever."""
    tls = ssl.create_default_context(cafile=str(apache.cert))
    started: dict[ssl.SSLSocket, float] = {}
    for _ in range(8):
        raw = socket.create_connection(("127.0.0.1", apache.https_port), timeout=10)
        connection = tls.wrap_socket(raw, server_hostname="localhost")
        connection.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        connection.settimeout(0.1)
        started[connection] = time.monotonic()
    closed_after: list[float] = []

    def closed(connection: ssl.SSLSocket) -> None:
        closed_after.append(time.monotonic() - started.pop(connection))
        connection.close()

    # Apache's own Timeout (300 s) would never fire: a header line arrives every 0.5 s.
    deadline = time.monotonic() + HEADER_TIMEOUT * 2 + 20
    while started and time.monotonic() < deadline:
        readable, _, _ = select.select(list(started), [], [], 0.5)
        for connection in readable:
            try:
                connection.recv(4096)  # Apache's 408, or the end of the connection
            except (TimeoutError, ssl.SSLWantReadError):
                continue  # TLS housekeeping (a session ticket), not the end
            except OSError:
                pass
            closed(connection)
        for connection in list(started):
            try:
                connection.sendall(f"X-Slow-{uuid.uuid4().hex[:6]}: 1\r\n".encode())
            except OSError:
                closed(connection)
    for connection in started:
        connection.close()
    assert not started, f"{len(started)} slow connections still open"
    # Closed by the header timeout (3 s here, at most twice that), not by chance.
    assert min(closed_after) >= HEADER_TIMEOUT - 1
    assert max(closed_after) <= HEADER_TIMEOUT * 2 + 10


def test_a_body_over_the_apps_limit_is_refused_by_apache(own_apache: PrivateApache) -> None:
    web = Client(own_apache)
    limit = body_limit(own_apache)
    assert limit == 1024 * 1024  # MAX_CONTENT_LENGTH's default, read when rendering
    too_big = web.request(
        "/api/users", "POST", {"Content-Type": "application/json"}, b" " * (limit + 1)
    )
    assert too_big.status == 413
    # Apache's answer: the app never saw it (every response of the app has X-Request-ID).
    assert "X-Request-ID" not in too_big.headers
    for name, value in SECURITY_HEADERS.items():
        assert too_big.headers[name] == value, name
    # In the API's own error shape.
    assert too_big.headers["Content-Type"] == "application/json"
    assert json.loads(too_big.body) == {
        "status": 413,
        "error": "Request Entity Too Large",
        "message": "What you sent is larger than this site accepts.",
    }
    form = web.request(
        "/auth/register",
        "POST",
        {"Content-Type": "application/x-www-form-urlencoded"},
        b"x" * (limit + 1),
    )
    assert form.status == 413
    assert form.headers["Content-Type"].startswith("text/html")
    at_limit = web.request("/api/users", "POST", {"Content-Type": "application/json"}, b" " * limit)
    assert at_limit.status == 400  # the app's answer to a body that is only spaces
    assert at_limit.headers["X-Request-ID"]


def test_apaches_404_for_a_missing_static_file_carries_the_headers(web: Client) -> None:
    reply = web.request("/static/css/no-such-file.css")
    assert reply.status == 404
    assert "X-Request-ID" not in reply.headers  # Apache's page, not the app's
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers[name] == value, name
    assert reply.headers["Server"] == "Apache"
    assert "Apache/" not in reply.text  # no version signature on the page


def test_plain_http_answers_carry_the_headers_too(web: Client) -> None:
    missing = web.request("/.well-known/acme-challenge/no-such-token", https=False)
    redirect = web.request("/", https=False)
    for reply in (missing, redirect):
        for name, value in NO_SNIFF_NO_FRAMES.items():
            assert reply.headers[name] == value, name
        assert reply.headers["Server"] == "Apache"
    assert missing.status == 404
    assert redirect.status == 301


@pytest.mark.parametrize("size", [100, 2 * 1024 * 1024])
def test_a_chunked_body_gets_a_json_411_and_is_not_acted_on(
    own_apache: PrivateApache, size: int
) -> None:
    """No Content-Length, no request: the app never sees a body it cannot size."""
    web = Client(own_apache)
    user = new_user()
    # Valid JSON whatever its length: only the framing may stop it.
    body = json.dumps(user).encode() + b" " * size
    reply = post_chunked(own_apache, "/api/users", in_chunks(body))
    assert reply.status == 411
    assert reply.headers["Content-Type"] == "application/json"
    error = json.loads(reply.body)
    assert error["status"] == 411
    assert "Content-Length" in error["message"]
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers[name] == value, name
    # The account does not exist: the same request, sent with its length, creates it.
    again = web.request(
        "/api/users", "POST", {"Content-Type": "application/json"}, json.dumps(user).encode()
    )
    assert again.status == 201, again.text


def test_a_chunked_form_on_the_site_gets_apaches_411_page(own_apache: PrivateApache) -> None:
    reply = post_chunked(own_apache, "/auth/login", iter([b"username=a&password=b"]))
    assert reply.status == 411
    assert reply.headers["Content-Type"].startswith("text/html")


def test_apaches_503_when_the_app_is_unreachable_carries_the_headers(
    own_apache: PrivateApache,
) -> None:
    web = Client(own_apache)
    assert web.request("/api/health").status == 200
    sockets = list((own_apache.root / "run").glob("wsgi.*.sock"))
    assert len(sockets) == 1
    hidden = sockets[0].with_name("hidden.sock")
    sockets[0].rename(hidden)
    try:
        api, page = web.request("/api/health"), web.request("/")
    finally:
        hidden.rename(sockets[0])
    assert (api.status, page.status) == (503, 503)
    for name, value in SECURITY_HEADERS.items():
        assert api.headers[name] == value, name
        assert page.headers[name] == value, name
    assert api.headers["Content-Type"] == "application/json"
    assert json.loads(api.body)["status"] == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert web.request("/api/health").status == 200


def test_the_private_instance_loads_the_production_pieces(apache: PrivateApache) -> None:
    conf = (apache.root / "apache2.conf").read_text()
    assert "mod_reqtimeout.so" in conf
    assert f"Include {apache.root}/server-hardening.conf" in conf
    assert "ServerTokens" not in conf  # it must come from the snippet
    assert "ServerTokens Prod" in (apache.root / "server-hardening.conf").read_text()
