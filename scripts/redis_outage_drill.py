"""Measure what a Redis outage costs the app under load: errors, waits, recovery.

    .venv/bin/python scripts/redis_outage_drill.py [--seconds 20] [--threads 8]

Starts a private redis-server on a free port (never the one other programs
use), serves the app in its production configuration with the cache and the
rate limits on it, and sends concurrent requests to the cached routes. Then it
stops Redis for ``--seconds`` and starts it again, and does the same with a
frozen Redis (SIGSTOP, then SIGCONT). For each it prints the answers other than
200 during the outage, the slowest answer, and how long after Redis returned
the cache and the rate limits used it again.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.redis_outage import (  # noqa: E402
    LogRecorder,
    Traffic,
    drill_app,
    limits_counted_in_redis,
    running_redis,
    wait_for,
)


def drill(mode: str, seconds: float, threads: int, folder: Path) -> dict[str, object]:
    """One outage (``stop`` or ``pause``) under load; the figures measured."""
    recorder = LogRecorder()
    logging.getLogger("app.resilient_cache").addHandler(recorder)
    try:
        with (
            running_redis(folder / f"redis-{mode}") as redis_server,
            drill_app(redis_server, folder / f"{mode}.db") as served,
        ):
            traffic = Traffic(served, threads=threads).start()
            try:
                wait_for(lambda: bool(redis_server.keys(served.cache_prefix)), timeout=10)
                time.sleep(1)
                began = time.monotonic()
                redis_server.stop() if mode == "stop" else redis_server.pause()
                guesses = Counter(served.wrong_password() for _ in range(6))
                time.sleep(max(0.0, seconds - (time.monotonic() - began)))
                ended = time.monotonic()
                redis_server.start() if mode == "stop" else redis_server.resume()
                cache_back = wait_for(lambda: bool(recorder.at(logging.INFO)), timeout=120)
                limits_back = wait_for(
                    lambda: limits_counted_in_redis(served, redis_server),
                    timeout=120,
                    interval=0.25,
                )
                time.sleep(1)
            finally:
                traffic.stop()
    finally:
        logging.getLogger("app.resilient_cache").removeHandler(recorder)
    during = traffic.between(began, ended)
    return {
        "mode": mode,
        "requests during outage": len(during),
        "statuses during outage": dict(Counter(status for _, _, status, _, _ in during)),
        "wrong bodies (whole run)": sum(1 for *_, right in traffic.results if not right),
        "500s (whole run)": sum(1 for _, _, status, _, _ in traffic.results if status == 500),
        "slowest during outage (s)": round(max(r[3] for r in during), 3),
        "99th percentile during outage (s)": round(_percentile([r[3] for r in during], 99), 3),
        "answers over 0.25 s during outage": sum(1 for r in during if r[3] > 0.25),
        "slowest whole run (s)": round(max(r[3] for r in traffic.results), 3),
        "password guesses during outage": dict(guesses),
        "cache back after (s)": round(cache_back, 2),
        "rate limits back in Redis after (s)": round(limits_back, 2),
        "cache warnings logged": len(recorder.at(logging.WARNING)),
    }


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each outage")
    parser.add_argument("--threads", type=int, default=8, help="concurrent clients")
    parser.add_argument("--mode", choices=["stop", "pause", "both"], default="both")
    args = parser.parse_args()
    # The app's per-request log lines would drown the figures.
    logging.getLogger("app.request").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    modes = ["stop", "pause"] if args.mode == "both" else [args.mode]
    with tempfile.TemporaryDirectory(prefix="redis-drill-") as folder:
        for mode in modes:
            for name, value in drill(mode, args.seconds, args.threads, Path(folder)).items():
                print(f"{name:36} {value}")
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
