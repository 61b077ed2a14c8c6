"""Accounts on the HTML site: register, log in, log out."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, logout_user
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from . import login_sessions, login_throttle
from .extensions import db
from .forms import LoginForm, RegistrationForm
from .login_sessions import log_in
from .models import User
from .rate_limits import claim_account_creation, password_guesses, registrations
from .validation import normalize_email

bp = Blueprint("accounts", __name__, url_prefix="/auth")

LOGIN_FAILED = "Invalid username, email or password."


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    login_sessions.init_app(app)


def is_safe_next(target: str | None) -> bool:
    """True for a path on this site, such as ``/posts/3``; False for other hosts."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    if any(ord(char) < 32 for char in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.route("/register", methods=["GET", "POST"])
@registrations
def register() -> Response | str:
    """Create an account, then log the new user in."""
    if current_user.is_authenticated:
        return redirect(url_for("site.index"))
    form = RegistrationForm()
    if form.validate_on_submit():
        claim_account_creation()
        user = User(
            username=form.username.data or "",
            email=normalize_email(form.email.data or ""),
            password=form.password.data,
        )
        db.session.add(user)
        try:
            db.session.commit()
        except IntegrityError:
            # Someone registered the same name between the form's check and now.
            db.session.rollback()
            form.username.errors = [*form.username.errors, "That username or email is taken."]
            return render_template("accounts/register.html", form=form)
        session.clear()
        log_in(user)
        flash(f"Welcome, {user.username}! Your account is ready.", "success")
        return redirect(url_for("site.index"))
    return render_template("accounts/register.html", form=form)


@bp.route("/login", methods=["GET", "POST"])
@password_guesses
def login() -> Response | str:
    """Log in with a username or an email address."""
    if current_user.is_authenticated:
        return redirect(url_for("site.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = login_throttle.authenticate(form.login.data or "", form.password.data or "")
        except login_throttle.AccountThrottled as throttled:
            flash(str(throttled), "error")
            page = render_template("accounts/login.html", form=form)
            return make_response(page, 429, {"Retry-After": str(throttled.retry_after)})
        if user is not None:
            # A fresh session on log in: nothing set before it survives.
            session.clear()
            log_in(user, remember=bool(form.remember.data))
            flash(f"Welcome back, {user.username}.", "success")
            target = request.args.get("next")
            if target is None or not is_safe_next(target):
                target = url_for("site.index")
            response = redirect(target)
            login_throttle.remember_device(response, user)
            return response
        flash(LOGIN_FAILED, "error")
    return render_template("accounts/login.html", form=form)


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Response:
    """End this user's sessions everywhere, including remember-me cookies.

    A POST, so no other site can log people out with a link; CSRFProtect
    checks its token.
    """
    current_user.rotate_session_token()
    db.session.commit()
    # Clear first: logout_user() leaves a note in the session to delete the
    # remember cookie, which clearing afterwards would throw away.
    session.clear()
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("site.index"))
