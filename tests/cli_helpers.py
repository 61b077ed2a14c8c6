"""Running the real ``flask`` command in a subprocess, as a developer would."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
FLASK = Path(sys.executable).with_name("flask")


def flask_command(
    *args: str,
    database_url: str,
    config: str = "development",
    timeout: int = 120,
    **settings: str,
) -> subprocess.CompletedProcess[str]:
    """Run ``flask ARGS`` from the project folder against ``database_url``.

    Unless the caller says otherwise, the command gets its own key and a throwaway
    cache folder, so it writes nothing into the checkout's ``instance/``.
    """
    with tempfile.TemporaryDirectory(prefix="flask-command-cache-") as cache:
        settings.setdefault("CACHE_DIR", cache)
        return subprocess.run(
            [str(FLASK), *args],
            cwd=PROJECT,
            env=_command_environment(database_url, config, settings),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def start_flask_command(
    *args: str, database_url: str, cache_dir: Path, config: str = "development", **settings: str
) -> subprocess.Popen[str]:
    """Start ``flask ARGS`` as ``flask_command`` runs it, without waiting for it.

    ``cache_dir`` must outlive the command.
    """
    settings.setdefault("CACHE_DIR", str(cache_dir))
    return subprocess.Popen(
        [str(FLASK), *args],
        cwd=PROJECT,
        env=_command_environment(database_url, config, settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _command_environment(
    database_url: str, config: str, settings: dict[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "DATABASE_URL"))}
    settings.setdefault("SECRET_KEY", secrets.token_hex(32))
    env.update(FLASK_APP="wsgi", FLASK_CONFIG=config, DATABASE_URL=database_url, **settings)
    return env
