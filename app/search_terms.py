"""Which words of a search the full-text index is asked for, and which it cannot find.

A search finds the posts that hold every word of it. Words are the runs of
letters, digits and underscores, the way both databases cut text into words:
everything else (``%``, quotes, hyphens, the operators of either database's
query syntax) only separates words, so it is searched literally in the one
sense that matters: it never widens or changes the search.

MariaDB's InnoDB index leaves out words shorter than ``innodb_ft_min_token_size``
(3) or longer than ``innodb_ft_max_token_size`` (84) characters, and the
words of its default stopword list; a required word it left out makes the
whole search find nothing. Those words are set aside here, on SQLite too,
so a search finds the same posts on both databases and the visitor is told
which words were not searched.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# InnoDB's defaults (innodb_ft_min_token_size, innodb_ft_max_token_size); a
# server configured otherwise keeps finding the same posts, as long as its
# values are no stricter than these.
MIN_WORD_LENGTH = 3
MAX_WORD_LENGTH = 84
# InnoDB's default stopword list (INFORMATION_SCHEMA.INNODB_FT_DEFAULT_STOPWORD).
STOPWORDS = frozenset(
    {
        "a", "about", "an", "are", "as", "at", "be", "by", "com", "de", "en", "for",
        "from", "how", "i", "in", "is", "it", "la", "of", "on", "or", "that", "the",
        "this", "to", "und", "was", "what", "when", "where", "who", "will", "with", "www",
    }
)  # fmt: skip
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class SearchTerms:
    """The words of a search, lower-cased, each once, in the order they were typed."""

    searched: tuple[str, ...]
    """Every post found holds each of these (in its title or text)."""
    ignored: tuple[str, ...]
    """Too short, too long or too common for the index: not searched."""


def search_terms(query: str) -> SearchTerms:
    """Split ``query`` into the words to search for and the words set aside."""
    searched: list[str] = []
    ignored: list[str] = []
    # NFC: an accent typed as a separate combining mark is no word character.
    for match in _WORD.finditer(unicodedata.normalize("NFC", query)):
        word = match.group().lower()
        if word in searched or word in ignored or not word.strip("_"):
            # Repeated, or underscores only: as punctuation.
            continue
        if is_indexed(word):
            searched.append(word)
        else:
            ignored.append(word)
    return SearchTerms(tuple(searched), tuple(ignored))


def is_indexed(word: str) -> bool:
    """Would MariaDB's full-text index hold ``word`` (lower case)?"""
    return MIN_WORD_LENGTH <= len(word) <= MAX_WORD_LENGTH and word not in STOPWORDS
