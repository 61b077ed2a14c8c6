"""Benchmark: throughput of mod_wsgi daemon layouts (processes x threads), side by side.

Starts one private Apache per layout (see private_apache.py), seeds the same
data, and runs ApacheBench against each in interleaved rounds, so the noise of
a shared machine hits every layout alike. Prints requests per second and each
layout's ratio to the default (2 processes x 5 threads). Run as root:

    .venv/bin/python scripts/bench_apache.py [--rounds 3] [--requests 1500]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.private_apache import PrivateApache, missing_prerequisites, system_venv

LAYOUTS = [(1, 10), (2, 5), (5, 2)]
DEFAULT = (2, 5)
PATHS = ["/", "/api/posts?per_page=20", "/api/health"]


def seed(apache: PrivateApache) -> None:
    subprocess.run(
        [
            str(apache.venv / "bin" / "flask"),
            "--app",
            "wsgi",
            "seed",
            "--users",
            "20",
            "--posts",
            "10",
            "--password",
            "benchmark-password",
        ],
        cwd=apache.project,
        env=apache.app_environment(),
        check=True,
        capture_output=True,
    )
    subprocess.run(["chown", "-R", "www-data:www-data", str(apache.root / "data")], check=True)


def requests_per_second(apache: PrivateApache, path: str, requests: int, concurrency: int) -> float:
    result = subprocess.run(
        [
            "ab",
            "-q",
            "-k",
            "-n",
            str(requests),
            "-c",
            str(concurrency),
            f"https://127.0.0.1:{apache.https_port}{path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    failed = re.search(r"Failed requests:\s+(\d+)", result.stdout)
    if failed and int(failed[1]):
        raise RuntimeError(f"{failed[1]} failed requests on {path}")
    match = re.search(r"Requests per second:\s+([\d.]+)", result.stdout)
    assert match, result.stdout
    return float(match[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    problem = missing_prerequisites()
    if problem:
        print(f"cannot benchmark: {problem}", file=sys.stderr)
        return 1
    venv = system_venv()
    instances = {}
    try:
        for processes, threads in LAYOUTS:
            apache = PrivateApache(venv=venv, processes=processes, threads=threads)
            apache.start()
            seed(apache)
            for path in PATHS:  # warm up: imports, caches, TLS session
                requests_per_second(apache, path, 200, args.concurrency)
            instances[(processes, threads)] = apache
        results: dict[tuple[tuple[int, int], str], list[float]] = {}
        for _ in range(args.rounds):
            for path in PATHS:
                for layout, apache in instances.items():
                    rate = requests_per_second(apache, path, args.requests, args.concurrency)
                    results.setdefault((layout, path), []).append(rate)
    finally:
        for apache in instances.values():
            apache.stop()
            apache.cleanup()

    print(f"{'layout':>8} {'path':<24} {'req/s (median)':>15} {'vs 2x5':>8}")
    for path in PATHS:
        baseline = statistics.median(results[(DEFAULT, path)])
        for layout in LAYOUTS:
            rate = statistics.median(results[(layout, path)])
            name = f"{layout[0]}x{layout[1]}"
            print(f"{name:>8} {path:<24} {rate:>15.0f} {rate / baseline:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
