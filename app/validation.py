"""Every rule for what people may type, in one place.

Models (column sizes), HTML forms, API schemas, the OpenAPI document's patterns
and the ``flask`` commands all read these; none states a rule of its own.
"""

from __future__ import annotations

import contextlib
import re

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

USERNAME_MIN = 3
USERNAME_MAX = 32
USERNAME_CHARACTERS = r"[A-Za-z0-9_.-]+"
# The same rule, anchored, as the OpenAPI document states it.
USERNAME_PATTERN = f"^{USERNAME_CHARACTERS}$"
EMAIL_MAX = 254
PASSWORD_MIN = 12
PASSWORD_MAX = 128
TITLE_MAX = 200
BODY_MAX = 10_000
# An API token's label: a short, single-line name its owner recognises it by.
TOKEN_LABEL_MAX = 64
DEFAULT_TOKEN_LABEL = "API token"
# A profile's display name (one line) and bio (Markdown); either may be empty.
DISPLAY_NAME_MAX = 50
BIO_MAX = 500


def is_valid_username(username: str) -> bool:
    """Only the allowed characters, start to end.

    fullmatch, not a "$"-anchored match: "$" also matches before a final "\n",
    and "ab\n" would then be stored stripped as the too-short "ab".
    """
    return re.fullmatch(USERNAME_CHARACTERS, username) is not None


def normalize_username(username: str) -> str:
    """The form under which usernames are compared: case does not count."""
    return username.strip().lower()


def normalize_email(address: str) -> str:
    """The stored form of an email address: validated syntax, lower case.

    Returns the trimmed, lower-cased input unchanged when it is not a valid
    address, so lookups still work; validation reports the error separately.
    """
    address = address.strip()
    with contextlib.suppress(EmailNotValidError):
        address = validate_email(address, check_deliverability=False).normalized
    return address.lower()


def _any_case(word: str) -> str:
    # JSON Schema patterns take no flags: "test" becomes "[Tt][Ee][Ss][Tt]".
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def email_pattern() -> str:
    """What the OpenAPI document adds to ``format: email``: no special-use domain.

    ``format: email`` alone admits ``x@host.test``, which ``email_error`` refuses
    (email-validator's special-use names: test, invalid, local, ...). Built from the
    same list, so the two cannot drift apart.
    """
    names = "|".join(_any_case(name) for name in SPECIAL_USE_DOMAIN_NAMES)
    # (?![\s\S]) is "at the very end" in Python and ECMAScript alike; Python's "$"
    # also matches before a final newline.
    return f"^(?![\\s\\S]*@(?:[^@]*\\.)?(?:{names})(?![\\s\\S]))[\\s\\S]*$"


def email_error(address: str) -> str | None:
    """Why ``address`` is not a usable email address, or None if it is."""
    try:
        validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None


# Characters no title or body may hold: the C0 controls (tab, newline and carriage
# return aside, and those only in multi-line text), DEL, the C1 controls (U+0085
# included), and the bidirectional embedding, override and isolate controls, which
# make text display in another order than it was written in. Written with \x and
# \u escapes only, so the same text is a Python and an ECMAScript (OpenAPI) class.
CONTROL_CHARACTERS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
LINE_BREAKS = r"\t\n\r"
# What shows nothing on a page: whitespace and the zero-width characters.
BLANK_CHARACTERS = (
    r" \t\n\x0b\x0c\r\xa0\u1680\u2000-\u200d\u2028\u2029\u202f\u205f\u2060\u3000\ufeff"
)


def _forbidden(multiline: bool) -> str:
    return CONTROL_CHARACTERS if multiline else CONTROL_CHARACTERS + LINE_BREAKS


def text_pattern(multiline: bool) -> str:
    """The rule ``text_problem`` applies, as an anchored pattern for the OpenAPI document.

    At least one visible character, and no forbidden one anywhere.
    """
    forbidden = _forbidden(multiline)
    return f"^[^{forbidden}]*[^{forbidden}{BLANK_CHARACTERS}][^{forbidden}]*$"


def text_problem(value: str, multiline: bool) -> str | None:
    """Why ``value`` cannot be a title (one line) or a body (``multiline``), or None.

    Control characters are refused rather than stripped: the person sees what was
    wrong and nothing they wrote is silently changed.
    """
    problem = optional_text_problem(value, multiline)
    if problem is None and is_blank(value):
        return "Must not be blank."
    return problem


