"""Benchmark: what each route of the app costs under Apache + mod_wsgi, side by side.

    sudo make bench BENCH_ARGS="--posts 100000 --rounds 5"
    sudo .venv/bin/python scripts/bench.py [--posts 1000] [--rounds 3] [--duration 8]
        [--connections 10] [--routes health,home,...]

Starts on loopback, with the processes x threads of the rendered vhost (2 x 5):

- the app under a private Apache from the rendered vhost (HTTPS, production
  configuration), on a MariaDB database of its own (created, then dropped)
  and the machine's Redis for the cache and the rate limits (keys under a
  prefix of its own, deleted at the end);
- the same app, venv and settings under gunicorn's gthread worker (HTTP);
- a minimal Flask app answering a small JSON, under the same rendered vhost.

It seeds ``--posts`` posts (bulk inserts), logs in once through the site's
form to get a session cookie, warms every server up, then runs wrk in
interleaved rounds: in each round every route on every server, in turn, so a
busy moment of the machine hits them alike. Ratios are taken within a round.

The table gives, per route and server: requests/s, median and 99th percentile
latency, the server's CPU time per request (user + system time of all its
processes, from /proc, around the run), the route's throughput as a multiple
of the minimal app's and of gunicorn's, each as the median (min-max) over the
rounds. Then the resident memory of each daemon after the load, and the time
to the first 200 after ``touch wsgi_app.wsgi`` and after a fresh Apache start.

wrk runs on the same machine and takes CPU from the servers; compare ratios
between runs, not raw rates between machines. Not a test: CI never runs it.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import platform
import re
import secrets
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts import bench_data, bench_load
from scripts.bench_servers import (
    APP_WSGI,
    REFERENCE_PATH,
    USER_AGENT,
    AppApache,
    Gunicorn,
    ReferenceApache,
    Server,
    bench_venv,
    cpu_seconds,
    get,
    resident_mib,
    unverified_tls,
    wait_for_200,
)
from scripts.private_apache import PROJECT, missing_prerequisites

PROCESSES, THREADS = 2, 5
WARM_UP_SECONDS = 2.0
# The route whose first answer is timed after a touch or a fresh start.
FIRST_REQUEST_PATH = "/"


@dataclass(frozen=True)
class Route:
    """One route of the table."""

    key: str  # its name for --routes
    label: str
    path: str
    logged_in: bool = False
    reference: bool = False  # served by the minimal app only


def all_routes(post_id: int, username: str) -> list[Route]:
    """Every route the benchmark knows, the reference first."""
    return [
        Route("reference", "minimal Flask app", REFERENCE_PATH, reference=True),
        Route("health", "GET /api/health", "/api/health"),
        Route("home", "GET / anonymous", "/"),
        Route("posts-api", "GET /api/posts?per_page=20", "/api/posts?per_page=20"),
        Route("post", "GET /posts/<id>", f"/posts/{post_id}"),
        Route("user", "GET /users/<name>", f"/users/{username}"),
        # Never cached: every request asks the full-text index (a word in a few
        # percent of the posts; scripts/bench_search.py compares words).
        Route("search", "GET /search?q=<word>", f"/search?q={bench_data.VOCABULARY[-1]}"),
        Route("home-logged-in", "GET / logged in", "/", logged_in=True),
        Route("static", "GET /static/css/style.css", "/static/css/style.css"),
    ]


ROUTE_KEYS = [route.key for route in all_routes(0, "")]


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000, help="posts to seed (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument(
        "--duration", type=float, default=8, help="seconds per route, server and round (8)"
    )
    parser.add_argument(
        "--connections", type=int, default=10, help="wrk's concurrent connections (10)"
    )
    parser.add_argument(
        "--routes",
        default=",".join(ROUTE_KEYS),
        help=f"comma-separated, of: {', '.join(ROUTE_KEYS)} (the reference always runs)",
    )
    bench_data.add_server_arguments(parser)
    args = parser.parse_args()
    chosen = {key.strip() for key in args.routes.split(",") if key.strip()}
    unknown = chosen - set(ROUTE_KEYS)
    if unknown:
        parser.error(f"unknown route(s): {', '.join(sorted(unknown))}; known: {ROUTE_KEYS}")
    args.route_keys = chosen | {"reference"}
    if args.posts < 1 or args.rounds < 1 or args.duration <= 0 or args.connections < 1:
        parser.error("--posts, --rounds and --connections must be 1 or more, --duration above 0")
    return args


def log_in(base_url: str, username: str, password: str) -> str:
    """Log in through the site's form (CSRF token and all); the Cookie header to send."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=unverified_tls()),
        urllib.request.HTTPCookieProcessor(jar),
    )
    headers = {"User-Agent": USER_AGENT}
    with opener.open(urllib.request.Request(f"{base_url}/auth/login", headers=headers)) as response:
        form = response.read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
    if token is None:
        raise RuntimeError("the log-in form has no CSRF token")
    body = urllib.parse.urlencode(
        {"csrf_token": token[1], "login": username, "password": password}
    ).encode()
    # Over HTTPS Flask-WTF wants a Referer from the same host.
    post = urllib.request.Request(
        f"{base_url}/auth/login",
        data=body,
        headers={**headers, "Referer": f"{base_url}/auth/login"},
    )
    # The redirect to / is followed, which also shows (and so uses up) the welcome flash.
    with opener.open(post) as response:
        page = response.read().decode()
    if "Log out" not in page:
        raise RuntimeError("logging in through the form failed")
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in jar)


