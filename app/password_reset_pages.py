"""The site's "Forgot password?" pages: ask for a link, open it, choose a new password.

They exist only while MAIL_ENABLED is true: without mail no link can be
sent, so the blueprint is not registered and its addresses answer 404 (and
the log-in page does not offer them).

The token never stays in an address bar. The link's own address
(``/auth/reset-password/<token>``) only puts the token in the session and
redirects to ``/auth/reset-password``, which shows the form. So no page that
holds the token in its URL is ever displayed: it cannot leak through a
Referer header (to another site, or to this site's access log by way of the
stylesheet), the browser's history or a screenshot. The redirect itself is
sent with ``Referrer-Policy: no-referrer``. The form page keeps the site's
usual policy: Flask-WTF refuses an HTTPS form post that carries no Referer.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    flash,
    make_response,
    redirect,
    render_template,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from . import account_links, login_throttle, password_reset
from .account_changes import change_password
from .account_links import Action, LinkRefused
from .forms import NewPasswordForm, ResetRequestForm
from .login_sessions import log_in
from .rate_limits import password_guesses, password_reset_requests
from .validation import SAME_PASSWORD

bp = Blueprint("password_reset", __name__, url_prefix="/auth")

# Where the token waits between the link and the form.
SESSION_KEY = "password_reset_token"
# For the answer to the link's own address, which carries the token.
# Why a link is refused, in the person's words, and the status it is answered with:
# 410 for a link that worked once and no longer does, 400 for one that never did.
REFUSALS = {
    LinkRefused.EXPIRED: (
        410,
        "This link has expired: a password reset link works for {lifetime}.",
    ),
    LinkRefused.USED: (
        410,
        "This link was already used, or a newer one was sent since: only the latest "
        "link works, and only once.",
    ),
    LinkRefused.INVALID: (
        400,
        "This is not a valid password reset link. Check that you opened the whole "
        "address from the email.",
    ),
}


def init_app(app: Flask) -> None:
    if app.config["MAIL_ENABLED"]:
        app.register_blueprint(bp)


@bp.route("/forgot-password", methods=["GET", "POST"])
@password_reset_requests
def request_link() -> str:
    """Ask for a reset link; the answer is the same whether or not an account uses the address."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        password_reset.request_link(form.email.data or "")
        return render_template("accounts/reset_requested.html", message=password_reset.answer())
    return render_template("accounts/forgot_password.html", form=form)


@bp.get("/reset-password/<token>")
def open_link(token: str) -> Response:
    """The emailed link: keep its token in the session and go to the form (see the docstring)."""
    session[SESSION_KEY] = token
    response = redirect(url_for("password_reset.choose_password"))
    response.headers.update(account_links.LINK_PAGE_HEADERS)
    return response


@bp.route("/reset-password", methods=["GET", "POST"])
@password_guesses
def choose_password() -> Response:
    """Choose a new password with the link's token; then this browser is logged in.

    The account's every other session, remember-me cookie and API token ends,
    and so does the link. Comparing the new password with the current one is
    a password check, so the form counts against the log-in limit per client.
    """
    try:
        link = account_links.redeem(session.get(SESSION_KEY) or "", Action.PASSWORD_RESET)
    except LinkRefused as refused:
        return _refused(refused.reason)
    form = NewPasswordForm()
    if form.validate_on_submit():
        user, new_password = link.user, form.new_password.data or ""
        if not user.check_password(new_password):
            try:
                # Two tabs submitting the same link at once: one gets it.
                account_links.claim(link)
                change_password(user, new_password)
            except LinkRefused as refused:
                # Used meanwhile, or the account was deleted since the check above.
                return _refused(refused.reason)
            session.clear()
            log_in(user)
            flash(
                "Your password was changed and you are logged in. Every other session, "
                "remember-me cookie and API token of your account has ended.",
                "success",
            )
            response = redirect(url_for("site.index"))
            login_throttle.remember_device(response, user)
            return response
        form.new_password.errors = [*form.new_password.errors, SAME_PASSWORD]
    page = render_template("accounts/reset_password.html", form=form, username=link.user.username)
    return make_response(page)


def _refused(reason: str) -> Response:
    """The "no longer valid" page: why, never whose; the token leaves the session."""
    session.pop(SESSION_KEY, None)
    status, text = REFUSALS[reason]
    lifetime = password_reset.lifetime_in_words(Action.PASSWORD_RESET.lifetime)
    page = render_template(
        "accounts/reset_link_refused.html", reason=text.format(lifetime=lifetime)
    )
    return make_response(page, status)
