"""HTML forms. Every one carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from . import validation as rules
from .models import User

USERNAME_HELP = (
    f"{rules.USERNAME_MIN}–{rules.USERNAME_MAX} characters: "
    "letters, digits, underscore, dot or hyphen."
)


class Follows:
    """A rule of ``app.validation`` (a function naming the problem, or None) on a form field.

    ``message`` replaces the rule's own explanation where the form words it its own way.
    """

    def __init__(self, problem: Callable[[str], str | None], message: str | None = None) -> None:
        self.problem = problem
        self.message = message

    def __call__(self, form: FlaskForm, field: StringField) -> None:
        problem = self.problem(field.data or "")
        if problem:
            raise ValidationError(self.message or problem)


def email_field(label: str, description: str = "") -> EmailField:
    """An email address field checked with the API's rule (``validation.email_error``)."""
    return EmailField(
        label,
        validators=[
            DataRequired(),
            Length(max=rules.EMAIL_MAX),
            Follows(rules.email_error, "Invalid email address."),
        ],
        description=description,
    )


def new_password_field(label: str, description: str) -> PasswordField:
    """A password being chosen: the registration rule's lengths."""
    return PasswordField(
        label,
        validators=[DataRequired(), Length(min=rules.PASSWORD_MIN, max=rules.PASSWORD_MAX)],
        description=description,
    )


class LoginForm(FlaskForm):
    login = StringField(
        "Username or email", validators=[DataRequired(), Length(max=rules.EMAIL_MAX)]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=rules.PASSWORD_MAX)]
    )
    remember = BooleanField("Keep me logged in")


class RegistrationForm(FlaskForm):
    username = StringField(
        "Username",
        validators=[
            DataRequired(),
            Length(min=rules.USERNAME_MIN, max=rules.USERNAME_MAX),
        ],
        description=USERNAME_HELP,
    )
    email = email_field("Email")
    password = new_password_field(
        "Password", f"At least {rules.PASSWORD_MIN} characters. A passphrase works well."
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[DataRequired(), EqualTo("password", message="The passwords differ.")],
    )

    def validate_username(self, field: StringField) -> None:
        if not rules.is_valid_username(field.data or ""):
            raise ValidationError(USERNAME_HELP)
        if User.username_taken(field.data or ""):
            raise ValidationError("That username is taken.")

    def validate_email(self, field: EmailField) -> None:
        if User.email_taken(field.data or ""):
            raise ValidationError("An account with that email already exists.")


class PostForm(FlaskForm):
    title = StringField(
        "Title",
        validators=[
            DataRequired(),
            Length(max=rules.TITLE_MAX),
            Follows(partial(rules.text_problem, multiline=False)),
        ],
    )
    body = TextAreaField(
        "Text",
        validators=[
            DataRequired(),
            Length(max=rules.BODY_MAX),
            Follows(partial(rules.text_problem, multiline=True)),
        ],
        description="Markdown: *emphasis*, **strong**, [a link](https://example.org), "
        "`code`, # heading, - list. HTML is shown as typed.",
    )
    # The second submit button: shows the post as it would be published, saving nothing.
    preview = SubmitField("Preview")


class NewPasswordForm(FlaskForm):
    new_password = new_password_field(
        "New password", f"At least {rules.PASSWORD_MIN} characters, and not the current one."
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[DataRequired(), EqualTo("new_password", message="The passwords differ.")],
    )


class PasswordChangeForm(NewPasswordForm):
    """A new password (as after a reset link), and the current one to allow it."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=rules.PASSWORD_MAX)]
    )


class TokenForm(FlaskForm):
    label = StringField(
        "Label",
        validators=[
            DataRequired(),
            Length(max=rules.TOKEN_LABEL_MAX),
            Follows(rules.token_label_problem),
        ],
        description="What the token is for, to recognise it by (e.g. \u201cbackup script\u201d).",
    )


class ProfileForm(FlaskForm):
    """What a user shows about themselves on their profile; either field may be left empty."""

    display_name = StringField(
        "Display name",
        validators=[Length(max=rules.DISPLAY_NAME_MAX), Follows(rules.display_name_problem)],
        description=f"Shown above your username on your profile; up to "
        f"{rules.DISPLAY_NAME_MAX} characters. Leave it empty to show only your username.",
    )
    bio = TextAreaField(
        "Bio",
        validators=[Length(max=rules.BIO_MAX), Follows(rules.bio_problem)],
        description=f"A few words about you, on your profile; up to {rules.BIO_MAX} "
        "characters of Markdown: *emphasis*, **strong**, [a link](https://example.org), "
        "`code`, - list. Headings and tables show as typed.",
    )


class AccountDeletionForm(FlaskForm):
    password = PasswordField(
        "Your password", validators=[DataRequired(), Length(max=rules.PASSWORD_MAX)]
    )
    username = StringField(
        "Type your username to confirm",
        validators=[DataRequired(), Length(max=rules.USERNAME_MAX)],
    )


class ResetRequestForm(FlaskForm):
    email = email_field("Email", "The address of your account.")


class EmailChangeForm(FlaskForm):
    # Named apart from the password form's fields: both forms are on one page.
    email_current_password = PasswordField(
        "Current password", validators=[DataRequired(), Length(max=rules.PASSWORD_MAX)]
    )
    new_email = email_field(
        "New email address",
        "We send a link to it; your address changes when you follow the link.",
    )
