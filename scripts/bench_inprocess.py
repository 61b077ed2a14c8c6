"""Benchmark: the app's own cost per request, in process, without a server or TLS.

    .venv/bin/python scripts/bench_inprocess.py [--requests 2000] [--batches 7]
        [--routes health,home,...] [--profile health [--sort tottime] [--lines 40]]

Creates a MariaDB database of its own (dropped at the end) and uses the
machine's Redis under a prefix of its own (deleted at the end), as
``make bench`` does; seeds users and posts; loads the app as mod_wsgi does
(``wsgi_app.wsgi``: the production configuration, the warm-up, the frozen
start), then calls it as a WSGI application from one thread, in batches, and
prints each route's microseconds per request (median and fastest batch, and
the median CPU time of this process alone), next to a minimal Flask app
answering a small JSON in the same loop. Anonymous pages are asked twice
first, so the timed requests are the cached answers; ``home-logged-in`` is
the home page for a user logged in through the site's form.
Times include the round trips to MariaDB and Redis on loopback.

``--profile ROUTE`` runs cProfile over that route's requests instead and
prints the functions that took the most time.

Not a test: CI never runs it. Compare two versions by running it on each,
one after the other, on a quiet machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import runpy
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask
from werkzeug.test import Client

from scripts import bench_data
from scripts.private_apache import PROJECT

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ROUTES = {
    "health": "/api/health",
    "home": "/",
    "posts-api": "/api/posts?per_page=20",
    "user": "/users/demo1",
    "post": "/posts/1",
    "home-logged-in": "/",
}
# Routes asked with the session cookie of a logged-in user.
LOGGED_IN = {"home-logged-in"}


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per batch (2000)")
    parser.add_argument("--batches", type=int, default=7, help="batches per route (7)")
    parser.add_argument(
        "--routes", default=",".join(ROUTES), help=f"comma-separated, of: {', '.join(ROUTES)}"
    )
    parser.add_argument("--profile", choices=sorted(ROUTES), help="profile this route instead")
    parser.add_argument(
        "--sort", default="cumulative", help="profile order: cumulative (default) or tottime"
    )
    parser.add_argument("--lines", type=int, default=40, help="profile lines to print (40)")
    bench_data.add_server_arguments(parser)
    args = parser.parse_args()
    args.route_keys = [key.strip() for key in args.routes.split(",") if key.strip()]
    unknown = set(args.route_keys) - set(ROUTES)
    if unknown:
        parser.error(f"unknown route(s): {', '.join(sorted(unknown))}; known: {list(ROUTES)}")
    if args.requests < 1 or args.batches < 1:
        parser.error("--requests and --batches must be 1 or more")
    return args


def environ_for(path: str) -> dict[str, Any]:
    """What mod_wsgi hands the app for a GET of ``path`` over HTTPS."""
    route, _, query = path.partition("?")
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": route,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "localhost",
        "HTTP_USER_AGENT": "flaskapp-bench",
        "HTTP_ACCEPT": "*/*",
        "HTTPS": "1",
        "wsgi.url_scheme": "https",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.errors": sys.stderr,
    }


def log_in(app: WSGIApp) -> str:
    """Log a seeded user in through the site's form; the Cookie header to send."""
    client = Client(app)
    base = "https://localhost"
    # The address and User-Agent of environ_for: the session is bound to both.
    asked = {
        "headers": {"User-Agent": "flaskapp-bench"},
        "environ_base": {"REMOTE_ADDR": "127.0.0.1"},
    }
    form = client.get(f"{base}/auth/login", **asked).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("the log-in form has no CSRF token")
    data = {"csrf_token": token[1], "login": "demo1", "password": bench_data.PASSWORD}
    referer = {**asked["headers"], "Referer": f"{base}/auth/login"}
    client.post(f"{base}/auth/login", data=data, **{**asked, "headers": referer})
    if "Log out" not in client.get(f"{base}/", **asked).get_data(as_text=True):
        raise RuntimeError("logging in through the form failed")
    cookies = [
        client.get_cookie(name, domain="localhost") for name in ("session", "remember_token")
    ]
    return "; ".join(f"{c.key}={c.value}" for c in cookies if c is not None)


