"""The logged-in user's account settings: profile, password, email, sessions, API tokens, deletion.

Every action is a POST form with a CSRF token that answers with a flash message
and works without JavaScript. Those that end something for good without asking
for the password (revoking a token, logging out everywhere else) first show a
page of their own that says what ends, whose button makes the POST. Forms that
ask for the password count against the same limits as log-ins
(``password_guesses`` per client, ``login_throttle`` per account), so a session
left open cannot be used to guess the password.

An email change is confirmed through a link mailed to the new address
(``/account/email/confirm/<token>``), which needs no log-in: the link proves
the new address is the person's, and the password was checked when the change
was asked for. Without MAIL_ENABLED the form is absent and its routes are 404.
"""

from __future__ import annotations

from typing import Any, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    after_this_request,
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
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.wrappers import Response
from wtforms.validators import ValidationError

from . import login_throttle, mail
from .account_changes import (
    ADDRESS_TAKEN,
    AddressTaken,
    Notice,
    change_password,
    confirm_email_change,
    delete_account,
    email_change_problem,
    mail_enabled,
    pending_email_change,
    start_email_change,
)
from .account_links import LINK_PAGE_HEADERS, LinkRefused
from .deleted_account import log_out_if_gone
from .extensions import csrf, db
from .forms import (
    AccountDeletionForm,
    EmailChangeForm,
    PasswordChangeForm,
    ProfileForm,
    TokenForm,
)
from .login_sessions import log_in
from .models import ApiToken, User
from .rate_limits import password_guesses
from .validation import confirms_username, password_change_problem

bp = Blueprint("settings", __name__, url_prefix="/account")

WRONG_PASSWORD = "Wrong password."
NOTHING_CHANGED = "Nothing was changed."


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


def _me() -> User:
    # current_user is a proxy; the account functions want the row itself.
    return cast(User, current_user._get_current_object())