def optional_text_pattern(multiline: bool) -> str:
    """The rule ``optional_text_problem`` applies, as an anchored pattern for the document."""
    return f"^[^{_forbidden(multiline)}]*$"


def optional_text_problem(value: str, multiline: bool) -> str | None:
    """Why ``value`` cannot be text that may be left empty (a display name, a bio), or None.

    The text rule without its "not blank": blank text stands for none.
    """
    found = re.search(f"[{_forbidden(multiline)}]", value)
    if found is None:
        return None
    char = found.group()
    if char in "\t\n\r":
        return "Must be a single line, without tabs or line breaks."
    return (
        f"Contains an invisible control character (U+{ord(char):04X}) at position "
        f"{found.start() + 1}; remove it."
    )


def is_blank(value: str) -> bool:
    """Does ``value`` show nothing on a page (empty, whitespace or zero-width characters)?"""
    return re.fullmatch(f"[{BLANK_CHARACTERS}]*", value) is not None


def display_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a display name, or None: one line, no control characters."""
    return optional_text_problem(value, multiline=False)


def bio_problem(value: str) -> str | None:
    """Why ``value`` cannot be a bio, or None: lines of text, no control characters."""
    return optional_text_problem(value, multiline=True)


def normalize_display_name(value: str | None) -> str | None:
    """The stored form of a display name: trimmed of what shows nothing; None when blank.

    Zero-width characters count as blank too, so a name that shows nothing on
    the page is no name rather than an empty heading.
    """
    if value is None:
        return None
    trimmed = re.sub(f"^[{BLANK_CHARACTERS}]+|[{BLANK_CHARACTERS}]+$", "", value)
    return trimmed or None


def normalize_bio(value: str | None) -> str | None:
    """The stored form of a bio: as typed, but None when blank (Markdown ignores the rest)."""
    if value is None or is_blank(value):
        return None
    return value


def token_label_problem(value: str) -> str | None:
    """Why ``value`` cannot label an API token, or None: the one-line text rule."""
    return text_problem(value, multiline=False)


# A new password (a change or a reset) must not be the one it replaces.
SAME_PASSWORD = "The new password must differ from the current one."


def password_change_problem(current: str, new: str) -> str | None:
    """Why ``new`` cannot replace the (already verified) password ``current``, or None.

    Length is checked with the other field rules; this is what only a change can get wrong.
    """
    if new == current:
        return SAME_PASSWORD
    return None


def confirms_username(typed: str, username: str) -> bool:
    """Does ``typed`` name the account ``username``, ignoring case and surrounding spaces?"""
    return bool(typed.strip()) and normalize_username(typed) == normalize_username(username)


# A search: bounded so that one query costs the database a bounded amount of
# work (every word is one more lookup in the full-text index).
SEARCH_QUERY_MAX = 200
SEARCH_WORDS_MAX = 16
SEARCH_QUERY_EMPTY = "Give one or more words to search for."


def search_query_words(value: str) -> list[str]:
    """The words of a search as a person typed them: runs of visible characters."""
    return re.findall(f"[^{BLANK_CHARACTERS}]+", value)


def search_query_problem(value: str) -> str | None:
    """Why ``value`` cannot be searched for (blank, too long, too many words), or None.

    A query of punctuation only is no problem: it finds nothing.
    """
    if len(value) > SEARCH_QUERY_MAX:
        return f"Search for at most {SEARCH_QUERY_MAX} characters."
    words = search_query_words(value)
    if not words:
        return SEARCH_QUERY_EMPTY
    if len(words) > SEARCH_WORDS_MAX:
        return f"Search for at most {SEARCH_WORDS_MAX} words."
    return None


def search_query_pattern() -> str:
    """The words part of ``search_query_problem`` as an anchored pattern for the document.

    One to SEARCH_WORDS_MAX runs of visible characters, with blanks around and
    between them; the length is the document's maxLength.
    """
    blank, word = f"[{BLANK_CHARACTERS}]", f"[^{BLANK_CHARACTERS}]"
    return f"^{blank}*(?:{word}+{blank}+){{0,{SEARCH_WORDS_MAX - 1}}}{word}+{blank}*$"