def servers_of(route: Route, servers: dict[str, Server]) -> list[Server]:
    if route.reference:
        return [servers["reference"]]
    return [servers["apache"], servers["gunicorn"]]


def headers_of(route: Route, cookie: str) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if route.logged_in:
        headers["Cookie"] = cookie
    return headers


def check_routes(routes: list[Route], servers: dict[str, Server], cookie: str) -> None:
    """Every route answers 200 on every server, logged in only where it should be."""
    for route in routes:
        for server in servers_of(route, servers):
            status, body = get(server.url + route.path, headers_of(route, cookie))
            if status != 200:
                raise RuntimeError(f"{route.label} on {server.name} answered {status}")
            if route.path == "/" and ("Log out" in body) != route.logged_in:
                raise RuntimeError(f"{route.label} on {server.name}: wrong log-in state")


Results = dict[tuple[str, str], list[bench_load.Run]]


def measure(
    routes: list[Route],
    servers: dict[str, Server],
    cookie: str,
    args: argparse.Namespace,
    seconds: float,
    rounds: int,
) -> Results:
    """``rounds`` rounds, each running every route on each of its servers once, in turn."""
    results: Results = {}
    for number in range(rounds):
        for route in routes:
            for server in servers_of(route, servers):
                run = bench_load.run(
                    server.url + route.path,
                    seconds,
                    args.connections,
                    headers_of(route, cookie),
                    cpu_reader(server),
                )
                results.setdefault((route.key, server.name), []).append(run)
        if rounds > 1:
            print(f"round {number + 1} of {rounds} done", file=sys.stderr)
    return results


def cpu_reader(server: Server) -> Callable[[], float]:
    """Reads the CPU seconds ``server``'s processes have used."""
    return lambda: cpu_seconds(server.root_pid())


def first_request_after_touch(app: AppApache) -> float:
    """Seconds from ``touch wsgi_app.wsgi`` to the first 200, the machine otherwise quiet."""
    time.sleep(1)
    started = time.perf_counter()
    (app.project / APP_WSGI).touch()
    wait_for_200(app.url + FIRST_REQUEST_PATH)
    seconds = time.perf_counter() - started
    settle(app)
    return seconds


def first_request_after_start(app: AppApache) -> float:
    """Seconds from ``apache2 -k start`` to the first 200, after a full stop."""
    app.stop_and_wait()
    started = time.perf_counter()
    app.start_again()
    wait_for_200(app.url + FIRST_REQUEST_PATH)
    seconds = time.perf_counter() - started
    settle(app)
    return seconds


