"""Work a server process does once at start instead of on its first requests.

mod_wsgi loads the app when a daemon process starts (``wsgi_app.wsgi``); what
Flask and its extensions would otherwise build on first use (the first pages'
compiled templates, the URL map's order, the ORM's mappers, the API's schema
instances) is built there too, so no visitor waits for it. Nothing here talks
to the database or Redis: a server that is down must not hold up the start.

Not built here: what few requests need and every process would carry, such as
the OpenAPI document (``api/openapi.py``) and the Markdown parser
(``post_rendering.py``); the first request that needs one builds it.
"""

from __future__ import annotations

import gc

from flask import Flask
from sqlalchemy.orm import configure_mappers

from .api import operations

# The pages the first visitors after a deploy most likely open, and what they
# import. Not every template: compiling all of them (about 170 ms) would cost a
# request that waits for a restarting process (after ``touch wsgi_app.wsgi``)
# more than it saves.
FIRST_PAGES = (
    "base.html",
    "site/index.html",
    "site/post.html",
    "_post_list_section.html",
    "_post.html",
    "_pagination.html",
)


def warm_up(app: Flask) -> None:
    """Build ``app``'s lazily built parts now."""
    for name in FIRST_PAGES:
        app.jinja_env.get_template(name)
    app.url_map.update()
    configure_mappers()
    for view in app.view_functions.values():
        described = operations.operation_of(view)
        if described is not None:
            described.prepare_schemas()


def freeze_start_objects() -> None:
    """Take what the process built at start out of the cyclic garbage collector's sight.

    The app, its modules and their caches (some 90,000 objects) live as long
    as the process, yet every full collection walks them, and so does Python's
    shutdown when mod_wsgi stops a daemon: 180-350 ms, which a request waiting
    for the restarted process after ``touch wsgi_app.wsgi`` pays. Frozen
    (``gc.freeze()``), the stop takes 12-25 ms. Reference counting still frees
    any of them that is dropped. Only at the end of a server process's start:
    a test process would keep whatever garbage cycles it holds then forever.
    """
    gc.freeze()
