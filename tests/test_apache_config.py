"""``flask apache-config``: the vhost rendered for a machine, and the checks it makes first."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from app.apache_config import MOD_WSGI, SYSTEM_PYTHON
from scripts.private_apache import (
    FRONT_MODULES,
    check_syntax,
    free_port,
    make_certificate,
    missing_prerequisites,
)
from tests.helpers import skip_or_fail


@pytest.fixture(scope="module")
def system_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty venv made with the Python Debian's mod_wsgi embeds."""
    if not SYSTEM_PYTHON.exists() or not MOD_WSGI.exists():
        skip_or_fail("needs /usr/bin/python3 and libapache2-mod-wsgi-py3 (sudo make test-deps)")
    venv = tmp_path_factory.mktemp("venv") / "venv"
    subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv


def render(runner: FlaskCliRunner, *args: str):
    return runner.invoke(args=["apache-config", "--server-name", "example.com", *args])


def test_renders_the_flask_only_vhost(runner: FlaskCliRunner, system_venv: Path) -> None:
    result = render(runner, "--venv", str(system_venv))
    assert result.exit_code == 0, result.output
    conf = result.output
    project = Path(__file__).resolve().parent.parent
    assert "<VirtualHost *:80>" in conf
    assert "<VirtualHost *:443>" in conf
    assert "Listen" not in conf  # Debian's ports.conf already listens on 80 and 443
    assert f"python-home={system_venv}" in conf
    assert f"python-path={project}" in conf
    assert "processes=2 threads=5" in conf
    assert "lang=C.UTF-8 locale=C.UTF-8" in conf
    assert f"WSGIScriptAlias / {project}/wsgi_app.wsgi" in conf
    assert f"Alias /static {project}/app/static" in conf
    for directive in (
        "WSGIPassAuthorization On",
        "WSGIApplicationGroup %{GLOBAL}",
        "WSGIRestrictEmbedded On",
        "SSLProtocol -all +TLSv1.2 +TLSv1.3",
        "SSLCertificateFile /etc/ssl/certs/ssl-cert-snakeoil.pem",
        "Header always set Strict-Transport-Security",
        "DeflateAlterETag NoChange",
        "ErrorLog ${APACHE_LOG_DIR}/flaskapp-error.log",
    ):
        assert directive in conf, directive
    assert "X-XSS-Protection" not in conf
    assert '"https://example.com/$1"' in conf


def test_renders_the_mixed_vhost_with_the_app_under_its_mount(
    runner: FlaskCliRunner, system_venv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "site.conf"
    result = render(
        runner,
        "--venv",
        str(system_venv),
        "--mount",
        "/app/",
        "--https-port",
        "8443",
        "--http-port",
        "8080",
        "--processes",
        "3",
        "--threads",
        "4",
        "-o",
        str(out),
    )
    assert result.exit_code == 0, result.output
    conf = out.read_text()
    assert "WSGIScriptAlias /app " in conf
    assert "Alias /app/static " in conf
    assert "DocumentRoot /var/www/html" in conf
    assert "Listen 8080" in conf
    assert "Listen 8443" in conf
    assert '"https://example.com:8443/$1"' in conf
    assert "processes=3 threads=4" in conf


def test_refuses_a_venv_not_made_with_the_system_python(
    runner: FlaskCliRunner, system_venv: Path, tmp_path: Path
) -> None:
    other = Path(shutil.which("python3") or sys.executable).resolve()
    if other == SYSTEM_PYTHON.resolve():
        pytest.skip("python3 on PATH is the system Python: no other interpreter to try")
    venv = tmp_path / "other-venv"
    subprocess.run([str(other), "-m", "venv", "--without-pip", str(venv)], check=True)
    if (venv / "pyvenv.cfg").read_text() == (system_venv / "pyvenv.cfg").read_text():
        pytest.skip("both interpreters are the same build")
    result = render(runner, "--venv", str(venv))
    assert result.exit_code == 1
    assert "mod_wsgi embeds" in result.output
    assert f"/usr/bin/python3 -m venv {venv}" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mount", "app"], "--mount 'app' must look like /app"),
        (["--mount", "/a b"], "must look like /app"),
        (["--site-name", "my site"], "--site-name 'my site' may hold only"),
        (["--https-port", "70000"], "70000 is not in the range 1<=x<=65535"),
        (["--processes", "0"], "Invalid value for '--processes'"),
        (["--document-root", "/var/www/my site"], "may not hold spaces"),
    ],
)
def test_rejects_bad_options_with_a_clear_message(
    runner: FlaskCliRunner, system_venv: Path, args: list[str], message: str
) -> None:
    result = render(runner, "--venv", str(system_venv), *args)
    assert result.exit_code != 0
    assert message in result.output


