"""The API's documentation for people: Swagger UI reading the OpenAPI document.

Swagger UI is shipped in the repository (``app/static/vendor/swagger-ui``,
see its README), so the page works offline and loads nothing from another
site. It is started by a script of our own (``static/js/api-docs.js``), not
an inline one, and the page gets a policy of its own: the site's, plus what
Swagger UI needs and no other page does (``DOCS_POLICY``).
"""

from __future__ import annotations

from flask import make_response, render_template
from flask.wrappers import Response

from ..extensions import limiter
from ..security_headers import PAGE_POLICY, serialize
from . import bp

DOCS_ENDPOINT = "api.docs"
# The site's policy, and what Swagger UI needs: to fetch the document and send
# "Try it out" requests to this same site (connect-src), and the small images
# its stylesheet holds as data: URIs (icons and arrows). Still no inline
# script or style, and nothing from another origin.
DOCS_POLICY: dict[str, tuple[str, ...]] = {
    **PAGE_POLICY,
    "connect-src": ("'self'",),
    "img-src": ("'self'", "data:"),
}
DOCS_CSP = serialize(DOCS_POLICY)


@bp.get("/docs")
@limiter.exempt
def docs() -> Response:
    """Swagger UI for this API, under the site's own header and footer.

    Never kept by the page cache (``app/page_cache.py``): it keeps a body and
    its type, not this page's own policy, which a kept copy would lose.
    """
    response = make_response(render_template("api/docs.html"))
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response
