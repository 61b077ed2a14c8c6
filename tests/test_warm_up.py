"""What a server process builds at start (app/warm_up.py), before its first request."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from app import create_app
from app.api import operations
from app.warm_up import FIRST_PAGES, warm_up
from tests.helpers import PROJECT


def test_warm_up_builds_the_lazy_parts_without_touching_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on port 1: any attempt to connect would fail or wait.
    monkeypatch.setenv("TEST_DATABASE_URL", "mysql+pymysql://nobody@127.0.0.1:1/none")
    app = create_app("testing")
    started = time.monotonic()
    warm_up(app)
    assert time.monotonic() - started < 5
    # Left to the first request for it (app/api/openapi.py says why).
    assert "openapi_document" not in app.extensions
    compiled = {template.name for template in app.jinja_env.cache.values()}  # type: ignore[union-attr]
    assert compiled == set(FIRST_PAGES)
    described = [operations.operation_of(view) for view in app.view_functions.values()]
    for operation in filter(None, described):
        assert "query_loader" in vars(operation)
        assert all("dumper" in vars(reply) for reply in operation.replies.values())


@pytest.mark.slow
def test_a_served_process_leaves_what_it_built_at_start_out_of_the_garbage_collector() -> None:
    """wsgi_app.wsgi freezes the objects of the started app (app/warm_up.py says why)."""
    probe = "import gc, runpy; runpy.run_path('wsgi_app.wsgi'); print(gc.get_freeze_count())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env["FLASK_CONFIG"] = "testing"
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    # Every module, the app and its caches: tens of thousands of objects.
    assert int(result.stdout) > 20_000


# Libraries only some requests need, left out of a server process's start: a
# process may never serve such a request, and each costs memory in every process.
LOADED_ON_FIRST_USE = (
    "markdown_it",  # posts and bios are rendered when written (app/post_rendering.py)
    "linkify_it",
    "nh3",
    "apispec",  # the OpenAPI document is built on the first request for it
    "sqlite3",  # a site on MariaDB never opens SQLite (app/sqlite_types.py)
    "xml.etree.ElementTree",  # Atom feeds (app/feeds.py)
)


@pytest.mark.slow
def test_a_served_process_loads_what_only_some_requests_need_on_first_use() -> None:
    probe = (
        "import runpy, sys; runpy.run_path('wsgi_app.wsgi'); "
        f"print(sorted(m for m in {LOADED_ON_FIRST_USE!r} if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "TEST_"))}
    # A server database, as in production (nothing listens on port 1: nothing connects).
    env.update(FLASK_CONFIG="testing", TEST_DATABASE_URL="mysql+pymysql://nobody@127.0.0.1:1/none")
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=PROJECT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
