"""Posts' Markdown rendered to sanitised HTML and a plain-text excerpt (app/post_rendering.py).

The HTML is checked as a browser would read it: parsed, then every element,
attribute and URL compared with what may appear, not searched for strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

import pytest

from app.post_rendering import (
    ALLOWED_SCHEMES,
    ALLOWED_TAGS,
    ELLIPSIS,
    EXCERPT_MAX,
    LINK_REL,
    is_allowed_url,
    render,
    sanitise,
)

# What each element may carry, and the only value of class.
ALLOWED_ATTRIBUTES = {"a": {"href", "title", "rel", "class"}, "ol": {"start"}}
ALLOWED_CLASSES = {"image-link"}


@dataclass
class Element:
    tag: str
    attributes: dict[str, str | None]


class ParsedHtml(HTMLParser):
    """Every element, comment and other markup of an HTML fragment, as a browser parses it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.others: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.others.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.others.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.others.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.others.append(f"declaration {data!r}")


def parse(html: str) -> ParsedHtml:
    parsed = ParsedHtml()
    parsed.feed(html)
    parsed.close()
    return parsed


def scheme_a_browser_sees(url: str) -> str | None:
    """The scheme of ``url`` as the WHATWG URL parser finds it; None for a relative URL.

    Browsers strip leading and trailing spaces and control characters, and drop
    tabs and newlines anywhere, before they look for the scheme.
    """
    url = url.strip("".join(map(chr, range(0x21))))
    url = re.sub(r"[\t\n\r]", "", url)
    found = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", url)
    return found.group(1).lower() if found else None


def unsafe_parts(html: str) -> list[str]:
    """Everything in ``html`` a post must not hold; empty when it is safe."""
    parsed = parse(html)
    problems = list(parsed.others)
    for element in parsed.elements:
        if element.tag not in ALLOWED_TAGS:
            problems.append(f"element <{element.tag}>")
        allowed = ALLOWED_ATTRIBUTES.get(element.tag, set())
        for name, value in element.attributes.items():
            if name not in allowed:
                problems.append(f"attribute {name} on <{element.tag}>")
            elif name == "href":
                scheme = scheme_a_browser_sees(value or "")
                if scheme is not None and scheme not in ALLOWED_SCHEMES:
                    problems.append(f"URL {value!r}")
            elif name == "class" and value not in ALLOWED_CLASSES:
                problems.append(f"class {value!r}")
        if element.tag == "a" and element.attributes.get("rel") != LINK_REL:
            problems.append(f"link without rel={LINK_REL!r}: {element.attributes}")
    return problems


# Markdown meant to run script, load something, or break out of the markup.
XSS_PAYLOADS = [
    # Raw HTML: shown as text.
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="https://example.org" onclick="alert(1)">click</a>',
    '<p style="background:url(javascript:alert(1))">styled</p>',
    "<style>body { display: none }</style>",
    '<object data="javascript:alert(1)"></object>',
    '<base href="javascript:/">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<!-- <script>alert(1)</script> -->",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "<div>\n\n<script>alert(1)</script>\n\n</div>",
    # Inline links to other schemes, spelt every way.
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](jav&#x61;script:alert(1))",
    "[click](&#106;avascript:alert(1))",
    "[click](&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1))",
    "[click](javascript&colon;alert(1))",
    "[click](javascript&#58;alert(1))",
    "[click](<javascript:alert(1)>)",
    "[click](<java\tscript:alert(1)>)",
    "[click](java%0ascript:alert(1))",
    "[click](java\\script:alert(1))",
    "[click](\\javascript:alert(1))",
    "[click](\x01javascript:alert(1))",
    "[click]( javascript:alert(1))",
    "[click](javascript\u200b:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](file:///etc/passwd)",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[click](DATA:text/html,<script>alert(1)</script>)",
    # Autolinks and bare URLs.
    "<javascript:alert(1)>",
    "<JAVASCRIPT:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    '<http://example.org/"onmouseover="alert(1)>',
    'http://example.org/"><script>alert(1)</script>',
    "www.example.org/<script>alert(1)</script>",
    "javascript:alert(1)",
    # Reference definitions.
    "[x]: javascript:alert(1)\n\n[click][x]",
    "[click][x]\n\n[x]: <javascript:alert(1)> 'title'",
    "[click]\n\n[click]: jav&#x61;script:alert(1)",
    '[x]: https://example.org "a" onmouseover="alert(1)"\n\n[x]',
    '[x]: https://example.org "a\\" onmouseover=\\"alert(1)"\n\n[x]',
    # Titles and alt text breaking out of their attribute.
    '[a](https://example.org "t\\" onmouseover=\\"alert(1)")',
    "[a](https://example.org 'x\" onmouseover=\"alert(1)')",
    '[a](https://example.org" onmouseover="alert(1))',
    '![x" onerror="alert(1)](https://example.org/a.png)',
    '![x](https://example.org/a.png "t\\" onerror=\\"alert(1)")',
    # Images: never an <img>, and no other scheme as a link either.
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](data:image/png;base64,iVBORw0KGgo=)",
    # Nested forms.
    "**[click](javascript:alert(1))**",
    "*[**bold**](vbscript:msgbox(1))*",
    "[![img](https://example.org/a.png)](javascript:alert(1))",
    "[[inner](javascript:alert(1))](https://example.org)",
    "[outer [inner](https://example.org)](javascript:alert(1))",
    "> - **[click](javascript:alert(1))**",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> [c](javascript:alert(1)) |",
    "# <script>alert(1)</script>",
    # Code: escaped text, whatever it holds.
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "    <script>alert(1)</script>",
    '```html" onload="alert(1)\n<b>x</b>\n```',
]


