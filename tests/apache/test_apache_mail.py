"""Mail from the app under Apache: links at the public HTTPS address, tokens out of the logs."""

from __future__ import annotations

import json
import time

import pytest

from scripts.private_apache import SITE_NAME, PrivateApache
from tests.apache.conftest import Client
from tests.helpers import PASSWORD, link_in, wait_for_mail
from tests.smtp_server import Inbox

pytestmark = pytest.mark.apache

JSON = {"Content-Type": "application/json"}


def wait_for_line(apache: PrivateApache, log: str, line: str) -> str:
    """The site's ``log`` (access or error) once it holds ``line``."""
    path = apache.root / "logs" / f"{SITE_NAME}-{log}.log"
    deadline = time.monotonic() + 5
    while line not in path.read_text():
        assert time.monotonic() < deadline, f"{line!r} is not in {path.name}"
        time.sleep(0.05)
    return path.read_text()


def test_a_reset_link_points_at_the_public_https_address_and_never_reaches_a_log(
    apache: PrivateApache, web: Client, inbox: Inbox
) -> None:
    account = {"username": "mailed", "email": "mailed@example.com", "password": PASSWORD}
    created = web.request("/api/users", "POST", JSON, json.dumps(account).encode())
    assert created.status == 201, created.text

    # The Host header is the client's to choose: the link must not follow it.
    asked = web.request(
        "/api/password-reset",
        "POST",
        {**JSON, "Host": "evil.example"},
        json.dumps({"email": "mailed@example.com"}).encode(),
    )
    assert asked.status == 202, asked.text

    [received] = wait_for_mail(inbox)
    assert received.rcpt_tos == ["mailed@example.com"]
    assert apache.base_url.startswith("https://")
    link = link_in(received.message, apache.base_url, "/auth/reset-password/")
    token = link.rsplit("/", 1)[1]

    opened = web.request(link)
    assert opened.status == 302
    assert opened.headers["Location"].endswith("/auth/reset-password")

    # Apache's line follows the response by a moment; the app's own line per
    # request is off at production's default LOG_LEVEL (WARNING).
    access_log = wait_for_line(apache, "access", '"GET [link with a secret] HTTP/1.1" 302')
    assert "POST /api/password-reset" in access_log
    assert f" {opened.headers['X-Request-ID']}" in access_log
    for log in (apache.root / "logs").iterdir():
        assert token not in log.read_text(), f"the link's token is in {log.name}"
