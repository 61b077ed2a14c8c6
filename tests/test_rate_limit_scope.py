"""Rate limits are resolved only where one can apply, and every limit still holds.

The limiter skips its before-request check while no limit applies to every
route, and its after-request and teardown work when the request checked no
limit (app/resilient_limiter.py); these tests fail if a route without a limit
starts resolving limits or building the limiter's per-request context again,
if a limited route stops counting or sending its headers, or if a limit added
for every route is then skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, request_finished
from flask.globals import request_ctx
from flask.testing import FlaskClient
from flask.wrappers import Response

from app.extensions import limiter


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The endpoints Flask-Limiter resolved limits for, in order."""
    calls: list[str | None] = []
    manager = limiter.limit_manager
    original = manager.resolve_limits

    def recording(app: Flask, endpoint: str | None = None, *args: Any, **kwargs: Any) -> Any:
        calls.append(endpoint)
        return original(app, endpoint, *args, **kwargs)

    monkeypatch.setattr(manager, "resolve_limits", recording)
    return calls


@pytest.mark.parametrize("path", ["/", "/api/health", "/api/posts", "/about"])
def test_a_route_without_a_limit_resolves_none(
    client: FlaskClient, resolved: list[str | None], path: str
) -> None:
    for _ in range(3):
        assert client.get(path).status_code == 200
    assert resolved == []


def test_a_limited_route_still_counts_until_its_limit(
    app: Flask, client: FlaskClient, resolved: list[str | None]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    allowed = int(str(app.config["RATELIMIT_LOGIN"]).split()[0])
    form = {"username": "nobody", "password": "wrong-password-1234"}
    statuses = [client.post("/auth/login", data=form).status_code for _ in range(allowed + 1)]
    assert statuses[:allowed] == [200] * allowed
    assert statuses[-1] == 429
    assert "accounts.login" in resolved


def test_a_limit_for_every_route_is_checked_again_before_each_request(
    client: FlaskClient, resolved: list[str | None]
) -> None:
    blueprint = client.application.blueprints["site"]
    limiter.limit("2 per minute")(blueprint)
    try:
        statuses = [client.get("/about").status_code for _ in range(3)]
    finally:
        limiter.limit_manager._blueprint_limits.pop(blueprint.name, None)
    assert statuses == [200, 200, 429]
    assert "site.about" in resolved


@pytest.fixture
def limiter_contexts(app: Flask) -> Iterator[list[bool]]:
    """Per request, once every after-request hook has run: did Flask-Limiter keep a context?"""
    seen: list[bool] = []

    def note(sender: Flask, response: Response, **_: Any) -> None:
        seen.append("_limiter_request_context" in vars(request_ctx._get_current_object()))

    request_finished.connect(note, app)
    yield seen
    request_finished.disconnect(note, app)


@pytest.mark.parametrize("path", ["/", "/api/health", "/about"])
def test_a_route_without_a_limit_builds_no_limiter_context(
    client: FlaskClient, limiter_contexts: list[bool], path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert limiter_contexts == [False]
    assert not [name for name, _ in response.headers.items() if name.startswith("X-RateLimit")]


def test_a_limited_route_still_sends_its_limit_headers(
    app: Flask, client: FlaskClient, limiter_contexts: list[bool]
) -> None:
    app.config["WTF_CSRF_ENABLED"] = False
    allowed = int(str(app.config["RATELIMIT_LOGIN"]).split()[0])
    form = {"username": "nobody", "password": "wrong-password-1234"}
    first = client.post("/auth/login", data=form)
    assert first.headers["X-RateLimit-Limit"] == str(allowed)
    assert first.headers["X-RateLimit-Remaining"] == str(allowed - 1)
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    for _ in range(allowed - 1):
        client.post("/auth/login", data=form)
    refused = client.post("/auth/login", data=form)
    assert refused.status_code == 429
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert int(refused.headers["Retry-After"]) > 0
    assert limiter_contexts[0] is True
