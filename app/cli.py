"""``flask`` commands of this application (``flask db`` comes from Flask-Migrate)."""

from __future__ import annotations

import importlib
import random
import sys
from types import TracebackType
from typing import Any

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from config import running_flask_command

from . import database_faults, mail
from .extensions import db
from .models import Post, User
from .validation import PASSWORD_MIN

DEMO_PASSWORD = "demo-password-123"
WORDS = [
    "apache",
    "wsgi",
    "flask",
    "python",
    "server",
    "daemon",
    "request",
    "thread",
    "process",
    "cache",
    "query",
    "session",
    "token",
    "schema",
    "static",
    "route",
    "template",
    "migration",
    "deploy",
    "virtual",
    "module",
]


def init_app(app: Flask) -> None:
    app.cli.add_command(seed)
    app.cli.add_command(send_test_mail)
    # Deployment tools: their modules (Jinja, subprocesses, Apache parsing) load
    # only when the command runs, never in a web process.
    app.cli.add_command(
        LazyCommand(
            "apache-config",
            "app.apache_config:apache_config_command",
            "Render the Apache vhost (HTTPS, mod_wsgi daemon mode) for this machine.",
        )
    )
    app.cli.add_command(
        LazyCommand(
            "check-deploy",
            "app.deploy_check:check_deploy_command",
            "Check this server's deployment: settings, files, services and the Apache site.",
        )
    )
    if running_flask_command():
        report_database_faults_in_one_line()


class LazyCommand(click.Command):
    """A command whose module is imported only when it runs or shows its own help.

    ``flask --help`` lists it from ``short_help`` alone.
    """

    def __init__(self, name: str, target: str, short_help: str) -> None:
        super().__init__(name, short_help=short_help)
        self.target = target

    def _command(self) -> click.Command:
        module, _, attribute = self.target.partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        return self._command().get_params(ctx)

    def get_help(self, ctx: click.Context) -> str:
        return self._command().get_help(ctx)

    def invoke(self, ctx: click.Context) -> Any:
        return self._command().invoke(ctx)


def report_database_faults_in_one_line() -> None:
    """Make a ``flask`` command (``db upgrade``, ``seed``...) that meets a known database
    fault print one line saying what is wrong and what to do, not a 40-line traceback.

    Any other error keeps its traceback: that one is a bug to report.
    """
    previous = sys.excepthook
    if getattr(previous, "reports_database_faults", False):
        return

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        fault = database_faults.classify(error)
        if fault is None:
            previous(kind, error, trace)
        else:
            print(fault.command_line(), file=sys.stderr)

    hook.reports_database_faults = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def _demo_text(seed: int, words: int) -> str:
    # Seeded, so two runs write the same demo content.
    chooser = random.Random(seed)
    text = " ".join(chooser.choice(WORDS) for _ in range(words))
    return text[:1].upper() + text[1:] + "."


@click.command("seed")
@click.option("--users", "user_count", default=5, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--posts",
    "posts_per_user",
    default=10,
    show_default=True,
    type=click.IntRange(0, 1_000),
    help="Posts per demo user.",
)
@click.option(
    "--password",
    default=None,
    help=f"Password of the demo users (default: {DEMO_PASSWORD}; required in production).",
)
def seed(user_count: int, posts_per_user: int, password: str | None) -> None:
    """Fill the database with demo users (demo1, demo2, ...) and their posts.

    Safe to run twice: existing demo users are kept, and each gets posts only
    up to the requested count.
    """
    chosen = password is not None
    if password is None:
        if current_app.config["CONFIG_NAME"] == "production":
            raise click.UsageError("Give --password: the default one is public.")
        password = DEMO_PASSWORD
    if len(password) < PASSWORD_MIN:
        raise click.BadParameter(f"at least {PASSWORD_MIN} characters", param_hint="--password")

    created_users = created_posts = 0
    with click.progressbar(range(1, user_count + 1), label="Seeding demo users") as numbers:
        for n in numbers:
            username = f"demo{n}"
            user = db.session.scalar(select(User).where(User.username_key == username))
            if user is None:
                user = User(username=username, email=f"{username}@example.com", password=password)
                db.session.add(user)
                db.session.flush()
                created_users += 1
            existing = (
                db.session.scalar(
                    select(func.count()).select_from(Post).where(Post.user_id == user.id)
                )
                or 0
            )
            for i in range(existing, posts_per_user):
                db.session.add(
                    Post(
                        title=f"{username}'s post #{i + 1}: {_demo_text(n + i, 3)}",
                        body=_demo_text(n * 31 + i, 60),
                        author=user,
                    )
                )
                created_posts += 1
            db.session.commit()
    login = "the password you gave" if chosen else f"the password {password!r}"
    click.echo(
        f"Created {created_users} users and {created_posts} posts; demo users log in with {login}."
    )


@click.command("send-test-mail")
@click.argument("address")
def send_test_mail(address: str) -> None:
    """Send a test message to ADDRESS, to check the mail settings.

    It goes through MAIL_SERVER with the configured port, TLS, user and sender,
    exactly as the site's own mail does, and waits at most MAIL_TIMEOUT. Without
    MAIL_SERVER outside production it is written to MAIL_FOLDER instead. A
    failure is one line saying why, and the exit status 1.
    """
    subject = f"Test message from {current_app.config['SITE_NAME']}"
    try:
        where = mail.deliver(mail.compose(address, subject, "test_message"))
    except mail.MailError as error:
        raise click.ClickException(f"the test message was not sent: {error}") from None
    click.echo(f"Test message to {address} {where}.")