def settle(app: AppApache) -> None:
    # Every daemon reloads before the next measurement, not during it.
    bench_load.run(app.url + FIRST_REQUEST_PATH, 2, PROCESSES * THREADS, {}, lambda: 0.0)


def spread(values: list[float], digits: int = 0) -> str:
    """The median and (min-max) of ``values``."""
    median = statistics.median(values)
    if len(values) == 1:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def ratios(numerators: list[bench_load.Run], denominators: list[bench_load.Run]) -> list[float]:
    """Requests/s of one run over the other's, round by round."""
    return [
        top.requests_per_second / bottom.requests_per_second
        for top, bottom in zip(numerators, denominators, strict=True)
    ]


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = Path("/proc/meminfo").read_text().split()[1]
    return (
        f"{os.cpu_count()} cores ({model}), {int(memory) // 1024 // 1024 + 1} GiB, "
        f"{platform.system()} {platform.release()}"
    )


def versions(venv: Path) -> str:
    def first_line(command: list[str]) -> str:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        return (result.stdout or result.stderr).strip().splitlines()[0]

    apache = first_line(["/usr/sbin/apache2", "-v"]).split(":", 1)[1].strip()
    mod_wsgi = first_line(["dpkg-query", "-W", "-f=${Version}", "libapache2-mod-wsgi-py3"])
    python = first_line([str(venv / "bin" / "python"), "--version"])
    gunicorn = first_line([str(venv / "bin" / "gunicorn"), "--version"])
    wrk = first_line(["wrk", "-v"]).split(" [")[0]
    return f"{apache}, mod_wsgi {mod_wsgi}, {python}, {gunicorn}, {wrk}"


def print_table(routes: list[Route], results: Results) -> None:
    reference = results[("reference", "reference")]
    rows = [
        ["route", "server", "req/s", "p50 ms", "p99 ms", "CPU ms/req"]
        + ["x minimal", "x gunicorn", "errors"]
    ]
    for route in routes:
        for name in ("reference",) if route.reference else ("apache", "gunicorn"):
            runs = results[(route.key, name)]
            x_minimal = x_gunicorn = "-"
            if name == "apache":
                x_minimal = spread(ratios(runs, reference), 2)
                x_gunicorn = spread(ratios(runs, results[(route.key, "gunicorn")]), 2)
            rows.append(
                [
                    route.label,
                    name,
                    spread([r.requests_per_second for r in runs]),
                    spread([r.p50_ms for r in runs], 1),
                    spread([r.p99_ms for r in runs], 0),
                    spread([r.cpu_ms_per_request for r in runs], 2),
                    x_minimal,
                    x_gunicorn,
                    str(sum(r.errors for r in runs)),
                ]
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(cells))
    if ("home", "apache") in results and ("home-logged-in", "apache") in results:
        for name in ("apache", "gunicorn"):
            logged_in = ratios(results[("home-logged-in", name)], results[("home", name)])
            print(f"GET / logged in / anonymous, {name}: {spread(logged_in, 2)}")


@dataclass
class Report:
    """Everything one benchmark run measured."""

    started: datetime
    posts: int
    seed_seconds: float
    routes: list[Route]
    results: Results
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    memory: dict[str, list[float]]
    after_touch: list[float]
    load_touch: float
    after_start: list[float]
    load_start: float


