"""Two Apache + mod_wsgi nodes behind an Apache front, on loopback, sharing MariaDB and Redis.

Everything goes through the front (TLS, mod_proxy_balancer, no stickiness); the
front's test-only header names the node that answered, and each node's own log
confirms it. One topology serves the whole module; the failover drill, which
kills a node, runs last.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable, Iterator

import pymysql
import pytest
from sqlalchemy import make_url

from scripts.private_apache import missing_prerequisites, system_venv
from scripts.topology import (
    Browser,
    Reply,
    Topology,
    failover_drill,
    wait_for_request_ids,
)
from tests.helpers import redis_up, skip_or_fail

pytestmark = [pytest.mark.apache, pytest.mark.slow]

PASSWORD = "correct horse battery"
# The MariaDB server the suite may create databases on (make test's TEST_MARIADB_URL).
DEFAULT_SERVER = "mysql+pymysql://root@127.0.0.1/test"
# The front's retry (flaskapp-front.conf.j2): a dead node gets a live request at most
# this often, and each such attempt is passed on to a live node.
FRONT_RETRY_SECONDS = 10


def _server_and_database() -> tuple[str, str]:
    url = make_url(os.environ.get("TEST_MARIADB_URL") or DEFAULT_SERVER)
    return url.set(database=None).render_as_string(hide_password=False), (
        f"{url.database or 'test'}_topology"
    )


@pytest.fixture(scope="module")
def topology() -> Iterator[Topology]:
    problem = missing_prerequisites()
    if problem:
        skip_or_fail(f"topology suite: {problem}")
    server, database = _server_and_database()
    try:
        url = make_url(server)
        pymysql.connect(
            host=url.host,
            port=url.port or 3306,
            user=url.username,
            password=url.password or "",
            connect_timeout=3,
        ).close()
    except pymysql.MySQLError as error:
        skip_or_fail(f"topology suite: MariaDB at {url.host} does not answer: {error}")
    if not redis_up():
        skip_or_fail("topology suite: Redis on 127.0.0.1:6379 does not answer")
    built = Topology(venv=system_venv(), database_server=server, database=database)
    try:
        built.start()
    except Exception:
        built.stop()
        raise
    try:
        yield built
    finally:
        built.stop()


@pytest.fixture(scope="module")
def members(topology: Topology) -> tuple[str, str]:
    """The front's names for node a and node b."""
    return topology.nodes["a"].member, topology.nodes["b"].member


def other(members: tuple[str, str], member: str) -> str:
    first, second = members
    assert member in members, f"answered by {member!r}, not by a node"
    return second if member == first else first


def served_by(member: str, send: Callable[[], Reply], tries: int = 8) -> Reply:
    """Send a safe request until the node ``member`` answers it; its answer."""
    for _ in range(tries):
        reply = send()
        if reply.member == member:
            return reply
    raise AssertionError(f"{member} answered none of {tries} requests")


def next_goes_to(browser: Browser, member: str, members: tuple[str, str]) -> None:
    """Line the balancer up so that (taking turns, as byrequests does) the next request
    goes to ``member``: a cheap request until the other node answers one."""
    served_by(other(members, member), lambda: browser.request("/api/health"))