def test_there_are_at_least_thirty_payloads() -> None:
    assert len(set(XSS_PAYLOADS)) >= 30


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_no_payload_gets_script_a_foreign_scheme_or_a_stray_attribute_through(
    payload: str,
) -> None:
    html = render(payload).html

    assert unsafe_parts(html) == [], html


@pytest.mark.parametrize(
    "payload",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        '<a href="javascript:alert(1)">click</a>',
        "<!-- hidden -->",
    ],
)
def test_raw_html_is_shown_as_the_text_it_is(payload: str) -> None:
    parsed = parse(render(payload).html)

    assert [element.tag for element in parsed.elements] == ["p"]
    assert "".join(parsed.text).strip() == payload


@pytest.mark.parametrize(
    "payload",
    [
        "`<script>alert(1)</script>`",
        "```\n<script>alert(1)</script>\n```",
        "    <script>alert(1)</script>",
    ],
)
def test_code_keeps_its_text_escaped(payload: str) -> None:
    parsed = parse(render(payload).html)

    assert "code" in [element.tag for element in parsed.elements]
    assert "<script>alert(1)</script>" in "".join(parsed.text)


def test_the_checker_finds_what_it_looks_for() -> None:
    """The safety check above is not vacuous: unsafe HTML fails it."""
    assert unsafe_parts("<script>x</script>")
    assert unsafe_parts('<a href="java\tscript:x" rel="nofollow ugc noopener">x</a>')
    assert unsafe_parts('<a href=" JAVASCRIPT:x" rel="nofollow ugc noopener">x</a>')
    assert unsafe_parts('<a href="https://x" rel="nofollow ugc noopener" onclick="x">x</a>')
    assert unsafe_parts('<a href="https://x">no rel</a>')
    assert unsafe_parts('<p style="color: red">x</p>')
    assert unsafe_parts("<img src=x>")
    assert unsafe_parts("<!-- x -->")
    assert unsafe_parts('<p><a href="https://x" rel="nofollow ugc noopener">x</a></p>') == []


# --- What the Markdown makes ------------------------------------------------------------


def elements(markdown: str) -> list[Element]:
    return parse(render(markdown).html).elements


def links(markdown: str) -> list[dict[str, str | None]]:
    return [element.attributes for element in elements(markdown) if element.tag == "a"]


def test_commonmark_emphasis_code_lists_quotes_and_tables() -> None:
    markdown = (
        "Some *emphasis*, **strong**, ~~struck~~ and `code`.\n\n"
        "- one\n- two\n\n"
        "3. three\n\n"
        "> quoted\n\n"
        "---\n\n"
        "| a | b |\n|--:|:--|\n| 1 | 2 |\n"
    )
    tags = [element.tag for element in elements(markdown)]

    for tag in ("em", "strong", "s", "code", "ul", "li", "ol", "blockquote", "hr", "table", "td"):
        assert tag in tags, tag
    assert {"start": "3"} in [e.attributes for e in elements(markdown) if e.tag == "ol"]
    # The column alignment would be a style attribute, which the page's policy refuses.
    assert all(not element.attributes for element in elements(markdown) if element.tag == "td")


def test_links_keep_their_url_and_title_and_get_rel() -> None:
    assert links('[docs](https://example.org/a?b=1&c=2 "The docs")') == [
        {"href": "https://example.org/a?b=1&c=2", "title": "The docs", "rel": LINK_REL}
    ]
    assert links("[mail](mailto:ada@example.org)")[0]["href"] == "mailto:ada@example.org"
    assert links("[home](/users/ada)")[0]["href"] == "/users/ada"
    assert links("[x]: https://example.org/ref\n\nSee [x].")[0]["href"] == "https://example.org/ref"


