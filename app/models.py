"""Database models: users, their posts, and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import DateTime, ForeignKey, Index, String, Text, delete, or_, select, update
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.engine import Dialect
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import (
    Mapped,
    contains_eager,
    joinedload,
    mapped_column,
    relationship,
    validates,
)
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeDecorator
from werkzeug.security import check_password_hash, generate_password_hash

from . import bio_rendering, post_rendering, search_schema
from .extensions import db
from .validation import (
    BIO_MAX,
    DEFAULT_TOKEN_LABEL,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    TITLE_MAX,
    TOKEN_LABEL_MAX,
    USERNAME_MAX,
    normalize_bio,
    normalize_display_name,
    normalize_email,
    normalize_username,
)

if TYPE_CHECKING:
    from .extensions import Base as Model
else:
    Model = db.Model

# A post's HTML can be several times longer than its text (every bare URL
# becomes a link with its rel attribute, every "<" an "&lt;"): more than
# MariaDB's TEXT holds (64 KiB) for a long body. MEDIUMTEXT holds 16 MiB.
LONG_TEXT = Text().with_variant(MEDIUMTEXT(), "mysql")

# How long after publishing a post's change time may be without it being an edit (Post.edited_at).
EDIT_GRACE = timedelta(seconds=1)

# The largest id a row can have (INT on MariaDB). Larger ids in URLs are answered
# with 404 up front: SQLite raises OverflowError past 64 bits instead of finding nothing.
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC, to the second.

    MariaDB's DATETIME keeps no fractions: dropping them here means a row reads
    back exactly as it was written, on every database.
    """
    return datetime.now(UTC).replace(microsecond=0)


def _created_at_of_row(context: DefaultExecutionContext) -> Any:
    """The row's own ``created_at``: a new row was last changed when it was created."""
    return context.get_current_parameters()["created_at"]


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC.

    SQLite and MariaDB both drop the timezone, so values would otherwise come
    back naive and serialise without an offset.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC)


