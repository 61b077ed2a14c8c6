"""Posts are written in Markdown (CommonMark): their HTML and their plain-text excerpt.

``render`` parses a body once and returns both. The HTML is what a post's page
and the API's ``body_html`` show as they are, so it is made safe here, twice
over:

- The parser writes no HTML of its author's: raw HTML in the text (``<b>``,
  ``<script>``, comments) is shown as text, and code is escaped. Links are made
  only to http, https and mailto URLs, or relative ones: any other scheme
  (``javascript:``, ``data:``, ``vbscript:``) leaves the text as it was typed.
- Its output then goes through an allowlist sanitiser (nh3, the Rust ammonia
  library), which keeps only the tags and attributes a post's markup uses and
  only those URL schemes, and gives every link ``rel="nofollow ugc noopener"``.
  Were the parser to let something through, this still removes it.

And it fits the page it goes into:

- Images are links to the image, labelled with its alt text: the page's
  Content Security Policy loads images from this site alone, and loading
  someone else's image would tell its server who reads the post and when.
- Headings move one level down (``#`` is ``<h2>``; ``######`` stays ``<h6>``):
  the page's title is its one ``<h1>``.
- A bare URL becomes a link when it starts with a scheme or ``www.``; a bare
  name that only looks like a domain (``wsgi.py``, ``README.md``) does not.
- Tables and ~~strikethrough~~ are on; line breaks inside a paragraph are
  CommonMark's (a single newline joins lines, a blank line starts a paragraph).

After changing what is rendered, run ``flask posts render --all``
(``app/stored_renderings.py``): posts keep what was rendered when they were
written, and so do profiles' bios, which use this parser and sanitiser with
fewer kinds of block (``app/bio_rendering.py``).

Posts are rendered when written, so a server process that only serves reads
never renders: the Markdown and sanitiser libraries, and the parser and
sanitiser built from them (some 4 MiB of a process), are loaded on a process's
first render, not with this module. That first post, preview or bio waits
70-100 ms longer (the imports, and linkify-it compiling its patterns).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nh3
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML
    from markdown_it.rules_core import StateCore
    from markdown_it.token import Token
    from markdown_it.utils import EnvType, OptionsDict

# The longest excerpt, ellipsis included (the lists showed 280 characters before).
EXCERPT_MAX = 280
ELLIPSIS = "\u2026"

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "strong",
        "em",
        "s",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    }
)
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
# The one class the markup carries: the stylesheet marks image links with it.
IMAGE_LINK_CLASS = "image-link"
LINK_REL = "nofollow ugc noopener"
# The highest heading a post may hold, and the lowest HTML has.
TOP_HEADING = 2
LOWEST_HEADING = 6

# What comes before the first ":", "/", "?" or "#" of a URL, and which of them it is.
_FIRST_SEGMENT = re.compile(r"^([^:/?#]*)([:/?#]?)")
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*")


@dataclass(frozen=True)
class RenderedPost:
    """A post's body as sanitised HTML and as a short plain-text excerpt."""

    html: str
    excerpt: str


def render(markdown: str) -> RenderedPost:
    """The sanitised HTML and the plain-text excerpt of the Markdown ``markdown``."""
    parser = _post_parser()
    env: EnvType = {}
    tokens = parser.parse(markdown, env)
    html = parser.renderer.render(tokens, parser.options, env)
    return RenderedPost(html=sanitise(html), excerpt=_excerpt(tokens))


def sanitise(html: str) -> str:
    """``html`` with only the allowed tags, attributes and URL schemes, and rel on every link."""
    return _post_sanitiser().clean(html)


def is_allowed_url(url: str) -> bool:
    """A link may go to an http, https or mailto URL, or a relative one (no scheme).

    A colon before any "/", "?" or "#" ends a scheme; what is not a scheme
    there (``java%09script:``, the parser's encoding of a tab) is refused
    rather than passed on as a relative path.
    """
    segment = _FIRST_SEGMENT.match(url)
    if segment is None or segment.group(2) != ":":
        return True
    scheme = segment.group(1)
    return _SCHEME.fullmatch(scheme) is not None and scheme.lower() in ALLOWED_SCHEMES


