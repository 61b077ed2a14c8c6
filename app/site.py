"""The public HTML site: home page, about, profiles, and posts."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response

from . import post_rendering, rendered_lists
from .extensions import db
from .forms import PostForm
from .models import Post, User
from .rate_limits import claim_search
from .search import SearchOrder, search_posts
from .search_terms import search_terms
from .validation import SEARCH_QUERY_EMPTY, normalize_username, search_query_problem

bp = Blueprint("site", __name__)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)


# More digits than this would overflow the database's OFFSET (and int() refuses
# strings of over 4300 digits), turning a bad link into a 500.
MAX_PAGE_DIGITS = 9


def page_number() -> int:
    """The ``page`` query argument; 404 for anything but a positive whole number."""
    raw = request.args.get("page", "1")
    # isdigit() alone also accepts digits int() rejects, such as "²".
    if not (raw.isascii() and raw.isdigit()) or len(raw) > MAX_PAGE_DIGITS or int(raw) < 1:
        abort(404)
    return int(raw)


@bp.route("/")
def index() -> str:
    """The latest posts, newest first."""
    per_page = current_app.config["POSTS_PER_PAGE"]
    posts = rendered_lists.latest_posts(page_number(), per_page)
    return render_template("site/index.html", posts=posts)


@bp.route("/about")
def about() -> str:
    return render_template("site/about.html")


def search_order() -> SearchOrder:
    """The ``order`` query argument; 404 for anything but newest or relevance, like a bad page."""
    try:
        return SearchOrder(request.args.get("order", SearchOrder.NEWEST))
    except ValueError:
        abort(404)


@bp.route("/search")
def search() -> tuple[str, int]:
    """Posts holding the words of ``q``, newest or best match first (never cached)."""
    query = request.args.get("q", "")
    order, page = search_order(), page_number()
    problem = search_query_problem(query)
    if problem:
        # No words yet is the search page itself, not a mistake.
        shown, status = (None, 200) if problem == SEARCH_QUERY_EMPTY else (problem, 400)
        form_only = render_template(
            "site/search.html", query=query, order=order, problem=shown, posts=None
        )
        return form_only, status
    claim_search()
    posts = search_posts(query, page, current_app.config["POSTS_PER_PAGE"], order)
    if posts.out_of_range:
        abort(404)
    page_of_posts = render_template(
        "site/search.html",
        query=query,
        order=order,
        problem=None,
        posts=posts,
        ignored=search_terms(query).ignored,
    )
    return page_of_posts, 200


@bp.route("/users/<username>")
def user_profile(username: str) -> str:
    """A user's public page with their posts."""
    user = db.first_or_404(
        select(User).where(User.username_key == normalize_username(username)),
        description="There is no user with that name.",
    )
    per_page = current_app.config["POSTS_PER_PAGE"]
    posts = rendered_lists.posts_by(user.id, user.username, page_number(), per_page)
    return render_template("site/user.html", user=user, posts=posts)


def _get_post(post_id: int) -> Post:
    post = Post.with_author(post_id)
    if post is None:
        abort(404, description="That post does not exist or was deleted.")
    return post


def _get_own_post(post_id: int) -> Post:
    post = _get_post(post_id)
    if not post.is_editable_by(current_user):
        abort(403, description="Only the author of a post may change it.")
    return post


@bp.route("/posts/<id:post_id>")
def post_detail(post_id: int) -> str:
    post = _get_post(post_id)
    return render_template("site/post.html", post=post, can_edit=post.is_editable_by(current_user))


def _preview(form: PostForm) -> Markup | None:
    """The body as it would be published, when the form was sent with its Preview button.

    Call after the form was validated: a body that breaks the rules is not shown.
    """
    if not (form.is_submitted() and form.preview.data) or form.body.errors:
        return None
    # Sanitised: safe to show as it is.
    return Markup(post_rendering.render(form.body.data or "").html)


def _post_form_page(form: PostForm, post: Post | None) -> str:
    return render_template("site/post_form.html", form=form, post=post, preview=_preview(form))


@bp.route("/posts/new", methods=["GET", "POST"])
@login_required
def post_create() -> Response | str:
    """Write a new post, or preview it (the form again, with the post shown, nothing saved)."""
    form = PostForm()
    if form.validate_on_submit() and not form.preview.data:
        post = Post(title=form.title.data or "", body=form.body.data or "", author=current_user)
        db.session.add(post)
        db.session.commit()
        flash("Your post is published.", "success")
        return redirect(url_for("site.post_detail", post_id=post.id))
    return _post_form_page(form, None)


@bp.route("/posts/<id:post_id>/edit", methods=["GET", "POST"])
@login_required
def post_edit(post_id: int) -> Response | str:
    """Change a post's title or text (its author only), or preview the change."""
    post = _get_own_post(post_id)
    form = PostForm(obj=post)
    if form.validate_on_submit() and not form.preview.data:
        post.title = form.title.data or ""
        post.body = form.body.data or ""
        db.session.commit()
        flash("Your changes are saved.", "success")
        return redirect(url_for("site.post_detail", post_id=post.id))
    return _post_form_page(form, post)


@bp.route("/posts/<id:post_id>/delete", methods=["GET", "POST"])
@login_required
def post_delete(post_id: int) -> Response | str:
    """Delete a post (its author only): GET asks first, only a POST deletes.

    The question is a page of its own, not a script's dialog, so it works
    without JavaScript under the Content Security Policy, and a link someone
    follows (or a browser prefetches) never deletes anything.
    """
    post = _get_own_post(post_id)
    if request.method == "GET":
        return render_template("site/post_delete.html", post=post)
    db.session.delete(post)
    db.session.commit()
    flash("The post was deleted.", "info")
    return redirect(url_for("site.user_profile", username=current_user.username))
