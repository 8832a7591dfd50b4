"""The ``cerebro`` command: help, version, report, and a real dashboard server."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from cerebro import __version__
from cerebro.cli import main

from .conftest import TOKEN, fill

CLI = [sys.executable, "-m", "cerebro.cli"]


def run(*args, **kwargs):
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, **kwargs)


def test_help_explains_the_commands():
    r = run("--help")
    assert r.returncode == 0
    for word in ("demo", "dashboard", "report", "--version", "examples:", "model hopper"):
        assert word in r.stdout
    for cmd in ("dashboard", "report"):
        sub = run(cmd, "--help")
        assert sub.returncode == 0 and "--store" in sub.stdout and "--db" in sub.stdout
    assert "--trials" in run("demo", "--help").stdout


def test_version(capsys):
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"cerebro {__version__}"
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and __version__ in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: cerebro" in capsys.readouterr().out


def test_report_is_self_contained_html(tmp_path):
    fill(str(tmp_path / "store"), finish=True)
    fill(str(tmp_path / "store"), name="second")
    out = tmp_path / "r" / "report.html"
    r = run("report", "--store", str(tmp_path / "store"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert html.startswith("<!doctype html>")
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)) == 6
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    for text in ("GridSearch-abc", "second", "Best model", "m1", "worker utilisation",
                 "80.00 %", "Model hopper schedule"):
        assert text in html
    assert "&lt;b&gt;bad&lt;/b&gt;" in html and "<b>bad</b>" not in html  # escaped
    one = tmp_path / "one.html"
    assert main(["report", "--db", f"sqlite:///{tmp_path}/store/cerebro.db", "--out", str(one),
                 "--experiment", "second"]) == 0
    assert "second" in one.read_text() and "GridSearch-abc" not in one.read_text()


def test_report_without_records_says_so(tmp_path):
    r = run("report", "--store", str(tmp_path))
    assert r.returncode != 0 and "no records" in r.stderr
    assert not (tmp_path / "cerebro.db").exists()


def test_dashboard_refuses_the_network_without_a_token(tmp_path):
    fill(str(tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "CEREBRO_DASHBOARD_TOKEN"}
    r = run("dashboard", "--store", str(tmp_path), "--host", "0.0.0.0", env=env)
    assert r.returncode == 2 and "--token" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.read()


def test_dashboard_serves_on_loopback(tmp_path):
    fill(str(tmp_path))
    port = _free_port()
    proc = subprocess.Popen([*CLI, "dashboard", "--store", str(tmp_path), "--port", str(port),
                             "--token", TOKEN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert _get(base + "/api/health")[0] == 200
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
                time.sleep(0.3)
        with pytest.raises(urllib.error.HTTPError) as e:
            _get(base + "/api/experiments")
        assert e.value.code == 401
        status, body = _get(base + "/api/experiments", TOKEN)
        assert status == 200 and json.loads(body)[0]["name"] == "GridSearch-abc"
        assert _get(base + "/")[0] == 200
        with socket.socket() as s:  # loopback only by default
            s.settimeout(1)
            infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
            addrs = {a[4][0] for a in infos}
            outside = [a for a in addrs if not a.startswith("127.")]
            if outside:
                assert s.connect_ex((outside[0], port)) != 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert f"?token={TOKEN}" in proc.stdout.read()
