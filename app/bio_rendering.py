"""A profile's bio: a few lines of Markdown, rendered to sanitised HTML.

The posts' parser and sanitiser (``app/post_rendering.py``), with the same
safety: no raw HTML, links only to http, https, mailto or relative URLs, each
with its rel, images shown as links. A bio has fewer kinds of block, though:
paragraphs and lists, with emphasis, strikethrough, code spans, line breaks
and links inside them. No headings, tables, code blocks, quotes or rules; the
Markdown for them shows as typed. The bio sits in the profile's header, under
the page's one ``<h1>`` and above the list of posts whose titles are ``<h2>``:
a heading in it would read as a section of the page, and a table or a code
block does not fit a short header on a phone.

After changing what is rendered (here or in the posts' rules, which bios
share), run ``flask posts render --all``, which renders bios again too
(``app/stored_renderings.py``).
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from . import post_rendering

if TYPE_CHECKING:
    import nh3
    from markdown_it import MarkdownIt

# The block rules a bio goes without (markdown-it's names for them).
LEFT_OUT_BLOCKS = ("heading", "lheading", "table", "code", "fence", "blockquote", "hr")
BIO_TAGS = frozenset({"p", "br", "strong", "em", "s", "code", "ul", "ol", "li", "a"})


def render(markdown: str) -> str:
    """The sanitised HTML of the bio ``markdown``."""
    return _bio_sanitiser().clean(_bio_parser().render(markdown))


# Built on the first bio rendered, as the posts' are (app/post_rendering.py says why).
@cache
def _bio_parser() -> MarkdownIt:
    return post_rendering.markdown_parser(without=LEFT_OUT_BLOCKS)


@cache
def _bio_sanitiser() -> nh3.Cleaner:
    return post_rendering.sanitiser(BIO_TAGS)