def test_rejects_a_folder_that_is_not_a_venv(runner: FlaskCliRunner, tmp_path: Path) -> None:
    result = render(runner, "--venv", str(tmp_path))
    assert result.exit_code == 1
    assert "is not a virtual environment" in result.output


def test_rejects_a_bad_server_name(runner: FlaskCliRunner, app: Flask, tmp_path: Path) -> None:
    result = runner.invoke(
        args=["apache-config", "--server-name", "exa mple;com", "--venv", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert "is not a host name" in result.output


def test_the_vhost_is_hardened_on_its_own(runner: FlaskCliRunner, system_venv: Path) -> None:
    result = render(runner, "--venv", str(system_venv))
    assert result.exit_code == 0, result.output
    conf = result.output
    # Both the HTTP and the HTTPS vhost: neither relies on a server-wide setting.
    assert conf.count("TraceEnable Off") == 2
    assert conf.count("RequestReadTimeout header=20-40,MinRate=500 body=20,MinRate=500") == 2
    assert conf.count("LimitRequestBody 1048576") == 2
    assert conf.count('Header always set X-Content-Type-Options "nosniff"') == 2
    # mod_wsgi's 411 for chunked bodies stays (see _daemon.conf.j2).
    assert not re.search(r"^\s*WSGIChunkedRequest", conf, re.MULTILINE)
    # A touch restarts every daemon at once: one slow request must not hold them 5 s.
    assert "shutdown-timeout=2 " in conf
    assert "a2enmod ssl wsgi headers expires deflate alias reqtimeout setenvif" in conf


def test_the_body_limit_is_the_apps_max_content_length(
    runner: FlaskCliRunner, app: Flask, system_venv: Path
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 5 * 1024 * 1024
    result = render(runner, "--venv", str(system_venv))
    assert result.exit_code == 0, result.output
    assert re.findall(r"LimitRequestBody (\d+)", result.output) == ["5242880", "5242880"]


def test_writes_the_server_wide_snippet_alongside_the_vhost(
    runner: FlaskCliRunner, system_venv: Path, tmp_path: Path
) -> None:
    snippet = tmp_path / "server-hardening.conf"
    result = render(runner, "--venv", str(system_venv), "--hardening-output", str(snippet))
    assert result.exit_code == 0, result.output
    assert "<VirtualHost *:443>" in result.stdout  # the vhost still goes to stdout
    text = snippet.read_text()
    directives = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert directives == [
        "ServerTokens Prod",
        "ServerSignature Off",
        "TraceEnable Off",
        "RequestReadTimeout handshake=10 header=20-40,MinRate=500 body=20,MinRate=500",
    ]
    assert "a2enconf server-hardening" in text


def test_the_header_timeout_can_be_shortened(
    runner: FlaskCliRunner, system_venv: Path, tmp_path: Path
) -> None:
    snippet = tmp_path / "server-hardening.conf"
    result = render(
        runner,
        "--venv",
        str(system_venv),
        "--header-timeout",
        "5",
        "--hardening-output",
        str(snippet),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.count("RequestReadTimeout header=5-10,MinRate=500 ") == 2
    assert "handshake=10 header=5-10,MinRate=500 " in snippet.read_text()
    assert render(runner, "--venv", str(system_venv), "--header-timeout", "0").exit_code == 2


def test_apache_answers_the_api_in_its_own_json_shape(
    runner: FlaskCliRunner, system_venv: Path
) -> None:
    result = render(runner, "--venv", str(system_venv), "--mount", "/app")
    assert result.exit_code == 0, result.output
    assert '<LocationMatch "^/app/api(/|$)">' in result.output
    documents = dict(re.findall(r"ErrorDocument (\d+) '(.*)'", result.output))
    assert set(documents) == {"411", "413", "503"}
    body = json.loads(documents["413"])
    assert body == {
        "status": 413,
        "error": "Request Entity Too Large",
        "message": "What you sent is larger than this site accepts.",
    }
    assert json.loads(documents["503"])["error"] == "Service Unavailable"
    expression = "expr=%{REQUEST_STATUS} -in {'411', '413', '503'}"
    assert f'Header always set Content-Type "application/json" "{expression}"' in result.output


def directives(conf: str) -> list[str]:
    """The configuration's lines without comments and indentation."""
    lines = (line.strip() for line in conf.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_single_mode_is_the_default_vhost_byte_for_byte(
    runner: FlaskCliRunner, system_venv: Path
) -> None:
    for extra in ([], ["--mount", "/app", "--http-port", "8080", "--https-port", "8443"]):
        default = render(runner, "--venv", str(system_venv), *extra)
        single = render(runner, "--venv", str(system_venv), "--mode", "single", *extra)
        assert default.exit_code == single.exit_code == 0, default.output
        assert single.stdout == default.stdout


def test_backend_mode_serves_the_app_over_http_to_the_front_only(
    runner: FlaskCliRunner, system_venv: Path
) -> None:
    result = render(
        runner,
        "--venv",
        str(system_venv),
        "--mode",
        "backend",
        "--http-port",
        "8080",
        "--trusted-proxy",
        "10.0.0.5",
        "--trusted-proxy",
        "10.0.0.6",
    )
    assert result.exit_code == 0, result.output
    conf = result.stdout
    lines = directives(conf)
    project = Path(__file__).resolve().parent.parent
    assert "Listen 8080" in lines
    assert [line for line in lines if line.startswith("<VirtualHost")] == ["<VirtualHost *:8080>"]
    assert "Require ip 10.0.0.5 10.0.0.6" in lines
    assert f"WSGIScriptAlias / {project}/wsgi_app.wsgi process-group=flaskapp" in conf
    assert f"Alias /static {project}/app/static" in lines
    assert 'Header set Cache-Control "public, max-age=31536000, immutable"' in lines
    assert "WSGIRestrictEmbedded On" in lines
    # The app's own headers still reach Apache's own answers; HSTS is the front's.
    assert any(line.startswith("Header always set X-Frame-Options") for line in lines)
    assert any(line.startswith("Header always set Content-Security-Policy") for line in lines)
    assert "Strict-Transport-Security" not in "\n".join(lines)
    assert not [line for line in lines if line.startswith(("SSL", "Redirect"))]
    assert "#     TRUSTED_PROXIES=10.0.0.5, 10.0.0.6" in conf
    # The app has no TRUSTED_PROXIES here: the vhost cannot make it trust the front.
    assert "warning: TRUSTED_PROXIES is not set" in result.stderr


def test_backend_mode_takes_the_front_from_trusted_proxies(
    runner: FlaskCliRunner, app: Flask, system_venv: Path
) -> None:
    app.config["TRUSTED_PROXIES"] = ("10.0.0.0/28",)
    result = render(runner, "--venv", str(system_venv), "--mode", "backend")
    assert result.exit_code == 0, result.output
    assert "Require ip 10.0.0.0/28" in directives(result.stdout)
    assert "warning" not in result.stderr
    # Who may connect can be wider than whom the app trusts (a monitoring host).
    result = render(
        runner, "--venv", str(system_venv), "--mode", "backend", "--allow-from", "192.0.2.7"
    )
    assert "Require ip 192.0.2.7" in directives(result.stdout)
    assert "#     TRUSTED_PROXIES=10.0.0.0/28" in result.stdout


def test_front_mode_balances_the_backends_over_tls(runner: FlaskCliRunner) -> None:
    result = render(
        runner, "--mode", "front", "--backend", "10.0.0.11:80", "--backend", "[fd00::12]:8080"
    )
    assert result.exit_code == 0, result.output
    conf = result.stdout
    lines = directives(conf)
    assert "<VirtualHost *:80>" in lines
    assert "<VirtualHost *:443>" in lines
    assert any(line.startswith("RedirectMatch permanent") for line in lines)
    assert "<Proxy balancer://flaskapp>" in lines
    members = [line for line in lines if line.startswith("BalancerMember")]
    assert [member.split()[1] for member in members] == [
        "http://10.0.0.11:80",
        "http://[fd00::12]:8080",
    ]
    for member in members:
        for parameter in (
            "hcmethod=GET",
            "hcuri=/api/ready",
            "hcexpr=ready",
            "hcinterval=5",
            "retry=10",
            "connectiontimeout=3",
            "timeout=70",
            "ttl=4",
            "keepalive=On",
        ):
            assert parameter in member.split(), parameter
        assert "route=" not in member  # no stickiness
    for directive in (
        "ProxyHCExpr ready {%{REQUEST_STATUS} == 200}",
        "ProxySet lbmethod=byrequests",
        "ProxyRequests Off",
        "ProxyPreserveHost On",
        "RequestHeader set X-Forwarded-Proto https",
        "ProxyPass / balancer://flaskapp/",
        "ProxyPassReverse / balancer://flaskapp/",
        'Header always set Strict-Transport-Security "max-age=63072000"',
        "SSLProtocol -all +TLSv1.2 +TLSv1.3",
        "SSLCertificateFile /etc/ssl/certs/ssl-cert-snakeoil.pem",
    ):
        assert directive in lines, directive
    assert "stickysession" not in conf
    # No Python on the front.
    assert not [line for line in lines if line.startswith("WSGI")]
    assert "proxy_balancer lbmethod_byrequests proxy_hcheck slotmem_shm" in conf


def test_front_and_backend_share_the_single_vhosts_tls_and_headers(
    runner: FlaskCliRunner, app: Flask, system_venv: Path
) -> None:
    app.config["TRUSTED_PROXIES"] = ("10.0.0.5",)
    single = directives(render(runner, "--venv", str(system_venv)).stdout)
    front = directives(render(runner, "--mode", "front", "--backend", "10.0.0.11:80").stdout)
    backend = directives(render(runner, "--venv", str(system_venv), "--mode", "backend").stdout)

    def picked(lines: list[str], prefixes: tuple[str, ...]) -> list[str]:
        return [line for line in lines if line.startswith(prefixes)]

    tls = ("SSL",)
    headers = ("Header always set", "ServerSignature", "TraceEnable", "LimitRequestBody")
    assert picked(front, tls) == picked(single, tls)
    assert picked(front, headers) == picked(single, headers)
    # The backend has one vhost: the single one's HTTPS vhost, less HSTS.
    https_vhost = single[single.index("<VirtualHost *:443>") :]
    assert picked(backend, headers) == [
        line for line in picked(https_vhost, headers) if "Strict-Transport-Security" not in line
    ]
    assert picked(backend, tls) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mode", "front"], "--mode front needs at least one --backend HOST:PORT"),
        (["--mode", "front", "--backend", "10.0.0.11"], "must be HOST:PORT"),
        (["--mode", "front", "--backend", "a b:80"], "must be HOST:PORT"),
        (["--mode", "front", "--backend", "h:99999"], "must be HOST:PORT"),
        (["--mode", "front", "--backend", "h:80", "--mount", "/app"], "--mount is for"),
        (["--mode", "backend"], "--mode backend needs --venv"),
        (["--backend", "h:80", "--venv", "."], "--backend is for --mode front"),
        (["--trusted-proxy", "10.0.0.5", "--venv", "."], "are for --mode backend"),
        (["--mode", "bogus"], "Invalid value for '--mode'"),
    ],
)
def test_modes_reject_bad_options(runner: FlaskCliRunner, args: list[str], message: str) -> None:
    result = render(runner, *args)
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--mode backend needs the front's address"),
        (["--trusted-proxy", "2"], "--trusted-proxy lists the proxies' addresses"),
        (["--allow-from", "front.example"], "--allow-from holds 'front.example'"),
    ],
)
def test_backend_mode_must_know_the_front(
    runner: FlaskCliRunner, system_venv: Path, args: list[str], message: str
) -> None:
    result = render(runner, "--venv", str(system_venv), "--mode", "backend", *args)
    assert result.exit_code == 1
    assert message in result.output


@pytest.mark.apache
def test_apache_accepts_the_front_and_backend_configs(
    runner: FlaskCliRunner, system_venv: Path, tmp_path: Path
) -> None:
    problem = missing_prerequisites()
    if problem:
        skip_or_fail(f"apache2 -t: {problem}")
    cert, key = make_certificate(tmp_path)
    (tmp_path / "logs").mkdir()
    hardening = tmp_path / "hardening.conf"
    common = [
        "--cert",
        str(cert),
        "--key",
        str(key),
        "--log-dir",
        str(tmp_path / "logs"),
        "--acme-root",
        str(tmp_path),
        "--http-port",
        str(free_port()),
        "--https-port",
        str(free_port()),
        "--hardening-output",
        str(hardening),
    ]
    front = ["--mode", "front", "--backend", "127.0.0.1:8081", "--backend", "[::1]:8082"]
    backend = ["--venv", str(system_venv), "--mode", "backend", "--allow-from", "127.0.0.1"]
    for args, modules in ((front, FRONT_MODULES), (backend, [])):
        result = render(runner, *common, *args)
        assert result.exit_code == 0, result.output
        checked = check_syntax(tmp_path, result.stdout, hardening.read_text(), modules)
        assert checked.returncode == 0, checked.stderr
        assert "Syntax OK" in checked.stderr
    # The check reads the health-check parameters: a condition it does not know fails.
    result = render(runner, *common, *front)
    broken = result.stdout.replace("hcexpr=ready", "hcexpr=missing")
    checked = check_syntax(tmp_path, broken, hardening.read_text(), FRONT_MODULES)
    assert checked.returncode != 0
    assert "missing" in checked.stderr, checked.stderr
