"""A profile's bio rendered to sanitised HTML (app/bio_rendering.py): the posts' safety,
fewer kinds of block. Checked on the parsed HTML, as the posts' rendering is."""

from __future__ import annotations

import pytest

from app.bio_rendering import BIO_TAGS, render
from app.post_rendering import ALLOWED_TAGS, LINK_REL
from tests.test_post_rendering import XSS_PAYLOADS, parse, unsafe_parts


def tags(markdown: str) -> list[str]:
    return [element.tag for element in parse(render(markdown)).elements]


def test_a_bio_allows_fewer_tags_than_a_post() -> None:
    assert BIO_TAGS < ALLOWED_TAGS


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_gets_script_a_foreign_scheme_or_a_stray_attribute_through(
    payload: str,
) -> None:
    html = render(payload)

    assert unsafe_parts(html) == [], html
    assert set(tags(payload)) <= BIO_TAGS, html


def test_paragraphs_lists_emphasis_code_and_links_are_kept() -> None:
    markdown = (
        "Writes *Python* and **SQL**, ~~Perl~~, `make test`.\n\n"
        "- one\n- two\n\n"
        "3. three\n\n"
        "[my site](https://example.org) ada@example.org"
    )

    html = render(markdown)

    assert tags(markdown) == [
        "p",
        "em",
        "strong",
        "s",
        "code",
        "ul",
        "li",
        "li",
        "ol",
        "li",
        "p",
        "a",
        "a",
    ]
    assert '<ol start="3">' in html
    links = [e.attributes for e in parse(html).elements if e.tag == "a"]
    assert [link["href"] for link in links] == ["https://example.org", "mailto:ada@example.org"]
    assert {link["rel"] for link in links} == {LINK_REL}


@pytest.mark.parametrize(
    ("markdown", "shown"),
    [
        ("# Heading", "# Heading"),
        ("Heading\n===", "Heading\n==="),
        ("> quoted", "&gt; quoted"),
        ("---", "---"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "| a | b |\n|---|---|\n| 1 | 2 |"),
    ],
)
def test_headings_quotes_rules_and_tables_show_as_typed(markdown: str, shown: str) -> None:
    assert render(markdown) == f"<p>{shown}</p>\n"


def test_code_blocks_are_no_blocks_and_their_html_stays_text() -> None:
    for markdown in ("    <b>indented</b>", "```\n<b>fenced</b>\n```"):
        html = render(markdown)

        assert "pre" not in tags(markdown), html
        assert "&lt;b&gt;" in html


def test_a_script_and_a_javascript_link_are_neutralised() -> None:
    html = render("<script>alert(1)</script> [click](javascript:alert(1))")

    assert tags("<script>alert(1)</script> [click](javascript:alert(1))") == ["p"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "[click](javascript:alert(1))" in html


def test_an_image_is_a_link_to_it() -> None:
    html = render("![my cat](https://example.org/cat.png)")

    [link] = [e.attributes for e in parse(html).elements if e.tag == "a"]
    assert (link["class"], link["href"]) == ("image-link", "https://example.org/cat.png")
    assert "img" not in tags("![my cat](https://example.org/cat.png)")
