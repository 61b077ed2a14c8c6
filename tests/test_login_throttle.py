"""The per-account log-in throttle: guesses spread over many addresses, site and API."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from itertools import count

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from limits import parse
from limits.storage import RedisStorage
from limits.strategies import FixedWindowRateLimiter
from werkzeug.test import TestResponse

from app import create_app
from app.extensions import db
from app.models import User
from tests.api.helpers import assert_json_error
from tests.helpers import (
    PASSWORD,
    RequestIsolatedClient,
    SiteSession,
    basic_auth,
    empty_tables,
    make_user,
    redis_up,
    skip_or_fail,
    text,
)
from tests.test_accounts import flashes, is_logged_in

pytestmark = pytest.mark.db

WRONG = "not the password at all"
THROTTLED = "Too many failed log-ins for this account."
# One address per attempt, from a documentation range: each stays far below the
# per-client limit, so only the per-account throttle can stop them.
_addresses = (f"198.51.100.{number}" for number in count(1))


def client_from_new_address(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = next(_addresses)
    return client


def site_login(app: Flask, login: str, password: str) -> TestResponse:
    return SiteSession(client_from_new_address(app)).login(login, password)


def api_login(app: Flask, login: str, password: str) -> TestResponse:
    return client_from_new_address(app).post("/api/tokens", headers=basic_auth(login, password))


def assert_site_throttled(response: TestResponse) -> None:
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    page = text(response)
    assert "<h1>Log in</h1>" in page, "the form is shown again"
    [message] = flashes(page)
    assert message.startswith(THROTTLED)
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


def assert_api_throttled(response: TestResponse) -> str:
    body = assert_json_error(response, 429)
    assert body["message"].startswith(THROTTLED)
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    return str(body["message"])


@pytest.fixture
def bob(app: Flask, user: User) -> User:
    return make_user("bob")


def test_the_default_is_a_modest_cap_per_window(app: Flask) -> None:
    assert app.config["RATELIMIT_LOGIN_ACCOUNT"] == "10 per 15 minutes"


def test_guesses_from_many_addresses_are_throttled_on_the_site(app: Flask, user: User) -> None:
    for _ in range(10):
        assert site_login(app, "alice", WRONG).status_code == 200

    # Even the right password, from yet another address, waits for the window.
    response = site_login(app, "alice", PASSWORD)

    assert_site_throttled(response)
    assert "in 15 minutes" in flashes(text(response))[0]


def test_guesses_from_many_addresses_are_throttled_on_the_api(
    app: Flask, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    for _ in range(10):
        assert_json_error(api_login(app, "alice", WRONG), 401)
    assert "log-in throttle" not in caplog.text

    assert_api_throttled(api_login(app, "alice", PASSWORD))

    [line] = [r for r in caplog.records if r.message.startswith("log-in throttle")]
    assert line.levelname == "WARNING"
    assert f"refused for account id {user.id} (10 per 15 minute reached)" in line.message


def test_the_site_the_api_the_username_and_the_email_share_one_counter(
    app: Flask, user: User
) -> None:
    for login in ("alice", "ALICE", " alice@example.com", "Alice@Example.COM", "alice"):
        assert site_login(app, login, WRONG).status_code == 200
        assert_json_error(api_login(app, login, WRONG), 401)

    assert_api_throttled(api_login(app, "alice@example.com", PASSWORD))
    assert_site_throttled(site_login(app, "Alice", PASSWORD))


def test_an_unknown_login_is_throttled_exactly_like_a_known_one(app: Flask, user: User) -> None:
    for _ in range(10):
        assert_json_error(api_login(app, "alice", WRONG), 401)
        assert_json_error(api_login(app, "nobody", WRONG), 401)

    known = api_login(app, "alice", WRONG)
    unknown = api_login(app, "nobody", WRONG)

    assert assert_api_throttled(known) == assert_api_throttled(unknown)
    assert known.headers["Retry-After"] == unknown.headers["Retry-After"]
    assert_site_throttled(site_login(app, "nobody", WRONG))


def test_the_throttle_is_per_account(app: Flask, user: User, bob: User) -> None:
    for _ in range(10):
        site_login(app, "alice", WRONG)
    assert_site_throttled(site_login(app, "alice", PASSWORD))

    assert site_login(app, "bob", PASSWORD).status_code == 302
    assert api_login(app, "bob", PASSWORD).status_code == 201


@pytest.mark.slow
def test_a_throttled_account_answers_again_after_the_window(app: Flask, user: User) -> None:
    app.config["RATELIMIT_LOGIN_ACCOUNT"] = "3 per 6 seconds"
    site_login(app, "alice", WRONG)
    # The window opened during that attempt, so it ends before this + 6 s.
    window_ends_by = time.monotonic() + 6
    for _ in range(2):
        site_login(app, "alice", WRONG)
    message = assert_api_throttled(api_login(app, "alice", PASSWORD))
    waits = tuple(f"in {n} second{'s' if n > 1 else ''}." for n in range(1, 7))
    assert message.endswith(waits)

    time.sleep(max(0.0, window_ends_by + 0.5 - time.monotonic()))

    site = SiteSession(client_from_new_address(app))
    assert site.login("alice", PASSWORD).status_code == 302
    assert is_logged_in(site.client)


def known_browser(app: Flask, login: str = "alice") -> SiteSession:
    """A browser its owner has logged in (and out) from: it holds the device cookie."""
    site = SiteSession(client_from_new_address(app))
    assert site.login(login, PASSWORD).status_code == 302
    assert site.client.get_cookie("known_device") is not None
    site.logout()
    return site


def test_guessing_from_elsewhere_does_not_lock_the_owners_browser_out(
    app: Flask, user: User
) -> None:
    """Else anyone could keep an account paused, window after window."""
    owner = known_browser(app)
    for _ in range(10):
        site_login(app, "alice", WRONG)
    assert_site_throttled(site_login(app, "alice", PASSWORD))

    assert owner.login("alice", PASSWORD).status_code == 302
    assert is_logged_in(owner.client)


def test_the_owners_browser_is_capped_on_its_own_counter(app: Flask, user: User) -> None:
    """A stolen device cookie buys the same few guesses per window, no more."""
    app.config["RATELIMIT_LOGIN"] = "100 per minute"  # only the account throttle counts here
    owner = known_browser(app)
    for _ in range(10):
        site_login(app, "alice", WRONG)
    for _ in range(10):
        assert owner.login("alice", WRONG).status_code == 200

    assert_site_throttled(owner.login("alice", PASSWORD))


def test_a_device_cookie_helps_only_its_own_account(app: Flask, user: User, bob: User) -> None:
    bobs_browser = known_browser(app, "bob")
    for _ in range(10):
        site_login(app, "alice", WRONG)

    assert_site_throttled(bobs_browser.login("alice", PASSWORD))
    forged = SiteSession(client_from_new_address(app))
    forged.client.set_cookie("known_device", "eyJ1c2VyIjogMX0.forged.signature")
    assert_site_throttled(forged.login("alice", PASSWORD))


def test_a_successful_log_in_clears_the_count(app: Flask, user: User) -> None:
    app.config["RATELIMIT_LOGIN_ACCOUNT"] = "3 per 15 minutes"
    for _ in range(2):
        site_login(app, "alice", WRONG)
    assert api_login(app, "alice", PASSWORD).status_code == 201

    for _ in range(2):
        site_login(app, "alice", WRONG)

    assert site_login(app, "alice", PASSWORD).status_code == 302


def test_the_throttle_follows_ratelimit_enabled(app: Flask, user: User) -> None:
    app.config["RATELIMIT_ENABLED"] = False
    for _ in range(12):
        site_login(app, "alice", WRONG)

    assert site_login(app, "alice", PASSWORD).status_code == 302


# --- the limiter's storage: Redis, and memory while Redis is down ------------------------


@pytest.fixture
def app_with_storage(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Flask]:
    """An app whose rate limits live at the storage URI given as the fixture's param."""
    monkeypatch.setenv("TEST_RATELIMIT_STORAGE_URI", request.param)
    app = create_app("testing")
    app.test_client_class = RequestIsolatedClient
    # Redis here is shared by every test run on the machine: a key prefix of our own.
    app.config["RATELIMIT_KEY_PREFIX"] = f"flaskapp-test-{os.getpid()}-{uuid.uuid4().hex}"
    with app.app_context():
        db.create_all()
        make_user()
        yield app
        db.session.remove()
        empty_tables()
        db.engine.dispose()