def _image_as_link(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    idx: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    from markdown_it.common.utils import escapeHtml

    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    if _inside_link(tokens, idx):
        # A link cannot hold another: the image's text stays part of the outer one.
        return escapeHtml(alt)
    src = str(token.attrGet("src") or "")
    title = token.attrGet("title")
    title_attribute = f' title="{escapeHtml(str(title))}"' if title else ""
    return (
        f'<a class="{IMAGE_LINK_CLASS}" href="{escapeHtml(src)}"{title_attribute}>'
        f"{escapeHtml(alt or src)}</a>"
    )


def _inside_link(tokens: Sequence[Token], idx: int) -> bool:
    depth = 0
    for token in tokens[:idx]:
        if token.type == "link_open":
            depth += 1
        elif token.type == "link_close":
            depth -= 1
    return depth > 0


def _demote_headings(state: StateCore) -> None:
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            level = int(token.tag[1:]) + TOP_HEADING - 1
            token.tag = f"h{min(level, LOWEST_HEADING)}"


def _unlink_guesses(state: StateCore) -> None:
    """Keep only the links an author meant.

    linkify-it also links bare names that end in a country's domain, and
    Python files (``wsgi.py``) and Markdown files (``README.md``) are such
    names on this site. A bare link stays when its text starts with a scheme
    or ``www.``, or it is an email address. A link whose destination was
    refused (empty ``href``) is no link either.
    """
    for block in state.tokens:
        if block.type != "inline" or not block.children:
            continue
        block.children = list(_without_unwanted_links(block.children))


def _without_unwanted_links(tokens: list[Token]) -> Iterator[Token]:
    dropped_depths: list[int] = []
    depth = 0
    for index, token in enumerate(tokens):
        if token.type == "link_open":
            depth += 1
            if _unwanted(token, tokens[index + 1 : index + 2]):
                dropped_depths.append(depth)
                continue
        elif token.type == "link_close":
            depth -= 1
            if dropped_depths and dropped_depths[-1] == depth + 1:
                dropped_depths.pop()
                continue
        yield token


def _unwanted(link_open: Token, following: list[Token]) -> bool:
    href = str(link_open.attrGet("href") or "")
    if not href:
        return True
    if link_open.markup != "linkify" or href.startswith("mailto:"):
        return False
    shown = following[0].content.lower() if following else ""
    return not (shown.startswith("www.") or "://" in shown)


def _excerpt(tokens: Sequence[Token]) -> str:
    """The words of the post, without markup, cut at a word to at most EXCERPT_MAX characters."""
    text = " ".join(" ".join(_block_texts(tokens)).split())
    if len(text) <= EXCERPT_MAX:
        return text
    cut = text[: EXCERPT_MAX - len(ELLIPSIS) + 1]
    # Back to the last whole word, unless that throws most of the text away
    # (one very long word, such as a URL).
    space = cut.rfind(" ")
    cut = cut[:space] if space > EXCERPT_MAX // 2 else cut[:-1]
    return cut.rstrip(" ,;:") + ELLIPSIS


def _block_texts(tokens: Sequence[Token]) -> Iterator[str]:
    """The text of each paragraph, heading, list item, table cell and code block, in order."""
    in_heading = False
    for token in tokens:
        if token.type == "heading_open":
            in_heading = True
        elif token.type == "heading_close":
            in_heading = False
        elif token.type in ("fence", "code_block"):
            yield token.content
        elif token.type == "inline":
            text = "".join(_inline_text(token.children or [])).strip()
            # Run into the next sentence, a heading would read as part of it.
            if in_heading and text and text[-1] not in ".!?:;":
                text += "."
            yield text


def _inline_text(tokens: Sequence[Token]) -> Iterator[str]:
    for token in tokens:
        if token.type in ("text", "code_inline"):
            yield token.content
        elif token.type in ("softbreak", "hardbreak"):
            yield " "
        elif token.children:
            # An image's alt text.
            yield from _inline_text(token.children)


def markdown_parser(without: Sequence[str] = ()) -> MarkdownIt:
    """The posts' Markdown parser, less the block rules named in ``without`` (e.g. "heading").

    Text that a rule left out would have parsed stays text. Everything else (the
    link allowlist, images as links, bare URLs, headings one level down) is the posts'.
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False})
    # markdown-it refuses only javascript:, vbscript:, file: and most data:
    # URLs; ours is an allowlist. A refused destination makes no link.
    md.validateLink = is_allowed_url  # type: ignore[method-assign]
    md.enable(["table", "strikethrough", "linkify"])
    if without:
        md.disable(list(without))
    md.core.ruler.after("block", "demote_headings", _demote_headings)
    # After linkify has made its links, before adjacent text is joined.
    md.core.ruler.after("linkify", "unlink_guesses", _unlink_guesses)
    md.add_render_rule("image", _image_as_link)
    return md


def sanitiser(tags: frozenset[str] = ALLOWED_TAGS) -> nh3.Cleaner:
    """The posts' sanitiser, keeping only ``tags`` (a subset of ALLOWED_TAGS)."""
    import nh3

    return nh3.Cleaner(
        tags=set(tags),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items() if tag in tags},
        allowed_classes={"a": {IMAGE_LINK_CLASS}},
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


@cache
def _post_parser() -> MarkdownIt:
    return markdown_parser()


@cache
def _post_sanitiser() -> nh3.Cleaner:
    return sanitiser()
