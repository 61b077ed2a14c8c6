"""Rules for user input shared by the HTML forms and the JSON API."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


def normalize_email(address: str) -> str:
    """The stored form of an email address: validated syntax, lower case.

    Returns the trimmed, lower-cased input unchanged when it is not a valid
    address, so lookups still work; validation reports the error separately.
    """
    address = address.strip()
    try:
        address = validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        pass
    return address.lower()


def email_error(address: str) -> str | None:
    """Why ``address`` is not a usable email address, or None if it is."""
    try:
        validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        return str(exc)
    return None