def _page(status: int = 200, **forms: FlaskForm) -> Response:
    """The settings page, with ``forms`` (as submitted) in place of empty ones."""
    me = _me()
    tokens = db.session.scalars(ApiToken.active_of(me.id)).all()
    context: dict[str, Any] = {
        "profile_form": ProfileForm(
            formdata=None, data={"display_name": me.display_name, "bio": me.bio}
        ),
        "password_form": PasswordChangeForm(formdata=None),
        "email_form": EmailChangeForm(formdata=None) if mail_enabled() else None,
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


@bp.post("/profile")
@login_required
def profile() -> Response:
    """Set or clear the display name and the bio; no password needed, as for a post."""
    form = ProfileForm()
    if not form.validate_on_submit():
        return _page(profile_form=form)
    user = _me()
    user.display_name = form.display_name.data
    user.bio = form.bio.data
    db.session.commit()
    flash("Your profile is saved.", "success")
    return redirect(url_for("settings.index"))


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
    notice = change_password(user, new_password)
    _log_this_browser_in_again(user)
    flash(
        "Your password was changed. Every other browser was logged out and your API "
        "tokens were revoked.",
        "success",
    )
    if notice is Notice.FAILED:
        flash(
            f"We could not send the notice of this change to {user.email}; the new "
            "password is in place all the same.",
            "error",
        )
    return redirect(url_for("settings.index"))


@bp.post("/email")
@login_required
@password_guesses
def email() -> Response:
    """Ask to change the email address: a confirmation link goes to the new one."""
    if not mail_enabled():
        abort(404)
    form = EmailChangeForm()
    if not form.validate_on_submit():
        return _page(email_form=form)
    refused = _confirm_password(form, "email_current_password", "email_form")
    if refused is not None:
        return refused
    user = _me()
    new_address = form.new_email.data or ""
    problem = email_change_problem(user, new_address)
    if problem is None and User.email_taken(new_address):
        problem = ADDRESS_TAKEN
    if problem:
        form.new_email.errors = [*form.new_email.errors, problem]
        return _page(email_form=form)
    started = start_email_change(user, new_address)
    if started is None:
        flash(mail.FAILURE_MESSAGE, "error")
        return redirect(url_for("settings.index"))
    deadline = started.expires_at.strftime("%d %b %Y %H:%M")
    flash(
        f"We sent a link to {started.new_address}. Your address changes when you follow "
        f"it (before {deadline} UTC); until then it stays {user.email}.",
        "success",
    )
    return redirect(url_for("settings.index"))


def _refused_link(title: str, message: str, status: int) -> Response:
    page = render_template("settings/email_link_refused.html", title=title, message=message)
    return make_response(page, status)


def _link_refusal(refused: LinkRefused) -> Response:
    """The page for a link that cannot be used: why (not whose), and that nothing changed."""
    if refused.reason == LinkRefused.EXPIRED:
        return _refused_link(
            "This link has expired",
            "Links to confirm a new email address work for a limited time, and this one's "
            f"is over. Ask for a new one on your account settings page. {NOTHING_CHANGED}",
            410,
        )
    if refused.reason == LinkRefused.USED:
        return _refused_link(
            "This link no longer works",
            "It was used already, or replaced: asking for another change, or changing the "
            f"password, ends the links sent before. {NOTHING_CHANGED}",
            410,
        )
    return _refused_link(
        "This link is not valid",
        "It may have been cut short or changed on its way: copy the whole link from the "
        f"mail, or ask for a new one on your account settings page. {NOTHING_CHANGED}",
        400,
    )


def _someone_elses_link() -> Response:
    return _refused_link(
        "This link is for another account",
        "You are logged in to another account than the one this link was sent for. Log "
        f"out, then follow the link again. {NOTHING_CHANGED}",
        403,
    )


@bp.route("/email/confirm/<token>", methods=["GET", "POST"])
@csrf.exempt
def email_confirm(token: str) -> Response:
    """Confirm a new email address from the mailed link: a page with a button, then the change.

    GET changes nothing (mail scanners open links before people do); the
    button POSTs with a CSRF token. No log-in is needed (see the module
    docstring), but a browser logged in to another account is refused, so
    that nobody confirms a change to an account they are not looking at.

    The page's address holds the link's token, so no response here lets the
    browser send it on as a Referer (to the stylesheet, to the form's own
    POST, which Apache logs). Flask-WTF refuses an HTTPS form post without a
    Referer, so this view checks the CSRF token itself: the token is the
    protection; the Referer check is the part that cannot apply here.
    """
    if not mail_enabled():
        abort(404)
    after_this_request(_without_referrer)
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as error:
            raise CSRFError(str(error)) from None
    try:
        link = pending_email_change(token)
    except LinkRefused as refused:
        return _link_refusal(refused)
    if current_user.is_authenticated and _me().id != link.user.id:
        return _someone_elses_link()
    if request.method == "GET":
        page = render_template(
            "settings/email_confirm.html",
            username=link.user.username,
            new_address=link.data.get("email", ""),
        )
        return make_response(page)
    was_logged_in = current_user.is_authenticated
    try:
        user, old_address, notice = confirm_email_change(token)
    except LinkRefused as refused:
        # Refused because the account was deleted meanwhile: its browser is a visitor now.
        log_out_if_gone()
        return _link_refusal(refused)
    except AddressTaken:
        return _refused_link(
            "That address is taken now",
            "Another account uses this email address since the link was sent, so it cannot "
            f"be yours as well. {NOTHING_CHANGED}",
            409,
        )
    if was_logged_in:
        _log_this_browser_in_again(user)
        flash(
            f"Your email address is now {user.email}. Every other browser was logged out "
            "and your API tokens were revoked.",
            "success",
        )
        target = url_for("settings.index")
    else:
        flash(
            f"Your email address is now {user.email}. Every browser was logged out and your "
            "API tokens were revoked: log in again.",
            "success",
        )
        target = url_for("accounts.login")
    if notice is Notice.FAILED:
        flash(
            f"We could not send the notice of this change to {old_address}; the new address "
            "is in place all the same.",
            "error",
        )
    return redirect(target)


def _without_referrer(response: Response) -> Response:
    response.headers.update(LINK_PAGE_HEADERS)
    return response


@bp.route("/sessions", methods=["GET", "POST"])
@login_required
def sessions() -> Response:
    """Log out everywhere else: other sessions, remember-me cookies and API tokens end.

    GET asks first, on a page that says what ends (the tokens cannot be had
    back); only the POST from its button does it.
    """
    user = _me()
    if request.method == "GET":
        tokens = db.session.scalars(ApiToken.active_of(user.id)).all()
        return make_response(render_template("settings/sessions.html", tokens=tokens))
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


@bp.route("/tokens/<id:token_id>/revoke", methods=["GET", "POST"])
@login_required
def token_revoke(token_id: int) -> Response:
    """Revoke one of this user's API tokens; another user's is a 404.

    GET shows the token and asks first; only the POST from its button revokes.
    """
    token = ApiToken.owned_by(_me().id, token_id)
    if token is None:
        abort(404)
    if request.method == "GET":
        return make_response(render_template("settings/token_revoke.html", token=token))
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
