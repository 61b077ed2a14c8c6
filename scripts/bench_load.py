"""One load run for ``make bench``: wrk against one URL, and the server's CPU around it."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

WRK = "wrk"
INSTALL_HINT = "wrk is missing: install it with: sudo apt-get install wrk"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class Run:
    """What one run of wrk measured."""

    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    # Answers that were not 2xx or 3xx, and connect/read/write errors and timeouts.
    errors: int
    cpu_ms_per_request: float


def missing_load_generator() -> str | None:
    """Why no run can happen here, or None."""
    return None if shutil.which(WRK) else INSTALL_HINT


def _milliseconds(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"wrk printed a latency I cannot read: {value!r}")
    return float(match[1]) * _UNITS[match[2]]


def parse(output: str) -> tuple[int, float, float, float, int]:
    """(requests, requests/s, p50 ms, p99 ms, errors) from ``wrk --latency`` output."""
    requests = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if not (requests and rate and p50 and p99):
        raise ValueError(f"unexpected wrk output:\n{output}")
    errors = 0
    non_success = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_success:
        errors += int(non_success[1])
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return (
        int(requests[1]),
        float(rate[1]),
        _milliseconds(p50[1]),
        _milliseconds(p99[1]),
        errors,
    )


def run(
    url: str,
    seconds: float,
    connections: int,
    headers: dict[str, str],
    server_cpu: Callable[[], float],
) -> Run:
    """Keep ``connections`` keep-alive connections busy on ``url`` for ``seconds``.

    ``server_cpu`` reads the server's CPU seconds; read before and after the
    run, it gives the CPU time per request.
    """
    command = [
        WRK,
        f"--threads={min(2, connections)}",
        f"--connections={connections}",
        f"--duration={seconds:g}s",
        "--timeout=10s",
        "--latency",
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    before = server_cpu()
    result = subprocess.run(
        [*command, url], capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    after = server_cpu()
    if result.returncode:
        raise RuntimeError(f"wrk failed on {url}: {result.stderr.strip() or result.stdout}")
    requests, rate, p50, p99, errors = parse(result.stdout)
    cpu = (after - before) * 1000 / requests if requests else 0.0
    return Run(requests, rate, p50, p99, errors, cpu)
