"""Behind load balancers: the client's address and scheme, and only from trusted proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask, url_for
from flask import request as current_request
from flask.testing import FlaskClient

from app.proxies import TrustedProxies
from config import ConfigError
from tests.helpers import PASSWORD, SiteSession
from tests.test_accounts import is_logged_in

pytestmark = pytest.mark.db

BALANCER = "10.0.0.5"
SECOND_BALANCER = "10.0.1.7"
ATTACKER = "203.0.113.66"
VICTIM = "198.51.100.20"
WRONG = "not the password at all"

AppFactory = Callable[[str | None], Flask]


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> AppFactory:
    """The testing app with TRUSTED_PROXIES set to ``trusted`` (None: unset), and alice."""

    def make(trusted: str | None) -> Flask:
        if trusted is not None:
            monkeypatch.setenv("TRUSTED_PROXIES", trusted)
        app: Flask = request.getfixturevalue("app")
        request.getfixturevalue("user")

        @app.get("/test/who-am-i")
        def who_am_i() -> dict[str, object]:
            return {
                "address": current_request.remote_addr,
                "scheme": current_request.scheme,
                "secure": current_request.is_secure,
                "host": current_request.host,
                "home": url_for("site.index", _external=True),
            }

        return app

    return make


def client_via(app: Flask, peer: str, forwarded_for: str | None = None) -> FlaskClient:
    """A client whose requests come from ``peer``, saying they are for ``forwarded_for``."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    if forwarded_for is not None:
        client.environ_base["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return client


def who(client: FlaskClient, **headers: str) -> dict[str, object]:
    response = client.get("/test/who-am-i", headers=headers)
    assert response.status_code == 200
    return dict(response.get_json())


def fail_logins_until_refused(client: FlaskClient, limit: int = 5) -> None:
    for _ in range(limit):
        assert SiteSession(client).login("alice", WRONG).status_code == 200
    assert SiteSession(client).login("alice", WRONG).status_code == 429


@pytest.mark.parametrize("trusted", [None, BALANCER], ids=["off", "peer-not-trusted"])
def test_a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(
    make_app: AppFactory, trusted: str | None
) -> None:
    app = make_app(trusted)
    client = client_via(app, ATTACKER, forwarded_for=VICTIM)

    seen = who(client, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})

    assert seen == {
        "address": ATTACKER,
        "scheme": "http",
        "secure": False,
        "host": "localhost",
        "home": "http://localhost/",
    }


@pytest.mark.parametrize("trusted", [None, BALANCER], ids=["off", "peer-not-trusted"])
def test_changing_the_forwarded_for_does_not_escape_the_log_in_limit(
    make_app: AppFactory, trusted: str | None
) -> None:
    app = make_app(trusted)
    for number in range(5):
        fake = client_via(app, ATTACKER, forwarded_for=f"192.0.2.{number}")
        assert SiteSession(fake).login("alice", WRONG).status_code == 200

    another_fake = client_via(app, ATTACKER, forwarded_for="192.0.2.99")
    assert SiteSession(another_fake).login("alice", WRONG).status_code == 429


def test_behind_a_trusted_balancer_the_client_is_the_address_it_names(
    make_app: AppFactory,
) -> None:
    app = make_app(f"{BALANCER}, 10.0.1.0/24")

    # The balancer appends the address it saw; what the client wrote itself is
    # further left and ignored.
    assert who(client_via(app, BALANCER, f"{ATTACKER}"))["address"] == ATTACKER
    assert who(client_via(app, BALANCER, f"{VICTIM}, {ATTACKER}"))["address"] == ATTACKER
    # Two balancers in a row, both trusted: the rightmost untrusted hop is the client.
    assert who(client_via(app, BALANCER, f"{VICTIM}, {ATTACKER}, {SECOND_BALANCER}")) == {
        "address": ATTACKER,
        "scheme": "http",
        "secure": False,
        "host": "localhost",
        "home": "http://localhost/",
    }
    # A client pretending to be a balancer gains nothing either.
    assert who(client_via(app, BALANCER, f"{SECOND_BALANCER}, {ATTACKER}"))["address"] == ATTACKER
    # No header (the balancer's own health check): the balancer is the client.
    assert who(client_via(app, BALANCER))["address"] == BALANCER
    # Garbage where an address belongs: the balancer is all that is known.
    assert who(client_via(app, BALANCER, "unknown"))["address"] == BALANCER


