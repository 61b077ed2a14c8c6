"""Marshmallow schemas: what the API accepts and returns, and the OpenAPI document's source."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates,
    validates_schema,
)

from ..account_changes import Notice
from ..search import SearchOrder
from ..search_terms import MIN_WORD_LENGTH
from ..validation import (
    BIO_MAX,
    BODY_MAX,
    DEFAULT_TOKEN_LABEL,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    SEARCH_QUERY_MAX,
    SEARCH_WORDS_MAX,
    TITLE_MAX,
    TOKEN_LABEL_MAX,
    USERNAME_MAX,
    USERNAME_MIN,
    USERNAME_PATTERN,
    email_error,
    email_pattern,
    is_valid_username,
    normalize_email,
    optional_text_pattern,
    optional_text_problem,
    search_query_pattern,
    search_query_problem,
    text_pattern,
    text_problem,
    token_label_problem,
)

# Any page past this is empty; the bound keeps (page - 1) * per_page a valid SQL OFFSET.
MAX_PAGE = 2**31 - 1

USERNAME_MESSAGE = "Use only letters, digits, underscore, dot and hyphen."
BODY_DESCRIPTION = (
    "The text, in Markdown (CommonMark, with tables and strikethrough). Raw HTML in it "
    "is shown as text."
)
DISPLAY_NAME_DESCRIPTION = (
    "The name the profile shows above the username; null when none. One line, "
    "trimmed of surrounding blanks; blank text clears it."
)
BIO_DESCRIPTION = (
    "A few words about the user, in Markdown: paragraphs and lists, with emphasis, "
    "strikethrough, code and links (headings, tables, code blocks and quotes show as "
    "typed; raw HTML as text); null when none. Blank text clears it."
)
BIO_HTML_DESCRIPTION = (
    "The bio rendered to HTML and sanitised, as the profile page shows it: safe to insert "
    "into a page as it is. Only p, br, strong, em, s, code, ul, ol, li and a; links carry "
    'rel="nofollow ugc noopener" and go to http, https and mailto URLs or relative ones; '
    "images are links to the image. Null when there is no bio; follows every change of it."
)


def _username_characters(value: str) -> None:
    if not is_valid_username(value):
        raise ValidationError(USERNAME_MESSAGE)


def _text_field(required: bool, maximum: int, multiline: bool) -> fields.String:
    """A title (one line) or body: the shared text rule, stated as the document's pattern."""

    def follows_text_rule(value: str) -> None:
        problem = text_problem(value, multiline)
        if problem:
            raise ValidationError(problem)

    metadata = {"pattern": text_pattern(multiline)}
    if multiline:
        metadata["description"] = BODY_DESCRIPTION
    return fields.String(
        required=required,
        validate=[validate.Length(min=1, max=maximum), follows_text_rule],
        metadata=metadata,
    )


class AuthorSchema(Schema):
    id = fields.Integer(required=True)
    username = fields.String(required=True)


def _optional_text_field(maximum: int, multiline: bool, description: str) -> fields.String:
    """Text that may be left out, blank or null (a display name, a bio), stated as the
    document's pattern: the text rule without its "not blank"."""

    def follows_text_rule(value: str) -> None:
        problem = optional_text_problem(value, multiline)
        if problem:
            raise ValidationError(problem)

    return fields.String(
        allow_none=True,
        validate=[validate.Length(max=maximum), follows_text_rule],
        metadata={"pattern": optional_text_pattern(multiline), "description": description},
    )


class UserSchema(Schema):
    """The user, as anyone may see them: never the email address."""

    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(
        required=True, allow_none=True, metadata={"description": DISPLAY_NAME_DESCRIPTION}
    )
    bio = fields.String(required=True, allow_none=True, metadata={"description": BIO_DESCRIPTION})
    bio_html = fields.String(
        required=True,
        allow_none=True,
        dump_only=True,
        metadata={"description": BIO_HTML_DESCRIPTION},
    )
    created_at = fields.AwareDateTime(required=True)


class MeSchema(UserSchema):
    """You: the authenticated user, with your email address."""

    email = fields.String(required=True)


class UserCreateSchema(Schema):
    username = fields.String(
        required=True,
        validate=[
            validate.Length(min=USERNAME_MIN, max=USERNAME_MAX),
            _username_characters,
        ],
        # The rule _username_characters applies, stated for the OpenAPI document.
        metadata={"pattern": USERNAME_PATTERN, "example": "ada_l"},
    )
    email = fields.String(
        required=True,
        validate=validate.Length(max=EMAIL_MAX),
        metadata={"format": "email", "pattern": email_pattern(), "example": "ada@example.com"},
    )
    password = fields.String(
        required=True,
        load_only=True,
        validate=validate.Length(min=PASSWORD_MIN, max=PASSWORD_MAX),
    )

    @validates("email")
    def _valid_email(self, value: str, **kwargs: Any) -> None:
        problem = email_error(value)
        if problem:
            raise ValidationError(problem)

    @post_load
    def _normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["email"] = normalize_email(data["email"])
        return data