REDIS_URI = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize("app_with_storage", [REDIS_URI], indirect=True)
def test_the_counter_is_kept_in_redis_where_every_process_sees_it(
    app_with_storage: Flask,
) -> None:
    if not redis_up():
        skip_or_fail("Redis is not reachable on 127.0.0.1:6379")
    app = app_with_storage
    prefix = app.config["RATELIMIT_KEY_PREFIX"]
    user_id = db.session.get(User, 1)
    assert user_id is not None
    try:
        for _ in range(10):
            assert_json_error(api_login(app, "alice", WRONG), 401)

        # What another process sees, through its own connection to Redis.
        other_process = FixedWindowRateLimiter(RedisStorage(REDIS_URI))
        stats = other_process.get_window_stats(
            parse("10 per 15 minutes"), prefix, "login-account", f"user-{user_id.id}"
        )
        assert stats.remaining == 0
        assert_site_throttled(site_login(app, "alice", PASSWORD))
    finally:
        connection = redis.Redis.from_url(REDIS_URI)
        keys = list(connection.scan_iter(f"*{prefix}*"))
        if keys:
            connection.delete(*keys)


@pytest.mark.parametrize("app_with_storage", ["redis://127.0.0.1:1/0"], indirect=True)
def test_with_the_storage_down_the_throttle_counts_in_memory(app_with_storage: Flask) -> None:
    app = app_with_storage
    for _ in range(10):
        assert_json_error(api_login(app, "alice", WRONG), 401)

    assert_api_throttled(api_login(app, "alice", PASSWORD))
