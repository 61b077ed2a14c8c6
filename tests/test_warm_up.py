"""What a server process builds at start (app/warm_up.py), before its first request."""

from __future__ import annotations

import time

import pytest

from app import create_app
from app.api import operations
from app.warm_up import FIRST_PAGES, warm_up


def test_warm_up_builds_the_lazy_parts_without_touching_a_database(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing listens on port 1: any attempt to connect would fail or wait.
    monkeypatch.setenv("TEST_DATABASE_URL", "mysql+pymysql://nobody@127.0.0.1:1/none")
    app = create_app("testing")
    started = time.monotonic()
    warm_up(app)
    assert time.monotonic() - started < 5
    assert "openapi_document" in app.extensions
    compiled = {template.name for template in app.jinja_env.cache.values()}  # type: ignore[union-attr]
    assert compiled == set(FIRST_PAGES)
    described = [operations.operation_of(view) for view in app.view_functions.values()]
    for operation in filter(None, described):
        assert "query_loader" in vars(operation)
        assert all("dumper" in vars(reply) for reply in operation.replies.values())
