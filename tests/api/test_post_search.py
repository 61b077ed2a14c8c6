"""GET /api/posts?q=: the posts holding every word, paginated like every list, never cached."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.api.helpers import (
    PAGE_KEYS,
    POST_KEYS,
    assert_json_error,
    create_post,
    field_errors,
    link_parts,
)
from tests.helpers import fresh
from tests.test_search import searches_held_up

pytestmark = pytest.mark.db


def search(client: FlaskClient, **arguments: Any) -> dict[str, Any]:
    fresh()
    response = client.get("/api/posts", query_string=arguments)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def titles(body: dict[str, Any]) -> list[str]:
    return [item["title"] for item in body["items"]]


def test_q_lists_the_posts_holding_every_word_newest_first(client: FlaskClient, token: str) -> None:
    create_post(client, token, "Old lantern", "Oil and wick.")
    create_post(client, token, "Candle", "No oil here, a lantern elsewhere.")
    create_post(client, token, "New lantern", "Battery.")

    body = search(client, q="Lantern")

    assert set(body) == PAGE_KEYS
    assert titles(body) == ["New lantern", "Candle", "Old lantern"]
    for item in body["items"]:
        assert set(item) == POST_KEYS
    assert (body["total"], body["pages"]) == (3, 1)
    assert titles(search(client, q="lantern oil")) == ["Candle", "Old lantern"]


def test_order_relevance_puts_the_best_match_first(client: FlaskClient, token: str) -> None:
    create_post(client, token, "Twice", "Lantern, lantern.")
    create_post(client, token, "Once", "A lantern and more words than the other one has.")
    for number in range(4):
        create_post(client, token, f"Other {number}", "Something else.")

    assert titles(search(client, q="lantern", order="relevance")) == ["Twice", "Once"]
    assert titles(search(client, q="lantern", order="newest")) == ["Once", "Twice"]


def test_pages_and_links_keep_the_query_and_the_order(client: FlaskClient, token: str) -> None:
    for number in range(5):
        create_post(client, token, f"Lantern {number}")
    create_post(client, token, "Candle")

    body = search(client, q="lantern %", per_page=2, page=2, order="relevance")

    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (2, 2, 5, 3)
    assert len(body["items"]) == 2
    expected = {"q": ["lantern %"], "order": ["relevance"], "per_page": ["2"]}
    for name, page in (("self", "2"), ("first", "1"), ("last", "3"), ("next", "3"), ("prev", "1")):
        assert link_parts(body["links"][name]) == ("/api/posts", {**expected, "page": [page]})
    followed = client.get(body["links"]["next"]).get_json()
    assert len(followed["items"]) == 1


def test_a_page_past_the_results_is_empty_and_links_back(client: FlaskClient, token: str) -> None:
    create_post(client, token, "Lantern")

    body = search(client, q="lantern", page=5)

    assert (body["items"], body["total"], body["pages"]) == ([], 1, 1)
    assert link_parts(body["links"]["prev"])[1]["page"] == ["1"]


@pytest.mark.parametrize("query", ["%", "_", '"', "' OR 1=1 --", "of the", "a b c"])
def test_a_query_with_no_searchable_word_finds_nothing(
    client: FlaskClient, token: str, query: str
) -> None:
    create_post(client, token, "100% of the lantern_oil", "'quoted' a b c")

    body = search(client, q=query)

    assert (body["items"], body["total"], body["pages"]) == ([], 0, 1)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Give one or more words to search for."),
        (" \t\u200b ", "Give one or more words to search for."),
        ("x" * 201, "Search for at most 200 characters."),
        (" ".join(["word"] * 17), "Search for at most 16 words."),
    ],
    ids=["empty", "blank", "too long", "too many words"],
)
def test_an_empty_or_overlong_query_is_a_400_naming_q(
    client: FlaskClient, query: str, message: str
) -> None:
    response = client.get("/api/posts", query_string={"q": query})

    assert field_errors(response) == {"q": [message]}
    assert response.get_json()["message"] == "The query string is invalid."


def test_the_longest_query_allowed_is_searched(client: FlaskClient, token: str) -> None:
    create_post(client, token, "Lantern")
    sixteen = " ".join(["lantern"] * 15 + ["x" * (200 - 15 * 8)])

    assert len(sixteen) == 200
    assert search(client, q=sixteen)["total"] == 0
    assert search(client, q=" ".join(["lantern"] * 16))["total"] == 1


def test_an_unknown_order_is_a_400_naming_order(client: FlaskClient) -> None:
    response = client.get("/api/posts?q=lantern&order=oldest")

    assert list(field_errors(response)) == ["order"]


def test_a_search_is_never_served_from_the_page_cache(client: FlaskClient, token: str) -> None:
    create_post(client, token, "Lantern")
    listed = client.get("/api/posts")
    assert listed.headers.get("ETag"), "the list is kept: the comparison means something"

    first = client.get("/api/posts?q=lantern")
    again = client.get("/api/posts?q=lantern", headers={"If-None-Match": listed.headers["ETag"]})

    assert first.status_code == again.status_code == 200
    assert "ETag" not in first.headers
    assert "ETag" not in again.headers


@pytest.mark.mariadb_only
def test_a_search_stopped_at_the_time_limit_is_a_503_in_the_error_shape(
    app: Flask, client: FlaskClient, token: str
) -> None:
    create_post(client, token, "Lantern")

    with searches_held_up(app):
        response = client.get("/api/posts?q=lantern")

    body = assert_json_error(response, 503)
    assert body["message"].startswith("This search took too long and was stopped.")
    assert response.headers["Retry-After"] == "30"
    assert client.get("/api/posts").status_code == 200