class PostSchema(Schema):
    """The post."""

    id = fields.Integer(required=True)
    title = fields.String(required=True)
    body = fields.String(required=True, metadata={"description": BODY_DESCRIPTION})
    body_html = fields.String(
        required=True,
        dump_only=True,
        metadata={
            "description": "The body rendered to HTML and sanitised: safe to insert into a "
            'page as it is. Links carry rel="nofollow ugc noopener" and go to http, https '
            "and mailto URLs or relative ones; images are links to the image; headings start "
            "at h2. Follows every change of body."
        },
    )
    author = fields.Nested(AuthorSchema, required=True)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


def _title(required: bool) -> fields.String:
    return _text_field(required, TITLE_MAX, multiline=False)


def _body(required: bool) -> fields.String:
    return _text_field(required, BODY_MAX, multiline=True)


class PostCreateSchema(Schema):
    title = _title(required=True)
    body = _body(required=True)


class PostUpdateSchema(Schema):
    """A PATCH: any subset of the fields, at least one."""

    # Added to the document's schema: an empty object is answered with 400.
    openapi_extra = {"minProperties": 1}

    # Not required: the document must not demand both.
    title = _title(required=False)
    body = _body(required=False)

    @post_load
    def _something_to_change(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if not data:
            raise ValidationError("Give at least one of: title, body.")
        return data


class PageArgsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(
        load_default=1,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": "Page number, from 1."},
    )
    per_page = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=100),
        metadata={"description": "Items per page."},
    )


def _follows_search_rule(value: str) -> None:
    problem = search_query_problem(value)
    if problem:
        raise ValidationError(problem)


class PostListArgsSchema(PageArgsSchema):
    """A page of posts: all of them, or a search."""

    q = fields.String(
        validate=_follows_search_rule,
        metadata={
            # The rule _follows_search_rule applies, stated for the document.
            "minLength": 1,
            "maxLength": SEARCH_QUERY_MAX,
            "pattern": search_query_pattern(),
            "description": "Search: only the posts whose title or body holds every word, "
            f"1 to {SEARCH_WORDS_MAX} words, at most {SEARCH_QUERY_MAX} characters. Words are "
            "letters, digits and underscores; anything else (%, quotes, operators) only "
            f"separates them. Words shorter than {MIN_WORD_LENGTH} characters and very common "
            'ones ("the", "with") are not searched.',
            "example": "apache daemon",
        },
    )
    order = fields.Enum(
        SearchOrder,
        by_value=True,
        load_default=SearchOrder.NEWEST,
        metadata={
            "description": "With q: newest first, or the best match first (newest first among "
            "equals). Without q the list is always newest first."
        },
    )


class LinksSchema(Schema):
    self = fields.String(required=True)
    first = fields.String(required=True)
    last = fields.String(required=True)
    next = fields.String(required=True, allow_none=True)
    prev = fields.String(required=True, allow_none=True)


class _PageSchema(Schema):
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)
    links = fields.Nested(LinksSchema, required=True)


class UserPageSchema(_PageSchema):
    """A page of users."""

    items = fields.List(fields.Nested(UserSchema), required=True)


class PostPageSchema(_PageSchema):
    """A page of posts."""

    items = fields.List(fields.Nested(PostSchema), required=True)


def _follows_token_label_rule(value: str) -> None:
    problem = token_label_problem(value)
    if problem:
        raise ValidationError(problem)


class TokenCreateSchema(Schema):
    """What a new token is called; the whole body may be left out."""

    label = fields.String(
        load_default=DEFAULT_TOKEN_LABEL,
        validate=[validate.Length(min=1, max=TOKEN_LABEL_MAX), _follows_token_label_rule],
        metadata={
            "pattern": text_pattern(multiline=False),
            "description": f'A name to recognise the token by; "{DEFAULT_TOKEN_LABEL}" if absent.',
            "example": "backup script",
        },
    )


class TokenInfoSchema(Schema):
    """One of your tokens, as listed: never its secret."""

    id = fields.Integer(required=True)
    label = fields.String(required=True)
    prefix = fields.String(
        required=True,
        metadata={
            "description": "The first characters of the secret; empty for tokens issued "
            "before they were kept."
        },
    )
    created_at = fields.AwareDateTime(required=True)
    last_used_at = fields.AwareDateTime(
        required=True,
        allow_none=True,
        metadata={"description": "Updated at most once a minute; null if never used."},
    )
    expires_at = fields.AwareDateTime(required=True)
    current = fields.Boolean(
        required=True, metadata={"description": "Whether this request was made with it."}
    )


