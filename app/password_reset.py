"""Password reset by email: asking for a link, and setting the new password with it.

The site's "Forgot password?" pages and POST /api/password-reset both call
``request_link``, and the answer never tells whether an account uses the
address, neither in what it says nor in how long it takes:

- The request does the same work for every address: it normalises it, counts
  it against the per-address limit and hands it to this process's outbox.
- A background thread (one per process) does the rest: it looks the address
  up and, only if an account uses it, issues the link, commits its nonce and
  sends the mail, within MAIL_TIMEOUT. The database and the mail server are
  never waited on by the request, so an existing address costs it no more
  than a missing one (scripts/measure_reset_timing.py measures both).
- A failure there (no database, a refused mail) is a warning in the log with
  the id of the request that asked; the person cannot be told without
  telling everyone whether the account exists.

The outbox is a bounded queue: past ``OUTBOX_SIZE`` waiting messages a
request is dropped with a warning rather than holding memory or the request.
Mail still waiting when the process stops (a restart) is lost; the person
asks again, which the answer invites.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass

from flask import Flask, current_app, g
from sqlalchemy import select

from . import account_links, mail
from .account_links import Action
from .extensions import db
from .models import User
from .rate_limits import claim_mail_to
from .validation import normalize_email

logger = logging.getLogger(__name__)

# Messages a process holds before it drops new requests (each a few hundred bytes).
OUTBOX_SIZE = 100
# A stopping process waits for its outbox as long as one message may take, and this.
EXIT_GRACE_SECONDS = 1.0

SUBJECT = "Reset your password"
# What every request for a link is answered with, whoever the address belongs to.
ANSWER = (
    "If an account uses that address, a link to choose a new password is on its way "
    "there. It works once, for {lifetime}. If nothing arrives within a few minutes, "
    "check your spam folder, or ask again later."
)


def answer() -> str:
    """The one answer to a request for a link, with the link's lifetime in words."""
    return ANSWER.format(lifetime=lifetime_in_words(Action.PASSWORD_RESET.lifetime))


def lifetime_in_words(seconds: int) -> str:
    """``3600`` as "1 hour", ``5400`` as "90 minutes", ``86400`` as "24 hours"."""
    if seconds % 3600 == 0:
        amount, unit = seconds // 3600, "hour"
    elif seconds % 60 == 0:
        amount, unit = seconds // 60, "minute"
    else:
        amount, unit = seconds, "second"
    return f"{amount} {unit}{'' if amount == 1 else 's'}"


@dataclass(frozen=True)
class _Job:
    app: Flask
    address: str
    request_id: str


class _Outbox:
    """A queue and the one thread that works through it, made again after a fork.

    mod_wsgi forks its daemon processes from one that may already hold an
    outbox; a thread does not survive a fork, so each process starts its own
    on first use.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._jobs: queue.Queue[_Job] = queue.Queue(maxsize=OUTBOX_SIZE)
        self._send_timeout = 0.0

    def put(self, job: _Job) -> bool:
        """Queue ``job`` for the worker; False if the outbox is full."""
        jobs = self._running()
        self._send_timeout = max(self._send_timeout, float(job.app.config["MAIL_TIMEOUT"]))
        try:
            jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def wait(self, timeout: float) -> bool:
        """Wait until every queued job is done; False if ``timeout`` passed first."""
        jobs = self._jobs
        deadline = time.monotonic() + timeout
        with jobs.all_tasks_done:
            while jobs.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                jobs.all_tasks_done.wait(left)
        return True

    def _running(self) -> queue.Queue[_Job]:
        with self._lock:
            if self._pid != os.getpid():
                if self._pid is None:
                    atexit.register(self._drain_at_exit)
                # After a fork the queue's locks may be held by a thread that is gone.
                self._jobs = queue.Queue(maxsize=OUTBOX_SIZE)
                self._pid = os.getpid()
                worker = threading.Thread(
                    target=self._work, args=(self._jobs,), name="password-reset-mail", daemon=True
                )
                worker.start()
            return self._jobs

    def _work(self, jobs: queue.Queue[_Job]) -> None:
        while True:
            job = jobs.get()
            try:
                _run(job)
            except Exception:
                # The thread must outlive any one message, whatever went wrong with it.
                logger.exception("password reset mail not sent")
            finally:
                jobs.task_done()

    def _drain_at_exit(self) -> None:
        if self._pid == os.getpid():
            self.wait(self._send_timeout + EXIT_GRACE_SECONDS)


_outbox = _Outbox()


def request_link(address: str) -> None:
    """Mail a reset link to ``address`` if an account uses it; the same work either way.

    Returns before anything is looked up or sent (see the module docstring).
    Past RATELIMIT_PASSWORD_RESET_ADDRESS for this address, nothing is sent,
    and the caller answers as always: the limit applies to every address, so
    saying it was reached would tell nothing about accounts, but it would tell
    whoever asks that someone else has been asking.
    """
    normalised = normalize_email(address)
    if not claim_mail_to(normalised, "RATELIMIT_PASSWORD_RESET_ADDRESS"):
        logger.warning("password reset mail not sent: the per-address limit is reached")
        return
    # The app itself, not the proxy: the worker has no context to resolve it in.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    job = _Job(app, normalised, g.get("request_id", "-"))
    if not _outbox.put(job):
        logger.warning("password reset mail not sent: %d messages are already waiting", OUTBOX_SIZE)


def wait_for_outbox(timeout: float) -> bool:
    """Wait until this process has sent (or given up on) every reset mail asked for so far.

    For tests and the timing script: a request returns before its mail is sent.
    """
    return _outbox.wait(timeout)


def _run(job: _Job) -> None:
    """One job, in an app context of its own that carries the asking request's id."""
    with job.app.app_context():
        g.request_id = job.request_id
        try:
            _send_link(job.address)
        except Exception:
            # Logged here, where the record still gets the request id; the app
            # context's teardown rolls the session back.
            logger.exception("password reset mail not sent")


def _send_link(address: str) -> None:
    """The background half of ``request_link``: issue, commit and send, for an account only."""
    user = db.session.scalar(select(User).where(User.email == address))
    if user is None:
        logger.info("password reset asked for an address no account uses")
        return
    token = account_links.issue(user, Action.PASSWORD_RESET)
    # Stored before it is sent: a link must not arrive before it works.
    db.session.commit()
    link = mail.external_url("password_reset.open_link", token=token)
    lifetime = lifetime_in_words(Action.PASSWORD_RESET.lifetime)
    mail.send(user.email, SUBJECT, "password_reset", user=user, link=link, lifetime=lifetime)
