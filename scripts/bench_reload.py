"""Benchmark: how long requests stall while ``touch wsgi_app.wsgi`` reloads the app.

Starts one private Apache per variant of the daemon options (see
private_apache.py), then in interleaved rounds keeps each under steady load
with a few slow uploads in flight, touches the WSGI file and records every
request's latency. Prints, per variant, how many requests took over 1 s and
over 5 s, the slowest, failures, and how the slow uploads ended (400: the app
answered the blank body; 500: cut off by the restart). Run as root:

    .venv/bin/python scripts/bench_reload.py [--rounds 3] [--clients 16] [--uploads 6]
"""

from __future__ import annotations

import argparse
import http.client
import ssl
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.private_apache import PrivateApache, missing_prerequisites, system_venv

# The home page: templates, a database query, the cache.
PATH = "/"
# Each variant rewrites options of the rendered site: "before" is mod_wsgi's
# default shutdown-timeout, "now" the site as rendered.
VARIANTS: dict[str, dict[str, str]] = {
    "before": {"shutdown-timeout=2": "shutdown-timeout=5"},
    "now": {},
}


@dataclass
class VariantApache(PrivateApache):
    """A private instance whose rendered site gets some options replaced."""

    replacements: dict[str, str] | None = None

    def render_site(self) -> str:
        text = super().render_site()
        for old, new in (self.replacements or {}).items():
            if old not in text:
                raise SystemExit(f"the rendered site has no {old!r}")
            text = text.replace(old, new)
        return text


def timed_requests(apache: PrivateApache, seconds: float) -> list[tuple[float, int]]:
    """(latency, status) of requests made one after another for ``seconds``."""
    tls = ssl.create_default_context(cafile=str(apache.cert))
    results = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.monotonic()
        connection = http.client.HTTPSConnection(
            "localhost", apache.https_port, context=tls, timeout=60
        )
        try:
            connection.request("GET", PATH)
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            connection.close()
        results.append((time.monotonic() - started, status))
    return results


def slow_upload(apache: PrivateApache, seconds: float) -> int:
    """A client sending a 1 kB/s request body (a phone on a bad line): its status."""
    tls = ssl.create_default_context(cafile=str(apache.cert))
    size = int(seconds * 1000)
    connection = http.client.HTTPSConnection(
        "localhost", apache.https_port, context=tls, timeout=60
    )
    try:
        connection.putrequest("POST", "/api/users")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(size))
        connection.endheaders()
        for _ in range(size // 100):
            connection.send(b" " * 100)
            time.sleep(0.1)
        response = connection.getresponse()
        response.read()
        return response.status
    except OSError:
        return 0
    finally:
        connection.close()


def one_round(
    apache: PrivateApache, clients: int, seconds: float, uploads: int
) -> tuple[list[tuple[float, int]], list[int]]:
    """Latencies of the steady clients, and the statuses of the slow uploads."""
    with ThreadPoolExecutor(max_workers=clients + uploads) as pool:
        # Every daemon process serves (and absorbs a reload left pending by the
        # other variant's touch) before the measured touch.
        list(pool.map(timed_requests, [apache] * clients, [3] * clients))
        running = [pool.submit(timed_requests, apache, seconds) for _ in range(clients)]
        slow = [pool.submit(slow_upload, apache, 8) for _ in range(uploads)]
        time.sleep(1)
        (apache.project / "wsgi_app.wsgi").touch()
        latencies = [result for future in running for result in future.result()]
        return latencies, [future.result() for future in slow]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--uploads", type=int, default=6, help="slow uploads in flight at the touch"
    )
    args = parser.parse_args()
    problem = missing_prerequisites()
    if problem:
        print(f"Cannot start a private Apache: {problem}", file=sys.stderr)
        return 1
    venv = system_venv()
    instances = {
        name: VariantApache(venv=venv, replacements=replacements).start()
        for name, replacements in VARIANTS.items()
    }
    results: dict[str, list[list[tuple[float, int]]]] = {name: [] for name in instances}
    uploads: dict[str, list[int]] = {name: [] for name in instances}
    try:
        for number in range(args.rounds):
            for name, apache in instances.items():
                latencies, statuses = one_round(apache, args.clients, args.seconds, args.uploads)
                results[name].append(latencies)
                uploads[name] += statuses
                print(f"round {number + 1}: {name} done", file=sys.stderr)
    finally:
        for apache in instances.values():
            apache.stop()
            apache.cleanup()
    print(
        f"{'variant':10} {'requests':>8} {'>1s':>5} {'>5s':>5} {'max s':>6} "
        f"{'median max':>10} {'failed':>6}  slow uploads' statuses"
    )
    for name, rounds in results.items():
        flat = [item for one in rounds for item in one]
        slow1 = sum(1 for latency, _ in flat if latency > 1)
        slow5 = sum(1 for latency, _ in flat if latency > 5)
        worst = max(latency for latency, _ in flat)
        median_worst = statistics.median(max(latency for latency, _ in one) for one in rounds)
        failed = sum(1 for _, status in flat if status != 200)
        print(
            f"{name:10} {len(flat):8} {slow1:5} {slow5:5} {worst:6.2f} {median_worst:10.2f} "
            f"{failed:6}  {sorted(uploads[name])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