@lru_cache(maxsize=4)
def _hash_of_nothing(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def _dummy_hash() -> str:
    """A real hash made with the configured method, to check unknown logins against."""
    return _hash_of_nothing(current_app.config.get("PASSWORD_HASH_METHOD", "scrypt"))


def new_token_generation() -> str:
    """A random identifier for the API tokens a user may hold until credentials are revoked."""
    return secrets.token_hex(16)


def new_session_token() -> str:
    """A random identifier for a user's log-in sessions."""
    return secrets.token_hex(32)


class User(UserMixin, Model):
    """A registered person.

    Revoking what proves who they are: ``session_token`` is the account's
    credential generation. Every browser session and remember-me cookie carries
    it (``app.login_sessions``) and each request looks the user up by it, so a
    new value ends all of them at once, on every device; API tokens are rows of
    their own. Two levels:

    - ``rotate_session_token()``: log out. Ends every browser session and
      remember-me cookie; API tokens, revoked one by one, stay.
    - ``revoke_credentials()``: whenever what proves identity changes or may be
      known to someone else (password change or reset, email change, "log out
      everywhere else"). Ends sessions, remember-me cookies, API tokens and the
      emailed password-reset and email-change links together. For "everywhere
      else", log the current browser in again afterwards with
      ``login_sessions.log_in``. ``set_password`` calls it.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    # Lower-cased copy of username: makes uniqueness case-insensitive on every database.
    username_key: Mapped[str] = mapped_column(String(USERNAME_MAX), unique=True)
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    # Flask-Login's alternative id: rotating it ends every session and remember cookie.
    session_token: Mapped[str] = mapped_column(String(64), unique=True, default=new_session_token)
    # The one emailed link of each kind that still works (app/account_links.py):
    # issuing a link replaces its nonce, using it or revoking credentials clears it.
    password_reset_nonce: Mapped[str | None] = mapped_column(String(32))
    # The generation of API tokens: a token works only while it carries the
    # current one, so revoking ends even a token being issued at that moment.
    token_generation: Mapped[str] = mapped_column(String(32), default=new_token_generation)
    email_change_nonce: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # How many posts the user has, kept by app/post_counts.py in the transaction
    # that adds or deletes one: lists read it instead of counting every post.
    post_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # The profile, as its owner wrote it; None when they left it empty. The bio
    # is Markdown, stored with its rendering (app/bio_rendering.py) as a post's
    # body is, so showing a profile parses nothing.
    display_name: Mapped[str | None] = mapped_column(String(DISPLAY_NAME_MAX))
    bio: Mapped[str | None] = mapped_column(String(BIO_MAX))
    stored_bio_html: Mapped[str | None] = mapped_column("bio_html", Text)

    posts: Mapped[list[Post]] = relationship(
        back_populates="author", cascade="all, delete-orphan", passive_deletes=True
    )
    tokens: Mapped[list[ApiToken]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def __init__(self, *, username: str, email: str, password: str | None = None) -> None:
        super().__init__()
        self.set_username(username)
        self.email = email
        self.session_token = new_session_token()
        self.token_generation = new_token_generation()
        if password is not None:
            self.set_password(password)

    def __repr__(self) -> str:
        return f"<User {self.username!r}>"

    def get_id(self) -> str:
        """The credential generation, not the primary key (see the class docstring)."""
        return self.session_token

    def set_username(self, username: str) -> None:
        self.username = username.strip()
        self.username_key = normalize_username(username)

    @validates("display_name")
    def _trim_display_name(self, key: str, display_name: str | None) -> str | None:
        return normalize_display_name(display_name)

    @validates("bio")
    def _render_bio(self, key: str, bio: str | None) -> str | None:
        bio = normalize_bio(bio)
        self.stored_bio_html = None if bio is None else bio_rendering.render(bio)
        return bio

    @property
    def bio_html(self) -> str | None:
        """The bio as sanitised HTML, safe to put in a page as it is; None without a bio."""
        if self.bio is None:
            return None
        # A bio written by plain SQL has no rendering until ``flask posts render``.
        if self.stored_bio_html is None:
            return bio_rendering.render(self.bio)
        return self.stored_bio_html

    def set_password(self, password: str) -> None:
        """Hash and store ``password``; every session and API token issued so far ends."""
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
        self.password_hash = generate_password_hash(password, method=method)
        self.revoke_credentials()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def rotate_session_token(self) -> None:
        """Invalidate every session and remember cookie issued so far (log out)."""
        self.session_token = new_session_token()

    def revoke_credentials(self) -> None:
        """End every session, remember-me cookie, API token and emailed link issued so far."""
        self.rotate_session_token()
        # Deleting the rows is housekeeping; the new generation is what ends
        # them all, including one a concurrent request inserts after this.
        self.token_generation = new_token_generation()
        self.tokens.clear()
        self.password_reset_nonce = None
        self.email_change_nonce = None

    @classmethod
    def find_by_login(cls, login: str) -> User | None:
        """The user whose username or email is ``login``, ignoring case."""
        if "@" in login:
            return db.session.scalar(select(cls).where(cls.email == normalize_email(login)))
        key = normalize_username(login)
        if not key:
            return None
        return db.session.scalar(select(cls).where(cls.username_key == key))

    @classmethod
    def username_taken(cls, username: str) -> bool:
        key = normalize_username(username)
        return db.session.scalar(select(cls.id).where(cls.username_key == key)) is not None

    @classmethod
    def email_taken(cls, email: str) -> bool:
        address = normalize_email(email)
        return db.session.scalar(select(cls.id).where(cls.email == address)) is not None

    @staticmethod
    def check_login(user: User | None, password: str) -> User | None:
        """``user`` if ``password`` is theirs, else None.

        Log-ins go through ``login_throttle.authenticate``, which counts the
        attempt before calling this.

        ``user`` is whoever a typed login named, or None for nobody; nobody costs
        a password hash too, so the time taken does not tell whether an account
        exists.
        """
        if user is None:
            check_password_hash(_dummy_hash(), password)
            return None
        return user if user.check_password(password) else None


class Post(Model):
    """A piece of writing published by a user."""

    __tablename__ = "posts"
    __table_args__ = (
        Index("ix_posts_created_at_id", "created_at", "id"),
        Index("ix_posts_user_id_created_at", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    # Markdown (CommonMark), as its author wrote it.
    body: Mapped[str] = mapped_column(Text)
    # The body rendered (app/post_rendering.py): sanitised HTML, and the plain
    # text lists show. Set whenever the body is, so no read parses Markdown.
    # NULL in rows written without them (before their migration, or by a node
    # still running older code during a deploy) until ``flask posts render``;
    # ``body_html`` and ``excerpt`` render such rows when read.
    stored_html: Mapped[str | None] = mapped_column("body_html", LONG_TEXT)
    stored_excerpt: Mapped[str | None] = mapped_column(
        "excerpt", String(post_rendering.EXCERPT_MAX)
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The same instant as created_at when the post is written, not a second
    # reading of the clock, which may fall in the next second.
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=_created_at_of_row, onupdate=utcnow
    )

    author: Mapped[User] = relationship(back_populates="posts")

    def __repr__(self) -> str:
        return f"<Post {self.id} {self.title!r}>"

    @validates("body")
    def _render_body(self, key: str, body: str) -> str:
        rendered = post_rendering.render(body)
        self.stored_html = rendered.html
        self.stored_excerpt = rendered.excerpt
        return body

    def rendered(self) -> post_rendering.RenderedPost:
        """The body's HTML and excerpt: as stored, or rendered now for a row without them."""
        if self.stored_html is None or self.stored_excerpt is None:
            return post_rendering.render(self.body)
        return post_rendering.RenderedPost(html=self.stored_html, excerpt=self.stored_excerpt)

    @property
    def body_html(self) -> str:
        """The body as sanitised HTML, safe to put in a page as it is."""
        return self.rendered().html

    @property
    def excerpt(self) -> str:
        """The start of the body as plain text, for lists."""
        return self.rendered().excerpt

    @property
    def edited_at(self) -> datetime | None:
        """When the post was last changed after it was published; None if it never was.

        More than EDIT_GRACE after publishing: posts written before updated_at
        took created_at's value read the clock twice, a second apart at times.
        """
        if self.updated_at - self.created_at > EDIT_GRACE:
            return self.updated_at
        return None

    @classmethod
    def with_author(cls, post_id: int) -> Post | None:
        """The post with its author loaded in the same query, if it exists."""
        return db.session.scalar(
            select(cls).options(joinedload(cls.author)).where(cls.id == post_id)
        )

    def is_editable_by(self, user: Any) -> bool:
        """Only a post's author may change or delete it."""
        return bool(getattr(user, "is_authenticated", False)) and user.id == self.user_id


# The full-text index over posts lives outside the metadata (app/search_schema.py).
search_schema.create_with(Post.__table__)


def hash_token(token: str) -> str:
    """The stored form of an API token: tokens are random, so SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


# How much of a token's secret is kept in clear, for its owner to recognise it by.
# The secret has 256 random bits; the 48 shown leave far too many to guess.
TOKEN_PREFIX_LENGTH = 8
# A token's last use is recorded at most this often: a busy client would
# otherwise write to the database on every request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiToken(Model):
    """A bearer token for the JSON API.

    Only its hash is stored, with a label its owner chose and the first few
    characters of the secret, so the owner can tell their tokens apart.
    """

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(TOKEN_LABEL_MAX))
    # Empty for tokens issued before prefixes were kept.
    prefix: Mapped[str] = mapped_column(String(TOKEN_PREFIX_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The user's token_generation when it was issued (see User.token_generation).
    generation: Mapped[str] = mapped_column(String(32))

    user: Mapped[User] = relationship(back_populates="tokens")

    @classmethod
    def issue(
        cls, user: User, lifetime: timedelta, label: str = DEFAULT_TOKEN_LABEL
    ) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns the row and the only copy of the secret."""
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        # Expired tokens are useless: drop the user's old ones while we are here.
        db.session.execute(delete(cls).where(cls.user_id == user.id, cls.expires_at <= now))
        token = cls(
            token_hash=hash_token(secret),
            user=user,
            label=label.strip(),
            prefix=secret[:TOKEN_PREFIX_LENGTH],
            created_at=now,
            expires_at=now + lifetime,
            generation=user.token_generation,
        )
        db.session.add(token)
        return token, secret

    @classmethod
    def find_valid(cls, secret: str) -> ApiToken | None:
        """The unexpired token of the current generation whose secret is ``secret``, if any."""
        return db.session.scalar(
            cls._current()
            .where(cls.token_hash == hash_token(secret), cls.expires_at > utcnow())
            # The join that checks the generation also loads the user the request acts for.
            .options(contains_eager(cls.user))
        )

    @classmethod
    def _current(cls) -> Select[ApiToken]:
        """Tokens issued since their user's credentials were last revoked."""
        return (
            select(cls)
            .join(User, User.id == cls.user_id)
            .where(cls.generation == User.token_generation)
        )

    @classmethod
    def active_of(cls, user_id: int) -> Select[ApiToken]:
        """The query for a user's unexpired tokens, newest first."""
        return (
            cls._current()
            .where(cls.user_id == user_id, cls.expires_at > utcnow())
            .order_by(cls.created_at.desc(), cls.id.desc())
        )

    @classmethod
    def owned_by(cls, user_id: int, token_id: int) -> ApiToken | None:
        """The token ``token_id`` if ``user_id`` owns it: someone else's is not found either."""
        return db.session.scalar(select(cls).where(cls.id == token_id, cls.user_id == user_id))

    def record_use(self) -> None:
        """Note that the token was just used, unless that was noted less than a minute ago.

        One conditional UPDATE, committed at once: concurrent requests with the
        same token write it at most once, and the caller's own work is a
        transaction of its own.
        """
        now = utcnow()
        if self.last_used_at is not None and now - self.last_used_at < LAST_USED_RESOLUTION:
            return
        db.session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == self.id,
                or_(
                    ApiToken.last_used_at.is_(None),
                    ApiToken.last_used_at <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
        )
        db.session.commit()
