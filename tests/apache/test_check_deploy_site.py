"""``flask check-deploy`` against a site rendered and served as the deploy guide does it."""

from __future__ import annotations

import json
import subprocess

import pytest

from scripts.private_apache import DAEMON_USER, PROJECT, PrivateApache

pytestmark = pytest.mark.apache


def test_the_rendered_site_has_no_error_and_only_the_expected_notes(
    apache: PrivateApache,
) -> None:
    """What remains is what the test instance chooses: SQLite, memory limits, a 2-day cert."""
    # As the site's user, as the deploy guide runs every flask command: a root
    # process would leave root's files in the instance's cache folder.
    result = subprocess.run(
        [
            "runuser",
            "-u",
            DAEMON_USER,
            "--",
            str(apache.venv / "bin" / "python"),
            "-m",
            "app.deploy_check",
            "--site",
            str(apache.root / "site.conf"),
            "--apache-root",
            str(apache.root),
            "--json",
        ],
        cwd=PROJECT,
        env=apache.app_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )

    findings = {finding["id"]: finding["severity"] for finding in json.loads(result.stdout)}
    assert findings == {
        "config.sqlite": "warning",
        "limits.memory": "warning",
        "cache.per_machine": "info",
        "apache.certificate_expiring": "warning",
    }, result.stdout
    assert result.returncode == 0, result.stderr
