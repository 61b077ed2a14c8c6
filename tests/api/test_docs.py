"""The API's documentation page: Swagger UI from the repository, with no inline code."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

from app.api.docs import DOCS_CSP
from app.security_headers import PAGE_CSP
from tests.helpers import text

SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


def policy(header: str) -> dict[str, list[str]]:
    directives = (part.split() for part in header.split(";") if part.strip())
    return {name: sources for name, *sources in directives}


def test_the_docs_page_loads_swagger_ui_and_its_starter_from_this_site_only(
    client: FlaskClient,
) -> None:
    response = client.get("/api/docs")

    page = text(response)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    scripts = SCRIPT.findall(page)
    sources = [re.search(r'src="([^"]*)"', attributes) for attributes, _ in scripts]
    assert [source.group(1).split("?")[0] for source in sources if source] == [
        "/static/vendor/swagger-ui/swagger-ui-bundle.js",
        "/static/js/api-docs.js",
    ]
    # No inline script at all: each is a file, and none has a body.
    assert all(source for source in sources)
    assert all(body.strip() == "" for _, body in scripts)
    assert 'href="/static/vendor/swagger-ui/swagger-ui.css' in page
    assert 'data-openapi-url="/api/openapi.json"' in page
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page), "nothing from another site"
    for asset in re.findall(r'(?:src|href)="(/static/[^"]*)"', page):
        served = client.get(asset)
        served.close()
        assert served.status_code == 200, asset


def test_the_docs_page_policy_adds_only_what_swagger_ui_needs(client: FlaskClient) -> None:
    header = client.get("/api/docs").headers["Content-Security-Policy"]
    # Asked again: a kept copy of the page would have lost its own policy.
    assert client.get("/api/docs").headers["Content-Security-Policy"] == header

    assert header == DOCS_CSP
    docs, site = policy(header), policy(PAGE_CSP)
    assert "'unsafe-inline'" not in header
    assert "'unsafe-eval'" not in header
    assert docs["script-src"] == docs["style-src"] == ["'self'"]
    assert docs["connect-src"] == ["'self'"]
    assert docs["img-src"] == ["'self'", "data:"]
    added = ("connect-src", "img-src")
    assert {name: sources for name, sources in docs.items() if name not in added} == {
        name: sources for name, sources in site.items() if name not in added
    }
    # Every other page keeps the site's own policy.
    assert client.get("/about").headers["Content-Security-Policy"] == PAGE_CSP


def test_the_docs_page_is_not_an_operation_of_the_document(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()

    assert "/api/docs" not in document["paths"]


def test_every_page_links_to_the_docs_in_its_footer(app: Flask, client: FlaskClient) -> None:
    for path in ("/", "/about", "/no-such-page"):
        footer = text(client.get(path)).split('<footer class="site-footer">')[1]
        assert '<a href="/api/docs">API docs</a>' in footer, path
