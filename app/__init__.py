"""The application factory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask

from .lighter_requests import LighterRequestsMixin

# The one place the version is written: the OpenAPI document reads it, and
# CHANGELOG.md records what each version changed.
__version__ = "1.1.0"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SiteFlask(LighterRequestsMixin, Flask):
    """Flask, with unhandled errors logged the way ``errors.log_exception`` says,
    and the per-request repeats of ``lighter_requests`` done once."""

    def log_exception(self, exc_info: Any) -> None:
        from .errors import log_exception

        log_exception(self, exc_info)


def create_app(config_name: str | None = None) -> Flask:
    """Build the application.

    ``config_name`` is ``development``, ``production`` or ``testing``; when it is
    None, ``FLASK_CONFIG`` decides. Raises ``config.ConfigError`` naming the
    setting when the configuration is unusable.
    """
    from config import load_config

    from . import (
        account_settings,
        accounts,
        api,
        cli,
        converters,
        errors,
        extensions,
        feeds,
        logs,
        page_cache,
        password_reset_pages,
        post_counts,
        proxies,
        robots,
        scope_changes,
        security_headers,
        session_cookie,
        site,
        sitemaps,
        static_urls,
        stored_renderings,
    )

    app = SiteFlask(
        __name__, instance_path=str(PROJECT_ROOT / "instance"), instance_relative_config=True
    )
    settings = load_config(config_name)
    app.config.from_object(settings)
    app.config.from_pyfile("config.py", silent=True)
    settings.validate(app.config)

    # First, so its request id and timer are set before any other hook runs.
    logs.init_app(app)
    session_cookie.init_app(app)
    extensions.init_app(app)
    converters.init_app(app)
    site.init_app(app)
    feeds.init_app(app)
    sitemaps.init_app(app)
    robots.init_app(app)
    accounts.init_app(app)
    password_reset_pages.init_app(app)
    account_settings.init_app(app)
    api.init_app(app)
    errors.init_app(app)
    security_headers.init_app(app)
    page_cache.init_app(app)
    static_urls.init_app(app)
    # Around the whole app: every hook and view sees the client's own address.
    proxies.init_app(app)
    cli.init_app(app)
    post_counts.init_app(app)
    scope_changes.init_app(app)
    stored_renderings.init_app(app)
    return app
