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
    demo = run("demo", "--help").stdout
    for option in ("--trials", "--epochs", "--workers", "--work-dir"):
        assert option in demo
    assert demo.count("(default:") >= 4 and "(default: .demo)" in demo


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
    import json

    fill(str(tmp_path / "store"), finish=True)
    fill(str(tmp_path / "store"), name="second")
    out = tmp_path / "r" / "report.html"
    r = run("report", "--store", str(tmp_path / "store"), "--out", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert html.startswith("<!doctype html>")
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.S)
    assert not re.search(r"(src|href)=\"(https?:)?//", markup)  # links to nothing
    assert "<script src=" not in html and "plotly.js v" in html  # the library is inlined
    assert "default-src 'none'" in html  # and the file may fetch nothing
    data = json.loads(re.search(r'<script type="application/json" id="cerebro-data">(.*?)'
                                r"</script>", html, re.S).group(1))
    api = data["api"]
    assert [e["name"] for e in api["/experiments"]] == ["second", "GridSearch-abc"]
    for eid in (1, 2):
        for view in ("delta", "importance", "space"):
            assert f"/experiments/{eid}/{view}" in api
    assert api["/experiments/1/delta"]["experiment"]["stats"]["utilisation"] == 0.8
    assert sum(k.startswith("/trials/") for k in api) == 6
    assert "\\u003cb\\u003ebad" in html and "<b>bad</b>" not in html  # escaped
    one = tmp_path / "one.html"
    assert main(["report", "--db", f"sqlite:///{tmp_path}/store/cerebro.db", "--out", str(one),
                 "--experiment", "second"]) == 0
    text = one.read_text()
    assert '"start":"/experiments/2"' in text and "GridSearch-abc" not in text


def test_unknown_experiment_lists_those_that_exist(tmp_path):
    fill(str(tmp_path), name="alpha", finish=True)
    for cmd in ("report", "dashboard"):
        r = run(cmd, "--store", str(tmp_path), "--experiment", "beta", "--port", "1") \
            if cmd == "dashboard" else run(cmd, "--store", str(tmp_path), "--experiment", "beta")
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert "no experiment named 'beta'" in r.stderr and "alpha" in r.stderr
    by_name = run("report", "--store", str(tmp_path), "--experiment", "alpha",
                  "--out", str(tmp_path / "a.html"))
    assert by_name.returncode == 0, by_name.stderr


@pytest.mark.parametrize("args,words", [
    (["report", "--db", "nonsense://x"], "not a database URL"),
    (["report", "--db", "sqlite:////nonexistent/dir/x.db"], "no records at"),
    (["report", "--db", "postgresql://u@127.0.0.1:1/db"], "cannot open the database"),
    (["dashboard", "--store", "/nonexistent", "--port", "99999"], "a port is 1-65535"),
])
def test_mistakes_end_in_one_line_without_a_traceback(args, words):
    r = run(*args)
    assert r.returncode == 2 and words in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_database_that_is_not_ours_is_refused_untouched(tmp_path):
    import sqlite3

    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE accounts (id INTEGER)")
    r = run("report", "--db", f"sqlite:///{path}")
    assert r.returncode == 2 and "no Cerebro records" in r.stderr
    with sqlite3.connect(path) as c:
        tables = {n for (n,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"accounts"}


def test_a_taken_port_is_reported_before_any_url(tmp_path):
    fill(str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = run("dashboard", "--store", str(tmp_path), "--port", str(port), "--token", TOKEN)
    assert r.returncode == 2 and "already in use" in r.stderr and "--port" in r.stderr
    assert "http://" not in r.stdout and "Traceback" not in r.stderr


def test_report_without_records_says_so(tmp_path):
    r = run("report", "--store", str(tmp_path))
    assert r.returncode == 2 and "no records" in r.stderr and "Traceback" not in r.stderr
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
                             "--token", TOKEN, "--experiment", "GridSearch-abc"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
    assert f":{port}/experiments/1?token={TOKEN}" in proc.stdout.read()
