"""Benchmark: the front's throughput with one node and with two, side by side, and failover.

Builds the loopback topology of scripts/topology.py with two fronts over the
same two nodes: one balancing node a only, one balancing a and b. Seeds the
shared database, then runs ApacheBench against both fronts in interleaved
rounds (the order swapped every round), so the noise of a shared machine hits
both alike. Then kills node b under load a few times (scripts/topology.py's
failover drill) and reports what that cost. Prints one table.

Everything runs on this one machine: the nodes, the fronts and ab share its
cores, so two nodes cannot double the throughput here; the ratio says how much
of a second node's capacity the front passes on when the CPU is shared. On
separate machines each node brings its own cores.

Run as root, with MariaDB on 127.0.0.1:3306 (root, no password) and Redis on
127.0.0.1:6379; ab comes from Debian's apache2-utils (apt-get install apache2-utils):

    .venv/bin/python scripts/bench_topology.py [--rounds 5] [--requests 2000] [--drills 3]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.private_apache import missing_prerequisites, system_venv
from scripts.topology import Failover, Front, Topology, failover_drill

PATHS = ["/api/health", "/", "/api/posts?per_page=20"]
DATABASE_SERVER = "mysql+pymysql://root@127.0.0.1/"
DATABASE = "bench_topology"


def seed(topology: Topology) -> None:
    """Users and posts in the shared database, made with node a's settings."""
    apache = topology.nodes["a"].apache
    subprocess.run(
        [str(apache.venv / "bin" / "flask"), "--app", "wsgi", "seed"]
        + ["--users", "20", "--posts", "10", "--password", "benchmark-password"],
        cwd=apache.project,
        env=apache.app_environment(),
        check=True,
        capture_output=True,
    )


def requests_per_second(front: Front, path: str, requests: int, concurrency: int) -> float:
    """ab's requests per second through ``front``; any failed or non-2xx answer is an error."""
    result = subprocess.run(
        ["ab", "-q", "-k", "-n", str(requests), "-c", str(concurrency), f"{front.url}{path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    for label in ("Failed requests", "Non-2xx responses"):
        found = re.search(rf"{label}:\s+(\d+)", result.stdout)
        if found and int(found[1]):
            raise RuntimeError(f"{found[1]} {label.lower()} on {path} through {front.name}")
    match = re.search(r"Requests per second:\s+([\d.]+)", result.stdout)
    if not match:
        raise RuntimeError(f"ab printed no rate: {result.stdout[-500:]}")
    return float(match[1])


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.0f} ({min(values):.0f}-{max(values):.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--drills", type=int, default=3, help="failover repetitions")
    parser.add_argument(
        "--database", default=DATABASE, help="created empty on the server, dropped at the end"
    )
    args = parser.parse_args()
    problem = missing_prerequisites()
    if problem:
        print(f"cannot benchmark: {problem}", file=sys.stderr)
        return 1
    topology = Topology(
        venv=system_venv(),
        database_server=DATABASE_SERVER,
        database=args.database,
        fronts_spec={"one node": ("a",), "two nodes": ("a", "b")},
    )
    rates: dict[tuple[str, str], list[float]] = {}
    drills: list[Failover] = []
    try:
        topology.start()
        seed(topology)
        fronts = list(topology.fronts.values())
        for front in fronts:
            for path in PATHS:  # warm up: imports, caches, connections
                requests_per_second(front, path, 200, args.concurrency)
        for round_ in range(args.rounds):
            for path in PATHS:
                for front in fronts if round_ % 2 == 0 else fronts[::-1]:
                    rate = requests_per_second(front, path, args.requests, args.concurrency)
                    rates.setdefault((front.name, path), []).append(rate)
        for _ in range(args.drills):
            drills.append(failover_drill(topology, "b", front=topology.fronts["two nodes"]))
    finally:
        topology.stop()

    print(f"Throughput through the front, requests/s: median (min-max) of {args.rounds} rounds")
    print(f"of {args.requests} requests, {args.concurrency} at a time (ab -k)")
    print(f"{'path':<24} {'one node':>20} {'two nodes':>20} {'two/one':>8}")
    for path in PATHS:
        one, two = rates[("one node", path)], rates[("two nodes", path)]
        ratio = statistics.median(two) / statistics.median(one)
        print(f"{path:<24} {spread(one):>20} {spread(two):>20} {ratio:>8.2f}")
    print()
    print(f"Failover: node b killed (SIGKILL) under 4 clients, {len(drills)} times")
    print(f"{'':<44} {'median':>8} {'min':>8} {'max':>8}")
    figures = [
        ("requests during the drill", [float(d.requests) for d in drills]),
        ("requests lost", [float(d.lost) for d in drills]),
        ("  of which started after the kill", [float(d.lost_after_kill) for d in drills]),
        ("s until the front took b out", [d.seconds_until_taken_out for d in drills]),
        (
            "live requests tried on dead b (passed on)",
            [float(d.attempts_while_dead) for d in drills],
        ),
        ("s until the last of them", [d.seconds_until_last_attempt for d in drills]),
        ("s until b, restarted, got requests again", [d.seconds_until_used_again for d in drills]),
    ]
    for label, values in figures:
        print(
            f"{label:<44} {statistics.median(values):>8.2f} {min(values):>8.2f} {max(values):>8.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
