"""MariaDB stopped or frozen behind the real Apache + mod_wsgi: the app's 503, not Apache's."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from app.errors import MESSAGES
from scripts.private_apache import SITE_NAME, PrivateApache
from tests.apache.conftest import Client, error_lines, start_instance
from tests.private_mariadb import (
    PrivateMariaDB,
    server_for_suite,
)

pytestmark = pytest.mark.apache

# Short timeouts keep the test quick: a frozen server costs each probing request one.
TIMEOUT_SECONDS = 2
LATENCY_BOUND = TIMEOUT_SECONDS + 4.0
RECOVERY_BOUND = 10.0


@pytest.fixture(scope="module")
def mariadb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateMariaDB]:
    yield from server_for_suite(tmp_path_factory, "database outage under Apache")


@pytest.fixture(scope="module")
def db_apache(mariadb: PrivateMariaDB) -> Iterator[PrivateApache]:
    """The production vhost on the private MariaDB (its schema built by flask db upgrade)."""
    environment = {
        "DATABASE_URL": mariadb.url,
        "DATABASE_CONNECT_TIMEOUT": str(TIMEOUT_SECONDS),
        "DATABASE_READ_TIMEOUT": str(TIMEOUT_SECONDS),
    }
    yield from start_instance("", environment=environment)


def seconds_until_recovered(web: Client) -> float:
    """Seconds until ten requests in a row (spread over the daemon processes) succeed."""
    started = time.monotonic()
    while [web.request("/api/users/1").status for _ in range(10)] != [404] * 10:
        assert time.monotonic() - started < RECOVERY_BOUND, "the app did not recover"
        time.sleep(0.2)
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("begin", "end"),
    [(PrivateMariaDB.stop, PrivateMariaDB.start), (PrivateMariaDB.pause, PrivateMariaDB.resume)],
    ids=["stopped", "frozen"],
)
def test_the_app_answers_503_through_apache_while_the_database_is_out(
    db_apache: PrivateApache,
    mariadb: PrivateMariaDB,
    begin: Callable[[PrivateMariaDB], None],
    end: Callable[[PrivateMariaDB], None],
) -> None:
    web = Client(db_apache)
    assert web.request("/api/users/1").status == 404
    begin(mariadb)
    try:
        replies = []
        for path in ("/posts/1", "/api/users/1", "/api/health", "/posts/1", "/api/users/1"):
            started = time.monotonic()
            replies.append((path, web.request(path), time.monotonic() - started))
        about = web.request("/about")
    finally:
        end(mariadb)

    for path, reply, seconds in replies:
        assert reply.status == 503, (path, reply.text[:300])
        assert reply.headers["Retry-After"] == "2"
        assert seconds < LATENCY_BOUND, (path, seconds)
        if path.startswith("/api/"):
            assert reply.headers.get_content_type() == "application/json"
            assert json.loads(reply.body)["status"] in (503, "unhealthy")
        else:
            # The app's page in the site's layout, not Apache's "Service Unavailable".
            assert MESSAGES[503] in reply.text
            assert '<a class="site-name" href="/">Flask Site</a>' in reply.text
    assert about.status == 200
    seconds_until_recovered(web)

    log = (db_apache.root / "logs" / f"{SITE_NAME}-error.log").read_text(errors="replace")
    assert "database unavailable on GET /posts/1" in log
    assert "Traceback" not in log
    assert error_lines(db_apache) == []
