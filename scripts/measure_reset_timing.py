"""Measure: does asking for a password reset take longer for an address that has an account?

Serves the app (testing configuration) over HTTP on 127.0.0.1 with a threaded
server, mailing through a real SMTP server (aiosmtpd, from the development
requirements) on another port, and asks for reset links alternately for an
address with an account and one without, through the API or the site's form.
Prints the median and 90th percentile of both, side by side, and how long each
kind kept the background mail thread busy after the answer (the work moved off
the request: lookup, link, commit and SMTP for an account, a lookup without one).

Two modes, both run:
- settled: each request waits until the previous one's mail is sent, so it is
  timed alone (the request's own path);
- back to back: the next request starts at once, competing with the mail
  thread of the one before (as under load; the mail work shares the process).

    .venv/bin/python scripts/measure_reset_timing.py [--requests 200] [--via api|form]
        [--database URL]   # e.g. mysql+pymysql://root@127.0.0.1/test_reset (default: SQLite)
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

EXISTING = "timing@example.com"
MISSING = "nobody-here@example.com"
WARM_UP = 20
SETTLE_PAUSE = 0.05


class Client:
    """One browser or API client of the served app, over plain HTTP."""

    def __init__(self, port: int, via: str) -> None:
        self.port = port
        self.via = via
        self.cookie = ""
        self.csrf = ""
        if via == "form":
            page = self._request("GET", "/auth/forgot-password", b"", {})
            match = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page)
            if match is None:
                raise SystemExit("the form page has no CSRF token")
            self.csrf = match.group(1).decode()

    def ask(self, address: str) -> float:
        """Seconds from sending a request for a link to ``address`` to reading the whole answer."""
        if self.via == "api":
            body = json.dumps({"email": address}).encode()
            headers = {"Content-Type": "application/json"}
            path, expected = "/api/password-reset", 202
        else:
            body = urlencode({"email": address, "csrf_token": self.csrf}).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            path, expected = "/auth/forgot-password", 200
        started = time.perf_counter()
        self._request("POST", path, body, headers, expected)
        return time.perf_counter() - started

    def _request(
        self, method: str, path: str, body: bytes, headers: dict[str, str], expected: int = 200
    ) -> bytes:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        if self.cookie:
            headers = {**headers, "Cookie": self.cookie}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        if response.status != expected:
            raise SystemExit(f"{method} {path} answered {response.status}: {data[:200]!r}")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return data


def summary(seconds: list[float]) -> tuple[float, float]:
    """Median and 90th percentile, in milliseconds."""
    deciles = statistics.quantiles(seconds, n=10, method="inclusive")
    return statistics.median(seconds) * 1000, deciles[8] * 1000


def run(client: Client, count: int, settle: bool) -> dict[str, dict[str, list[float]]]:
    from app import password_reset

    timings: dict[str, dict[str, list[float]]] = {
        kind: {"request": [], "background": []} for kind in ("existing", "missing")
    }
    for number in range(WARM_UP + 2 * count):
        kind = "existing" if number % 2 == 0 else "missing"
        elapsed = client.ask(EXISTING if kind == "existing" else MISSING)
        answered = time.perf_counter()
        if settle and not password_reset.wait_for_outbox(30):
            raise SystemExit("the mail thread did not finish within 30 s")
        background = time.perf_counter() - answered
        if settle:
            # The SMTP server runs in this process too: let it finish with the message
            # before the next request, as a mail server elsewhere would.
            time.sleep(SETTLE_PAUSE)
        if number >= WARM_UP:
            timings[kind]["request"].append(elapsed)
            timings[kind]["background"].append(background)
    password_reset.wait_for_outbox(60)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="per kind of address")
    parser.add_argument("--via", choices=("api", "form"), default="api")
    parser.add_argument("--database", help="a database URL (default: a new SQLite file)")
    args = parser.parse_args()

    from werkzeug.serving import make_server

    # One line per request would bury the table.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    from tests.smtp_server import SmtpServer

    smtp = SmtpServer().start()
    folder = Path(tempfile.mkdtemp(prefix="reset-timing-"))
    limits = f"{100 * args.requests} per hour"
    os.environ.update(
        {
            "TEST_DATABASE_URL": args.database or f"sqlite:///{folder / 'timing.db'}",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp.port),
            "MAIL_USE_TLS": "false",
            "MAIL_FOLDER": str(folder / "mail"),
            "RATELIMIT_PASSWORD_RESET": limits,
            "RATELIMIT_PASSWORD_RESET_ADDRESS": limits,
            "LOG_LEVEL": "ERROR",
        }
    )
    from app import create_app
    from app.extensions import db
    from app.models import User

    app = create_app("testing")
    with app.app_context():
        db.create_all()
        db.session.query(User).filter(User.email == EXISTING).delete()
        db.session.add(User(username="timing", email=EXISTING, password="a long passphrase"))
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    app.config["PUBLIC_URL"] = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(server.server_port, args.via)
        print(f"{args.requests} requests per address kind, via {args.via}, alternating")
        print(f"{'mode':<13} {'address':<9} {'median ms':>9} {'p90 ms':>8}   background median ms")
        for settle in (True, False):
            timings = run(client, args.requests, settle)
            for kind, values in timings.items():
                median, p90 = summary(values["request"])
                background = statistics.median(values["background"]) * 1000
                mode = "settled" if settle else "back to back"
                shown = f"{background:.2f}" if settle else "-"
                print(f"{mode:<13} {kind:<9} {median:9.2f} {p90:8.2f}   {shown}")
        asked = 2 * (WARM_UP // 2 + args.requests)
        delivered = len(smtp.inbox.messages())
        # Fewer than asked: back to back, the outbox filled up (OUTBOX_SIZE) and dropped some.
        print(f"mails the SMTP server received: {delivered} of {asked} asked for")
    finally:
        server.shutdown()
        smtp.stop()
        with app.app_context():
            db.session.query(User).filter(User.email == EXISTING).delete()
            db.session.commit()
            db.engine.dispose()


if __name__ == "__main__":
    main()