def test_the_scheme_comes_from_a_trusted_balancer_and_the_host_never_does(
    make_app: AppFactory,
) -> None:
    app = make_app(BALANCER)
    client = client_via(app, BALANCER, VICTIM)

    seen = who(client, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})

    assert seen == {
        "address": VICTIM,
        "scheme": "https",
        "secure": True,
        "host": "localhost",
        "home": "https://localhost/",
    }
    # The nearest proxy's value counts; a value that is no scheme changes nothing.
    assert who(client, **{"X-Forwarded-Proto": "https, http"})["scheme"] == "http"
    assert who(client, **{"X-Forwarded-Proto": "gopher"})["scheme"] == "http"


def test_forms_work_over_https_ended_at_the_balancer(make_app: AppFactory) -> None:
    """Flask-WTF checks the Referer on secure requests: it must match the site, and does."""
    app = make_app(BALANCER)
    client = client_via(app, BALANCER, VICTIM)
    client.environ_base["HTTP_X_FORWARDED_PROTO"] = "https"

    client.environ_base["HTTP_REFERER"] = "https://localhost/auth/login"
    assert SiteSession(client).login("alice", PASSWORD).status_code == 302
    assert is_logged_in(client)

    stranger = client_via(app, BALANCER, ATTACKER)
    stranger.environ_base["HTTP_X_FORWARDED_PROTO"] = "https"
    assert SiteSession(stranger).login("alice", PASSWORD).status_code == 400  # no Referer


def test_one_clients_failed_log_ins_do_not_lock_out_another_behind_the_balancer(
    make_app: AppFactory,
) -> None:
    """The issue's scenario: every request arrives from the balancer's address."""
    app = make_app(BALANCER)
    fail_logins_until_refused(client_via(app, BALANCER, ATTACKER))

    victim = client_via(app, BALANCER, VICTIM)
    assert SiteSession(victim).login("alice", PASSWORD).status_code == 302
    assert is_logged_in(victim)


def test_without_trusted_proxies_everyone_behind_the_balancer_is_one_client(
    make_app: AppFactory,
) -> None:
    """What the setting fixes (and why it matters that it is off unless set)."""
    app = make_app(None)
    fail_logins_until_refused(client_via(app, BALANCER, ATTACKER))

    victim = client_via(app, BALANCER, VICTIM)
    assert SiteSession(victim).login("alice", PASSWORD).status_code == 429


def test_a_session_stays_with_its_client_behind_the_balancer(make_app: AppFactory) -> None:
    """The session fingerprint uses the client's address, so another client cannot reuse it."""
    app = make_app(BALANCER)
    owner = client_via(app, BALANCER, VICTIM)
    assert SiteSession(owner).login("alice", PASSWORD).status_code == 302
    cookie = owner.get_cookie("session")
    assert cookie is not None

    thief = client_via(app, BALANCER, ATTACKER)
    thief.set_cookie("session", cookie.value)

    assert not is_logged_in(thief)
    assert is_logged_in(owner)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2", "not how many there are"),
        ("balancer.internal", "'balancer.internal', which is not an address"),
        ("10.0.0.5, 10.0.0.300", "'10.0.0.300', which is not an address"),
        # A zone takes any text, a line break too: it would reach the rendered vhost.
        ("fe80::1%eth0", "an address with a zone"),
        ("10.0.0.5/8", "did you mean the address 10.0.0.5 or the network 10.0.0.0/8"),
    ],
)
def test_trusted_proxies_must_be_addresses(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    from app import create_app

    monkeypatch.setenv("TRUSTED_PROXIES", value)
    with pytest.raises(ConfigError, match=f"^TRUSTED_PROXIES.*{message}"):
        create_app("testing")


def test_networks_and_ipv6_are_understood() -> None:
    def app(environ: dict[str, object], start_response: object) -> Iterator[bytes]:
        yield str(environ["REMOTE_ADDR"]).encode()

    middleware = TrustedProxies(app, ["10.0.1.0/24", "2001:db8::/64"])  # type: ignore[arg-type]

    assert middleware.is_trusted("10.0.1.200")
    assert middleware.is_trusted("::ffff:10.0.1.200")
    assert middleware.is_trusted("2001:db8::1")
    assert not middleware.is_trusted("10.0.2.1")
    assert not middleware.is_trusted("2001:db8:1::1")
    assert middleware.client_address("2001:db8::1", "2001:db8:ffff::9") == "2001:db8:ffff::9"
    # A dual-stack balancer writes IPv4 clients as mapped addresses: each stays itself.
    assert middleware.client_address("10.0.1.1", "::ffff:1.2.3.4") == "1.2.3.4"
    assert middleware.client_address("10.0.1.1", "::ffff:5.6.7.8") == "5.6.7.8"