def run_benchmark(args: argparse.Namespace, venv: Path) -> Report:
    """Start the servers on fresh data, measure, and leave nothing behind."""
    tag = secrets.token_hex(4)
    database, marker = f"bench_{tag}", f"bench-{tag}"
    with ExitStack() as cleanup:
        database_url = bench_data.create_database(args.mariadb, database)
        cleanup.callback(bench_data.drop_database, args.mariadb, database)
        cleanup.callback(bench_data.delete_redis_keys, args.redis, marker)
        environment = {
            "DATABASE_URL": database_url,
            "REDIS_URL": args.redis,
            "RATELIMIT_STORAGE_URI": args.redis,
            "CACHE_KEY_PREFIX": f"{marker}:",
            "RATELIMIT_KEY_PREFIX": marker,
            # wrk is one client: the search limit (60 a minute) would answer its
            # searches with 429. It is still checked and counted, as in production.
            "RATELIMIT_SEARCH": "1000000 per minute",
        }
        app = AppApache(venv=venv, processes=PROCESSES, threads=THREADS, environment=environment)
        cleanup.callback(app.cleanup)
        cleanup.callback(app.stop)
        app.start()
        print(f"seeding {args.posts} posts", file=sys.stderr)
        bench_data.seed_users(venv, PROJECT, app.app_environment())
        seed_seconds = bench_data.seed_posts(database_url, args.posts)
        gunicorn = Gunicorn(venv, app.app_environment(), PROCESSES, THREADS)
        cleanup.callback(gunicorn.stop)
        gunicorn.start()
        reference = ReferenceApache(venv=venv, processes=PROCESSES, threads=THREADS)
        cleanup.callback(reference.cleanup)
        cleanup.callback(reference.stop)
        reference.start()
        servers: dict[str, Server] = {"apache": app, "gunicorn": gunicorn, "reference": reference}

        username = "demo1"
        routes = [
            route
            for route in all_routes(bench_data.middle_post_id(database_url), username)
            if route.key in args.route_keys
        ]
        cookie = log_in(app.url, username, bench_data.PASSWORD)
        check_routes(routes, servers, cookie)
        print("warming up", file=sys.stderr)
        measure(routes, servers, cookie, args, WARM_UP_SECONDS, 1)
        load_before = os.getloadavg()
        started = datetime.now(UTC)
        results = measure(routes, servers, cookie, args, args.duration, args.rounds)
        load_after = os.getloadavg()
        # Still 200 and still logged in: wrk itself reads no page.
        check_routes(routes, servers, cookie)
        memory = {
            name: [resident_mib(pid) for pid in server.worker_pids()]
            for name, server in servers.items()
        }
        after_touch = [first_request_after_touch(app) for _ in range(args.rounds)]
        load_touch = os.getloadavg()[0]
        after_start = [first_request_after_start(app) for _ in range(args.rounds)]
        load_start = os.getloadavg()[0]
    return Report(
        started,
        args.posts,
        seed_seconds,
        routes,
        results,
        load_before,
        load_after,
        memory,
        after_touch,
        load_touch,
        after_start,
        load_start,
    )


def print_report(report: Report, args: argparse.Namespace, venv: Path) -> None:
    print()
    print(f"make bench, {report.started:%Y-%m-%d %H:%M} UTC: {machine()}")
    print(f"  {versions(venv)}")
    print(
        f"  {report.posts} posts ({report.seed_seconds:.1f} s to insert), {PROCESSES} processes x "
        f"{THREADS} threads, wrk {args.connections} connections, {args.duration:g} s per "
        f"route and round, {args.rounds} rounds; Apache over HTTPS, gunicorn over HTTP"
    )
    print(
        "  load average before the rounds: "
        + " ".join(f"{x:.2f}" for x in report.load_before)
        + ", after: "
        + " ".join(f"{x:.2f}" for x in report.load_after)
    )
    print("  each cell: median (min-max) over the rounds; ratios of requests/s within a round")
    print()
    print_table(report.routes, report.results)
    print()
    for name, sizes in report.memory.items():
        listed = ", ".join(f"{size:.0f}" for size in sorted(sizes))
        print(f"RSS after the load, MiB per Python process, {name}: {listed}")
    print(
        f"first 200 of GET {FIRST_REQUEST_PATH} after touch {APP_WSGI} "
        f"(the benchmark's load stopped): {spread(report.after_touch, 2)} s, "
        f"load average {report.load_touch:.2f}"
    )
    print(
        f"first 200 of GET {FIRST_REQUEST_PATH} after a fresh Apache start (same): "
        f"{spread(report.after_start, 2)} s, load average {report.load_start:.2f}"
    )


def main() -> int:
    args = parse_arguments()
    problem = missing_prerequisites() or bench_load.missing_load_generator()
    if problem:
        print(f"Cannot benchmark: {problem}", file=sys.stderr)
        return 1
    venv = bench_venv()
    print_report(run_benchmark(args, venv), args, venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
