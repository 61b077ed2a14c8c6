"""Error responses for the whole app: JSON under /api, friendly pages elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, render_template, request
from flask.wrappers import Response
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from markupsafe import escape
from werkzeug import Response as WerkzeugResponse
from werkzeug.exceptions import (
    HTTPException,
    InternalServerError,
    ServiceUnavailable,
    Unauthorized,
)

from . import database_faults, deleted_account
from .api.errors import error_response
from .logs import loggable_path

# What a person sees on the site for each status we answer with on purpose.
MESSAGES = {
    400: "The request could not be understood. Please go back and try again.",
    403: "You are not allowed to do that.",
    404: "There is nothing at this address. It may have moved or been deleted.",
    405: "That action is not available at this address.",
    413: "What you sent is larger than this site accepts.",
    500: "Something went wrong on our side. It has been logged; please try again later.",
    503: "This site is temporarily unavailable. Please try again in a few moments.",
}
CSRF_MESSAGE = "Your form expired or did not come from this site. Please reload and try again."


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_error)
    # Flask turns an exception nothing else handled into an InternalServerError
    # carrying it, after log_exception; in debug mode it lets the exception
    # reach the debugger instead. A handler for Exception would hide it there.
    app.register_error_handler(InternalServerError, handle_internal_error)


def _wants_json() -> bool:
    return request.blueprint == "api" or request.path == "/api" or request.path.startswith("/api/")


def handle_http_error(error: HTTPException) -> Response | tuple[str, int]:
    code = error.code or 500
    if isinstance(error, RateLimitExceeded):
        message = f"Too many requests: the limit here is {error.description}. Please wait."
    elif isinstance(error, CSRFError):
        message = CSRF_MESSAGE
    else:
        message = _site_message(error, code)
    if _wants_json():
        response = error_response(code, message, getattr(error, "errors", None))
    else:
        response = Response(_error_page(code, error.name, message), status=code)
    # Keep Allow on 405, Retry-After on 429, WWW-Authenticate on 401.
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _error_page(code: int, title: str, message: str, as_visitor: bool = False) -> str:
    try:
        return render_template("errors/error.html", code=code, title=title, message=message)
    except Exception as error:
        fault = database_faults.classify(error)
        if fault is not None and not as_visitor:
            # The layout asked who is logged in while the database is out: one line,
            # and the page as a visitor who is not logged in sees it.
            current_app.logger.warning("%s", fault.log_line(f"the {code} page"))
            database_faults.show_as_anonymous()
            return _error_page(code, title, message, as_visitor=True)
        # The page itself failed: a bare page still beats Apache's.
        current_app.logger.exception("the error page for %s failed", code)
        return (
            f"<!doctype html><title>{code} {escape(title)}</title>"
            f"<h1>{code} {escape(title)}</h1><p>{escape(message)}</p>"
        )


def _site_message(error: HTTPException, code: int) -> str:
    # Our own abort(..., description=...) texts are meant for the page; Werkzeug's
    # defaults are replaced with friendlier ones.
    default = type(error).description
    if error.description and error.description != default:
        return error.description
    return MESSAGES.get(code, error.description or "")


def handle_internal_error(
    error: InternalServerError,
) -> Response | WerkzeugResponse | tuple[str, int]:
    """A plain 500 without the traceback (log_exception has logged it).

    A known database fault (outage, schema behind the code) is not a bug: one
    warning line, and a 503 with Retry-After. Nor is a write refused because the
    account was deleted meanwhile (``deleted_account``): logged out, or a 401.
    """
    original = error.original_exception
    if deleted_account.deleted_mid_request(original):
        if _wants_json():
            return handle_http_error(Unauthorized(deleted_account.api_message()))
        return deleted_account.answer_for_site()
    fault = database_faults.classify(original) if original is not None else None
    if fault is not None:
        where = f"{request.method} {loggable_path()}"
        current_app.logger.warning("%s", fault.log_line(where))
        database_faults.show_as_anonymous()
        return handle_http_error(
            ServiceUnavailable(MESSAGES[503], retry_after=database_faults.retry_after())
        )
    return handle_http_error(error)


def log_exception(app: Flask, exc_info: tuple[Any, ...]) -> None:
    """What ``Flask.log_exception`` does here: one sanitised line with the traceback.

    The path is re-quoted so it cannot forge log lines. Known database faults
    are left to ``handle_internal_error``, which logs one line without one.
    """
    if database_faults.classify(exc_info[1]) is not None:
        return
    if deleted_account.deleted_mid_request(exc_info[1]):
        current_app.logger.info(
            "%s %s: the account was deleted during the request", request.method, loggable_path()
        )
        return
    app.logger.error("unhandled error on %s %s", request.method, loggable_path(), exc_info=exc_info)
