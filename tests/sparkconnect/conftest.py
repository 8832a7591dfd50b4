"""A local Spark Connect server for the session: started on a free port, stopped at the end.

The server is ``org.apache.spark.sql.connect.service.SparkConnectServer`` from the jar that
pyspark 4 ships, on ``local[2]``, bound to 127.0.0.1. Its Python workers run this
interpreter with this process's ``PYTHONPATH`` (so they import the ``cerebro`` under test)
and fork from ``cerebro.backend.daemon``, as ``local_session`` sets for a classic session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

START_TIMEOUT = 180.0


def _connect_jar() -> Path | None:
    import pyspark

    jars = sorted((Path(pyspark.__file__).parent / "jars").glob("spark-connect_*.jar"))
    return jars[0] if jars else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _pythonpath() -> str:
    """This process's ``PYTHONPATH`` with the tree of the ``cerebro`` under test first."""
    import cerebro

    tree = str(Path(cerebro.__file__).resolve().parents[1])
    return os.pathsep.join(filter(None, [tree, os.environ.get("PYTHONPATH", "")]))


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # the server and the Python workers it forked
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory):
    """The URL (``sc://127.0.0.1:PORT``) of a running local Spark Connect server."""
    import pyspark

    from cerebro.backend.session import DAEMON_MODULE, java_options

    if _connect_jar() is None:
        pytest.skip("this pyspark ships no spark-connect jar (pyspark/jars/spark-connect_*.jar)")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("connect-server") / "server.log"
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, PYSPARK_DRIVER_PYTHON=sys.executable,
               KERAS_BACKEND=os.environ.get("KERAS_BACKEND", "torch"),
               PYTHONPATH=_pythonpath(),
               SPARK_LOCAL_IP="127.0.0.1")
    conf = {"spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(port),
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false", "spark.driver.memory": "2g",
            "spark.sql.shuffle.partitions": "4", "spark.python.worker.reuse": "true",
            "spark.python.daemon.module": DAEMON_MODULE,
            "spark.driver.extraJavaOptions": java_options()}
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    cmd = [str(submit), "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
           "--master", "local[2]", "--name", "cerebro-tests-connect"]
    for k, v in conf.items():
        if v:
            cmd += ["--conf", f"{k}={v}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                pytest.fail(f"the Spark Connect server did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        _stop(proc)
