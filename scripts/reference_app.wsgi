"""The yardstick of ``make bench``: a minimal Flask app answering one small JSON.

mod_wsgi loads it through the same rendered vhost as the site's own
wsgi_app.wsgi (scripts/bench_servers.py swaps only the file), so the ratio
of a route's throughput to this one's is what the app itself costs.
"""

from flask import Flask

application = Flask(__name__)


@application.get("/reference")
def reference() -> dict[str, str]:
    """A small JSON document, as /api/health's is."""
    return {"status": "ok"}