def test_a_link_to_a_refused_scheme_stays_as_typed() -> None:
    parsed = parse(render("[click](javascript:alert(1))").html)

    assert [element.tag for element in parsed.elements] == ["p"]
    assert "".join(parsed.text).strip() == "[click](javascript:alert(1))"


def test_bare_urls_and_addresses_become_links_but_file_names_do_not() -> None:
    markdown = (
        "See https://example.org/page, www.example.net and ada@example.org; "
        "not wsgi.py, README.md or app/site.py."
    )
    hrefs = [link["href"] for link in links(markdown)]

    assert hrefs == ["https://example.org/page", "http://www.example.net", "mailto:ada@example.org"]


def test_an_image_is_a_link_to_it_labelled_with_its_alt_text() -> None:
    html = render('![A diagram](https://example.org/d.png "Title")').html

    assert [element.tag for element in parse(html).elements] == ["p", "a"]
    assert links('![A diagram](https://example.org/d.png "Title")') == [
        {
            "class": "image-link",
            "href": "https://example.org/d.png",
            "title": "Title",
            "rel": LINK_REL,
        }
    ]
    assert "A diagram" in "".join(parse(html).text)
    # Without alt text, the URL is the label.
    assert "https://example.org/e.png" in "".join(
        parse(render("![](https://example.org/e.png)").html).text
    )


def test_an_image_inside_a_link_is_the_links_text() -> None:
    assert links("[![Logo](https://example.org/logo.png)](https://example.org)") == [
        {"href": "https://example.org", "rel": LINK_REL}
    ]


def test_headings_start_below_the_pages_title() -> None:
    markdown = "# One\n\n## Two\n\n##### Five\n\n###### Six\n\nSetext\n======"
    tags = [element.tag for element in elements(markdown)]

    assert tags == ["h2", "h3", "h6", "h6", "h2"]


def test_the_excerpt_is_plain_text_of_every_block() -> None:
    markdown = (
        "# Title\n\nSome *emphasis* and [a link](https://example.org).\n\n"
        "- item\n\n![diagram](https://example.org/d.png)\n\n```\ncode()\n```"
    )

    assert render(markdown).excerpt == ("Title. Some emphasis and a link. item diagram code()")
    assert render("<b>not bold</b>").excerpt == "<b>not bold</b>"


def test_a_long_excerpt_is_cut_at_a_word_with_an_ellipsis() -> None:
    excerpt = render("word " * 200).excerpt

    assert len(excerpt) <= EXCERPT_MAX
    assert excerpt.endswith("word" + ELLIPSIS)
    one_long_word = render("x" * 1000).excerpt
    assert one_long_word == "x" * (EXCERPT_MAX - 1) + ELLIPSIS


def test_a_text_no_longer_than_the_limit_is_its_own_excerpt() -> None:
    text = "w" * EXCERPT_MAX

    assert render(text).excerpt == text


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://example.org", True),
        ("HTTP://example.org", True),
        ("mailto:ada@example.org", True),
        ("/posts/1", True),
        ("page?a=b:c", True),
        ("#part:two", True),
        ("//example.org/a:b", True),
        ("javascript:alert(1)", False),
        ("data:text/html,x", False),
        ("java%09script:alert(1)", False),
        ("%20javascript:alert(1)", False),
        ("ftp://example.org", False),
    ],
)
def test_allowed_urls(url: str, allowed: bool) -> None:
    assert is_allowed_url(url) is allowed


# --- The sanitiser alone: what it does if the parser ever let HTML through --------------

RAW_HTML = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<a href="JaVaScRiPt&#58;alert(1)">x</a>',
    '<a href="java&#9;script:alert(1)">x</a>',
    '<a href=" &#14;javascript:alert(1)">x</a>',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    '<a href="https://example.org" onmouseover="alert(1)" rel="opener">x</a>',
    '<p style="background:url(javascript:alert(1))">x</p>',
    '<iframe src="https://example.org"></iframe>',
    "<svg onload=alert(1)><circle /></svg>",
    "<!-- comment --><p>x</p>",
    '<form action="https://example.org"><input name="a"></form>',
    '<code class="language-js" id="x">x</code>',
    '<a class="evil image-link" href="/x">x</a>',
]


@pytest.mark.parametrize("html", RAW_HTML)
def test_the_sanitiser_keeps_only_the_allowlist(html: str) -> None:
    assert unsafe_parts(sanitise(html)) == []
