"""``flask seed``: demo content, counts as options, safe to run twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from app.extensions import db
from app.models import Post, User

PROJECT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.db


def _counts() -> tuple[int, int]:
    users = db.session.scalar(select(func.count()).select_from(User))
    posts = db.session.scalar(select(func.count()).select_from(Post))
    return users or 0, posts or 0


def test_seed_creates_the_requested_users_and_posts(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["seed", "--users", "3", "--posts", "4"])
    assert result.exit_code == 0, result.output
    assert _counts() == (3, 12)
    assert "Created 3 users and 12 posts" in result.output
    demo = db.session.scalar(select(User).where(User.username == "demo1"))
    assert demo is not None
    assert demo.check_password("demo-password-123")


def test_seed_twice_adds_nothing_the_second_time(app: Flask, runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["seed", "--users", "2", "--posts", "3"]).exit_code == 0
    again = runner.invoke(args=["seed", "--users", "2", "--posts", "3"])
    assert again.exit_code == 0, again.output
    assert "Created 0 users and 0 posts" in again.output
    assert _counts() == (2, 6)


def test_seed_tops_up_to_larger_counts(app: Flask, runner: FlaskCliRunner) -> None:
    runner.invoke(args=["seed", "--users", "1", "--posts", "2"])
    result = runner.invoke(args=["seed", "--users", "2", "--posts", "3"])
    assert "Created 1 users and 4 posts" in result.output
    assert _counts() == (2, 6)


def test_seed_rejects_bad_counts(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["seed", "--users", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--users'" in result.output
    assert _counts() == (0, 0)


def test_seed_requires_a_password_in_production(app: Flask, runner: FlaskCliRunner) -> None:
    app.config["CONFIG_NAME"] = "production"
    result = runner.invoke(args=["seed", "--users", "1"])
    assert result.exit_code == 2
    assert "Give --password" in result.output
    assert _counts() == (0, 0)


def test_seed_help_documents_the_command(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["seed", "--help"])
    assert "Fill the database with demo users" in result.output
    assert "--posts" in result.output


@pytest.mark.slow
def test_web_processes_never_import_the_deployment_tools() -> None:
    """apache-config and check-deploy load only when their command runs."""
    code = (
        "import sys; from app import create_app; create_app('testing'); "
        "print(sorted(m for m in sys.modules if m in ('app.apache_config', 'app.deploy_check')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_lazy_commands_are_listed_and_run(runner: FlaskCliRunner) -> None:
    listing = runner.invoke(args=["--help"])
    assert "apache-config" in listing.output
    assert "check-deploy" in listing.output
    help_text = runner.invoke(args=["apache-config", "--help"])
    assert help_text.exit_code == 0
    assert "--server-name" in help_text.output
    missing = runner.invoke(args=["apache-config"])
    assert missing.exit_code == 2
    assert "--server-name" in missing.output