def register(topology: Topology, source: str, name: str) -> Browser:
    browser = Browser(topology.front, source)
    reply = browser.submit(
        "/auth/register",
        {
            "username": name,
            "email": f"{name}@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert reply.status == 302, reply.text[:500]
    return browser


def new_name() -> str:
    return f"u{secrets.token_hex(4)}"


def log_in(browser: Browser, name: str, password: str = PASSWORD) -> Reply:
    return browser.submit("/auth/login", {"login": name, "password": password})


def test_both_nodes_upgraded_the_empty_database_at_once(topology: Topology) -> None:
    # Each node ran its own `flask db upgrade` at the same moment on an empty
    # database; without the migration lock one failed with "Table 'users' already exists".
    failed = {
        name: result.stderr.strip().splitlines()[-3:]
        for name, result in topology.upgrades.items()
        if result.returncode
    }
    assert failed == {}
    assert len(topology.upgrades) == 2


def test_a_login_stays_valid_on_both_nodes(topology: Topology, members: tuple[str, str]) -> None:
    name = new_name()
    register(topology, "127.0.0.5", name)
    browser = Browser(topology.front, "127.0.0.5")
    assert log_in(browser, name).status == 302

    answers = [browser.request("/account") for _ in range(4)]

    assert [reply.status for reply in answers] == [200] * 4
    assert all(name in reply.text for reply in answers)
    assert {reply.member for reply in answers} == set(members)
    # The nodes' own word: each logged a request this session made.
    for node in topology.nodes.values():
        ids = {reply.request_id for reply in answers if reply.member == node.member}
        assert wait_for_request_ids(node, ids) == ids


def test_a_form_from_one_node_posts_to_the_other(
    topology: Topology, members: tuple[str, str]
) -> None:
    name = new_name()
    browser = register(topology, "127.0.0.5", name)
    for _ in range(6):
        token, form = browser.csrf_token("/posts/new")
        posted = browser.post_form(
            "/posts/new",
            {"title": f"Across nodes {name}", "body": "Form on one, post on the other."},
            token,
        )
        if posted.member != form.member:
            break
    assert {form.member, posted.member} == set(members), "every POST reached the form's node"
    assert posted.status == 302, posted.text[:500]
    assert "/posts/" in posted.headers["Location"]


def test_failed_logins_spread_over_both_nodes_are_counted_together(
    topology: Topology, members: tuple[str, str]
) -> None:
    name = new_name()
    register(topology, "127.0.0.5", name)
    guesser = Browser(topology.front, "127.0.0.7")
    token, _ = guesser.csrf_token("/auth/login")

    guesses = [
        guesser.post_form("/auth/login", {"login": name, "password": "wrong guess"}, token)
        for _ in range(5)
    ]
    sixth = guesser.post_form("/auth/login", {"login": name, "password": "wrong guess"}, token)

    assert [reply.status for reply in guesses] == [200] * 5
    assert {reply.member for reply in guesses} == set(members)
    assert sixth.status == 429
    # The limit is the guesser's address (X-Forwarded-For from the front), not the
    # front's: someone else still logs in, through either node.
    owner = Browser(topology.front, "127.0.0.8")
    assert log_in(owner, name).status == 302
    assert name in owner.request("/account").text


def test_a_post_made_through_one_node_is_at_once_on_the_others_pages(
    topology: Topology, members: tuple[str, str]
) -> None:
    name = new_name()
    browser = register(topology, "127.0.0.5", name)
    reader = Browser(topology.front, "127.0.0.9")
    pages = ("/", f"/users/{name}", "/api/posts")
    # Both nodes have the lists cached (in the shared Redis) before the post exists.
    for member in members:
        for page in pages:
            assert served_by(member, lambda page=page: reader.request(page)).status == 200

    title = f"Fresh everywhere {secrets.token_hex(4)}"
    token, _ = browser.csrf_token("/posts/new")
    posted = browser.post_form("/posts/new", {"title": title, "body": "Seen on every node."}, token)
    assert posted.status == 302, posted.text[:500]

    elsewhere = other(members, posted.member)
    for page in pages:
        reply = served_by(elsewhere, lambda page=page: reader.request(page))
        assert reply.status == 200
        assert title in reply.text, f"{page} on {elsewhere} does not show the new post"
    api = json.loads(served_by(elsewhere, lambda: reader.request("/api/posts")).body)
    assert api["items"][0]["title"] == title


def test_a_token_made_on_one_node_and_revoked_on_the_other_is_refused_everywhere(
    topology: Topology, members: tuple[str, str]
) -> None:
    name = new_name()
    register(topology, "127.0.0.5", name)
    client = Browser(topology.front, "127.0.0.10")
    basic = "Basic " + base64.b64encode(f"{name}:{PASSWORD}".encode()).decode()
    json_body = {"Content-Type": "application/json"}
    for _ in range(5):
        made = client.request(
            "/api/tokens", "POST", {"Authorization": basic, **json_body}, b'{"label": "nodes"}'
        )
        assert made.status == 201, made.text
        bearer = {"Authorization": f"Bearer {json.loads(made.body)['token']}"}
        works = served_by(
            made.member, lambda bearer=bearer: client.request("/api/me", headers=bearer)
        )
        assert works.status == 200, works.text
        next_goes_to(client, other(members, made.member), members)
        revoked = client.request("/api/tokens", "DELETE", bearer)
        assert revoked.status == 204, revoked.text
        if revoked.member != made.member:
            break
    assert {made.member, revoked.member} == set(members), "every revocation reached the maker"

    refused = served_by(made.member, lambda: client.request("/api/me", headers=bearer))
    assert refused.status == 401, refused.text


def test_killing_a_node_under_load_loses_only_its_requests_in_flight(
    topology: Topology, members: tuple[str, str]
) -> None:
    figures = failover_drill(topology, "b", clients=4, before=1.5, dead=12)
    print(f"\nfailover: {figures}")

    # At most one request per client can have been on the killed node, and none
    # started after it was gone may fail: the front passes those to node a.
    assert figures.lost <= min(4, figures.in_flight), figures
    assert figures.lost_after_kill == 0, figures
    assert figures.requests > 100, figures
    # The front tried the dead node within moments of the kill, took it out, and
    # after that let at most one live request through per retry interval.
    assert figures.seconds_until_taken_out < 2, figures
    assert figures.attempts_while_dead <= 12 / FRONT_RETRY_SECONDS + 2, figures
    # Back in use within two health checks (hcinterval 5 s, hcpasses 2) or one retry
    # interval, plus the first request's wait for the app to load.
    assert figures.seconds_until_used_again < 20, figures
