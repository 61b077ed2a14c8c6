"""Static URLs carry the file's hash, so a changed file gets a new URL."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Flask, url_for
from flask.testing import FlaskClient


def test_pages_link_static_files_with_their_content_hash(app: Flask, client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    match = re.search(r'href="/static/css/style\.css\?v=([0-9a-f]{12})"', html)
    assert match, "the stylesheet URL carries no version"
    content = (Path(app.static_folder) / "css" / "style.css").read_bytes()
    assert match[1] == hashlib.sha256(content).hexdigest()[:12]
    with client.get(f"/static/css/style.css?v={match[1]}") as response:
        assert response.status_code == 200


def test_the_version_changes_when_the_file_changes(app: Flask, tmp_path: Path) -> None:
    app.static_folder = str(tmp_path)
    asset = tmp_path / "asset.txt"
    asset.write_text("one")
    with app.test_request_context():
        first = url_for("static", filename="asset.txt")
        asset.write_text("two, longer")
        second = url_for("static", filename="asset.txt")
        missing = url_for("static", filename="missing.txt")
    assert first != second
    assert second.endswith("?v=" + hashlib.sha256(b"two, longer").hexdigest()[:12])
    assert missing == "/static/missing.txt"