class TokenSchema(Schema):
    """A new token, with the only copy of its secret."""

    id = fields.Integer(required=True)
    label = fields.String(required=True)
    prefix = fields.String(required=True)
    token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    created_at = fields.AwareDateTime(required=True)
    expires_at = fields.AwareDateTime(required=True)


class TokenPageSchema(_PageSchema):
    """A page of your tokens."""

    items = fields.List(fields.Nested(TokenInfoSchema), required=True)


class MeUpdateSchema(Schema):
    """Your current password, and either a new password or a new email address."""

    # Added to the document's schema: exactly one of the two changes per request.
    openapi_extra = {"oneOf": [{"required": ["new_password"]}, {"required": ["email"]}]}

    current_password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX)
    )
    new_password = fields.String(
        load_only=True,
        validate=validate.Length(min=PASSWORD_MIN, max=PASSWORD_MAX),
        metadata={"description": "Change the password (at least as long as at registration)."},
    )
    email = fields.String(
        load_only=True,
        validate=validate.Length(max=EMAIL_MAX),
        metadata={
            "format": "email",
            "pattern": email_pattern(),
            "example": "ada@example.org",
            "description": "Change the email address: a link to confirm it is mailed to it.",
        },
    )

    @validates("email")
    def _valid_email(self, value: str, **kwargs: Any) -> None:
        problem = email_error(value)
        if problem:
            raise ValidationError(problem)

    @validates_schema
    def _one_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "new_password" in data and "email" in data:
            # A password change ends every emailed link, the new confirmation's too.
            raise ValidationError(
                "Change the password and the email address in separate requests.", "email"
            )
        if "new_password" not in data and "email" not in data:
            raise ValidationError(
                "Give new_password to change the password, or email to change the address.",
                "new_password",
            )

    @post_load
    def _normalise(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if "email" in data:
            data["email"] = normalize_email(data["email"])
        return data


class ProfileUpdateSchema(Schema):
    """A PATCH of your profile: either field or both; null or blank text clears one."""

    # Added to the document's schema: an empty object is answered with 400.
    openapi_extra = {"minProperties": 1}

    display_name = _optional_text_field(
        DISPLAY_NAME_MAX, multiline=False, description=DISPLAY_NAME_DESCRIPTION
    )
    bio = _optional_text_field(BIO_MAX, multiline=True, description=BIO_DESCRIPTION)

    @post_load
    def _something_to_change(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        if not data:
            raise ValidationError("Give at least one of: display_name, bio.")
        return data


class PasswordChangedSchema(MeSchema):
    """You, after the password change."""

    notice = fields.String(
        required=True,
        validate=validate.OneOf([notice.value for notice in Notice]),
        metadata={
            "description": "The mail telling your address of the change: sent; failed (the "
            "mail server did not take it; the password is changed all the same); off (this "
            "site sends no mail)."
        },
    )


class EmailChangeStartedSchema(MeSchema):
    """You, unchanged, and the address waiting for confirmation."""

    pending_email = fields.String(
        required=True, metadata={"description": "Where the confirmation link was sent."}
    )
    link_expires_at = fields.AwareDateTime(
        required=True, metadata={"description": "The link works once, until then."}
    )


class AccountDeletionSchema(Schema):
    """Your password, to confirm that the account is to be deleted."""

    password = fields.String(
        required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX)
    )


class PasswordResetRequestSchema(Schema):
    """The email address of the account whose password is to be reset."""

    email = fields.String(
        required=True,
        validate=validate.Length(max=EMAIL_MAX),
        metadata={"format": "email", "pattern": email_pattern(), "example": "ada@example.com"},
    )

    @validates("email")
    def _valid_email(self, value: str, **kwargs: Any) -> None:
        problem = email_error(value)
        if problem:
            raise ValidationError(problem)


class MessageSchema(Schema):
    """A sentence for the person using the client."""

    message = fields.String(required=True)


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["healthy", "unhealthy"]))
    database = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))


class ReadinessSchema(Schema):
    """Whether this node should get traffic, and the state of each part it needs."""

    status = fields.String(
        required=True,
        validate=validate.OneOf(["ready", "draining", "unavailable"]),
        metadata={
            "description": "ready: send traffic. draining: a sysadmin is taking the node out. "
            "unavailable: the database, or a Redis store in use, does not answer."
        },
    )
    database = fields.String(required=True, validate=validate.OneOf(["ok", "unavailable"]))
    redis = fields.String(
        required=True,
        validate=validate.OneOf(["ok", "unavailable", "not used"]),
        metadata={"description": "The cache's and the rate limits' Redis, when configured."},
    )


class ErrorSchema(Schema):
    """The one shape of every error the API returns."""

    status = fields.Integer(required=True, metadata={"example": 404})
    error = fields.String(required=True, metadata={"example": "Not Found"})
    message = fields.String(required=True)
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(),
        metadata={"description": "Per-field messages, when the input was invalid."},
    )
