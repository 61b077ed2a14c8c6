"""Logging: every record tagged with its request's id, and a line per request at INFO.

Records go to stderr, which Apache collects into its error log, and to a file
only when LOG_FILE is set. Production logs from WARNING up: the line per
request is Apache's access log's job there, which carries the same id from the
``X-Request-ID`` response header. Each record is written with a single write() of one
line, so lines from several mod_wsgi processes interleave but never mix.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from logging.handlers import WatchedFileHandler
from urllib.parse import quote

from flask import Flask, current_app, g, has_app_context, request
from flask.wrappers import Response

REQUEST_ID_HEADER = "X-Request-ID"
# A client's id is kept only if it is short and plain, so it cannot forge log lines.
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
LOG_FORMAT = "%(asctime)s %(levelname)s [pid %(process)d] [%(request_id)s] %(name)s: %(message)s"

request_logger = logging.getLogger("app.request")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record ("-" outside a request).

    Read from ``g``, so work a request hands to a background thread (which
    runs in an app context of its own) can carry the id of the request that
    asked for it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = "-"
        if has_app_context():
            request_id = g.get("request_id", "-")
        record.request_id = request_id
        return True


def init_app(app: Flask) -> None:
    """Configure the handlers and tag and log every request."""
    configure_logging(app)
    app.before_request(_start_request)
    app.after_request(_finish_request)


def configure_logging(app: Flask) -> None:
    """Send the app's records to stderr, and to LOG_FILE when it is set."""
    logger = logging.getLogger("app")
    for handler in [h for h in logger.handlers if getattr(h, "_app_handler", False)]:
        logger.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if app.config.get("LOG_FILE"):
        # Reopens the file when logrotate moves it away.
        handlers.append(WatchedFileHandler(app.config["LOG_FILE"], encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RequestIdFilter())
        handler._app_handler = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    # Our handlers replace Flask's default one, so records are not printed twice.
    logger.propagate = False


# URL variables that hold a secret (the one-time token of an emailed link):
# whoever reads the log must not be able to use a link nobody has opened yet.
SECRET_URL_VARIABLES = ("token",)
REDACTED = "[redacted]"


def secret_url_prefixes(app: Flask) -> tuple[str, ...]:
    """The paths under which a URL holds a secret, e.g. ``/auth/reset-password/``.

    Apache's access log leaves these requests' paths out (``flask apache-config``).
    """
    prefixes = {
        rule.rule.split("<", 1)[0]
        for rule in app.url_map.iter_rules()
        if rule.arguments & set(SECRET_URL_VARIABLES)
    }
    return tuple(sorted(prefixes))


def loggable_path() -> str:
    """The request's path, re-quoted so a decoded %0A cannot forge a log line, without secrets.

    Under a path that holds a secret (``secret_url_prefixes``) the rest is
    logged as ``[redacted]``, whichever method or view the request reached.
    """
    path = request.path
    prefixes = current_app.extensions.get("secret_url_prefixes")
    if prefixes is None:
        prefixes = current_app.extensions["secret_url_prefixes"] = secret_url_prefixes(current_app)
    for prefix in prefixes:
        if path.startswith(prefix) and len(path) > len(prefix):
            path = prefix + REDACTED
    return quote(request.script_root + path, safe="/:@!$&'()*+,;=-._~[]")


# Where WSGI puts the request's X-Request-ID header: read there, since the
# header mapping raises and catches an exception when a request has none.
_REQUEST_ID_ENVIRON_KEY = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")


def _new_request_id() -> str:
    """A fresh random id: 32 hex digits, a third of the cost of ``uuid.uuid4().hex``."""
    return os.urandom(16).hex()


def _start_request() -> None:
    g.request_started = time.perf_counter()
    incoming = request.environ.get(_REQUEST_ID_ENVIRON_KEY, "")
    g.request_id = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else _new_request_id()


def _finish_request(response: Response) -> Response:
    request_id = g.get("request_id") or _new_request_id()
    response.headers[REQUEST_ID_HEADER] = request_id
    if not request_logger.isEnabledFor(logging.INFO):
        return response
    started = g.get("request_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started else 0.0
    request_logger.info(
        "%s %s %s %.1fms",
        request.method,
        loggable_path(),
        response.status_code,
        duration_ms,
    )
    return response