def requester(app: WSGIApp, path: str, cookie: str = "") -> Callable[[], str]:
    """One GET of ``path`` through ``app``, body read and closed; returns the status line."""
    template = environ_for(path)
    if cookie:
        template["HTTP_COOKIE"] = cookie
    status = [""]

    def start_response(line: str, headers: Any, exc_info: Any = None) -> Callable[..., None]:
        status[0] = line
        return lambda data: None

    def one() -> str:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(b"")
        body = app(environ, start_response)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return status[0]

    return one


def microseconds(
    one: Callable[[], str], requests: int, batches: int
) -> tuple[list[float], list[float]]:
    """Microseconds per request of each batch: elapsed, and this process's CPU."""
    elapsed, cpu = [], []
    for _ in range(batches):
        started, started_cpu = time.perf_counter(), time.process_time()
        for _ in range(requests):
            one()
        elapsed.append((time.perf_counter() - started) / requests * 1e6)
        cpu.append((time.process_time() - started_cpu) / requests * 1e6)
    return elapsed, cpu


def reference_app() -> Flask:
    """The yardstick: the same small JSON as scripts/reference_app.wsgi answers."""
    app = Flask("reference")

    @app.get("/reference")
    def reference() -> dict[str, str]:
        return {"status": "ok"}

    return app


def prepare(args: argparse.Namespace, cleanup: ExitStack) -> None:
    """A database with the schema and data, and the production settings in os.environ."""
    tag = secrets.token_hex(4)
    database, marker = f"bench_{tag}", f"bench-{tag}"
    database_url = bench_data.create_database(args.mariadb, database)
    cleanup.callback(bench_data.drop_database, args.mariadb, database)
    cleanup.callback(bench_data.delete_redis_keys, args.redis, marker)
    os.environ.update(
        FLASK_CONFIG="production",
        SECRET_KEY=secrets.token_hex(32),
        DATABASE_URL=database_url,
        REDIS_URL=args.redis,
        RATELIMIT_STORAGE_URI=args.redis,
        CACHE_KEY_PREFIX=f"{marker}:",
        RATELIMIT_KEY_PREFIX=marker,
        MAIL_ENABLED="false",
    )
    venv = Path(sys.executable).parent.parent
    subprocess.run(
        [str(venv / "bin" / "flask"), "--app", "wsgi", "db", "upgrade"],
        cwd=PROJECT,
        env=os.environ,
        check=True,
        capture_output=True,
    )
    bench_data.seed_users(venv, PROJECT, dict(os.environ))
    bench_data.seed_posts(database_url, 1000)


def main() -> int:
    args = parse_arguments()
    with ExitStack() as cleanup:
        print("creating and seeding the database", file=sys.stderr)
        prepare(args, cleanup)
        app: WSGIApp = runpy.run_path(str(PROJECT / "wsgi_app.wsgi"))["application"]
        keys = [args.profile] if args.profile else args.route_keys
        cookie = log_in(app) if LOGGED_IN & set(keys) else ""
        requests = {
            key: requester(app, ROUTES[key], cookie if key in LOGGED_IN else "") for key in keys
        }
        for key, one in requests.items():
            # Warm: the connections, and the page cache for anonymous pages.
            statuses = {one() for _ in range(50)}
            if statuses != {"200 OK"}:
                raise SystemExit(f"{ROUTES[key]} answered {statuses}")
        if args.profile:
            profiler = cProfile.Profile()
            one = requests[args.profile]
            profiler.runcall(lambda: [one() for _ in range(args.requests)])
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.lines)
            return 0
        requests = {"reference": requester(reference_app(), "/reference"), **requests}
        print(f"{'route':34} {'median µs':>10} {'fastest µs':>11} {'x minimal':>10} {'CPU µs':>8}")
        reference_median = 0.0
        for key, one in requests.items():
            for _ in range(200):
                one()
            batches, cpu = microseconds(one, args.requests, args.batches)
            median = statistics.median(batches)
            reference_median = reference_median or median
            label = "minimal Flask app" if key == "reference" else f"GET {ROUTES[key]}"
            if key in LOGGED_IN:
                label += " logged in"
            print(
                f"{label:34} {median:10.1f} {min(batches):11.1f}"
                f" {reference_median / median:10.2f} {statistics.median(cpu):8.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
