"""The logged-in user's account settings: password, sessions, API tokens, deleting the account.

Every action is a POST form with a CSRF token that answers with a flash message
and works without JavaScript. Forms that ask for the password count against the
same limits as log-ins (``password_guesses`` per client, ``login_throttle`` per
account), so a session left open cannot be used to guess the password.
"""

from __future__ import annotations

from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import COOKIE_NAME, current_user, login_required, logout_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from . import login_throttle
from .account_changes import change_password, delete_account
from .extensions import db
from .forms import AccountDeletionForm, PasswordChangeForm, TokenForm
from .login_sessions import log_in
from .models import ApiToken, User
from .rate_limits import password_guesses
from .validation import confirms_username, password_change_problem

bp = Blueprint("settings", __name__, url_prefix="/account")

WRONG_PASSWORD = "Wrong password."


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _me() -> User:
    # current_user is a proxy; the account functions want the row itself.
    return cast(User, current_user._get_current_object())


def _page(status: int = 200, **forms: FlaskForm) -> Response:
    """The settings page, with ``forms`` (as submitted) in place of empty ones."""
    tokens = db.session.scalars(ApiToken.active_of(_me().id)).all()
    context: dict[str, Any] = {
        "password_form": PasswordChangeForm(formdata=None),
        "token_form": TokenForm(formdata=None),
        "delete_form": AccountDeletionForm(formdata=None),
        "tokens": tokens,
    }
    context.update(forms)
    return make_response(render_template("settings/index.html", **context), status)


def _confirm_password(form: FlaskForm, field_name: str, form_key: str) -> Response | None:
    """None if the password in ``field_name`` is right; else the page to answer with.

    ``form_key`` is the name ``_page`` knows ``form`` by.
    """
    field = form[field_name]
    try:
        confirmed = login_throttle.confirm_password(_me(), field.data or "")
    except login_throttle.AccountThrottled as throttled:
        flash(str(throttled), "error")
        response = _page(429, **{form_key: form})
        response.headers["Retry-After"] = str(throttled.retry_after)
        return response
    if not confirmed:
        field.errors = [*field.errors, WRONG_PASSWORD]
        return _page(**{form_key: form})
    return None


def _log_this_browser_in_again(user: User) -> None:
    """After every credential of ``user`` was revoked, keep this browser logged in.

    A browser that had a remember-me cookie gets a new one: the old one ended.
    """
    cookie_name = current_app.config.get("REMEMBER_COOKIE_NAME", COOKIE_NAME)
    remember = cookie_name in request.cookies
    session.clear()
    log_in(user, remember=remember)


@bp.get("")
@login_required
def index() -> Response:
    """The settings page: one section per kind of change."""
    return _page()


@bp.post("/password")
@login_required
@password_guesses
def password() -> Response:
    """Change the password; every other session, remember-me cookie and API token ends."""
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        return _page(password_form=form)
    refused = _confirm_password(form, "current_password", "password_form")
    if refused is not None:
        return refused
    new_password = form.new_password.data or ""
    problem = password_change_problem(form.current_password.data or "", new_password)
    if problem:
        form.new_password.errors = [*form.new_password.errors, problem]
        return _page(password_form=form)
    user = _me()
    change_password(user, new_password)
    _log_this_browser_in_again(user)
    flash(
        "Your password was changed. Every other browser was logged out and your API "
        "tokens were revoked.",
        "success",
    )
    return redirect(url_for("settings.index"))


@bp.post("/sessions")
@login_required
def sessions() -> Response:
    """Log out everywhere else: other sessions, remember-me cookies and API tokens end."""
    user = _me()
    user.revoke_credentials()
    db.session.commit()
    _log_this_browser_in_again(user)
    flash(
        "You were logged out everywhere else, and your API tokens were revoked. "
        "This browser stays logged in.",
        "success",
    )
    return redirect(url_for("settings.index"))


@bp.post("/tokens")
@login_required
def token_create() -> Response:
    """Create an API token; its secret is shown on the answer to this POST, and never again."""
    form = TokenForm()
    if not form.validate_on_submit():
        return _page(token_form=form)
    token, secret = ApiToken.issue(
        _me(), current_app.config["API_TOKEN_LIFETIME"], form.label.data or ""
    )
    db.session.commit()
    flash(f"API token \u201c{token.label}\u201d created.", "success")
    # Rendered, not redirected to: a redirect would have to carry the secret in the
    # (signed, not encrypted) session cookie. security_headers makes it no-store.
    page = render_template("settings/new_token.html", token=token, secret=secret)
    return make_response(page, 201, {"Cache-Control": "no-store"})


@bp.post("/tokens/<id:token_id>/revoke")
@login_required
def token_revoke(token_id: int) -> Response:
    """Revoke one of this user's API tokens; another user's is a 404."""
    token = ApiToken.owned_by(_me().id, token_id)
    if token is None:
        abort(404)
    label = token.label
    db.session.delete(token)
    db.session.commit()
    flash(f"API token \u201c{label}\u201d revoked.", "success")
    return redirect(url_for("settings.index"))


@bp.post("/delete")
@login_required
@password_guesses
def delete() -> Response:
    """Delete the account, its posts and its API tokens, then log this browser out."""
    form = AccountDeletionForm()
    if not form.validate_on_submit():
        return _page(delete_form=form)
    user = _me()
    if not confirms_username(form.username.data or "", user.username):
        form.username.errors = [*form.username.errors, "That is not your username."]
        return _page(delete_form=form)
    refused = _confirm_password(form, "password", "delete_form")
    if refused is not None:
        return refused
    username = user.username
    delete_account(user)
    session.clear()
    logout_user()
    flash(f"The account {username} and its posts were deleted. Goodbye.", "info")
    return redirect(url_for("site.index"))
