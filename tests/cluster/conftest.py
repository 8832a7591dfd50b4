"""A packed copy of this environment and a Spark standalone cluster on 127.0.0.1, as
docs/cluster.md sets them up. Every process started here is killed, with its children."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
SITE = "lib/python*/site-packages"


@pytest.fixture(scope="session")
def packed_env(tmp_path_factory) -> dict:
    """docs/cluster.md steps 1-3: a ``--copies`` venv with the packages, packed with venv-pack,
    cerebro zipped.

    Step 1 is shortened: instead of reinstalling every package from the registry, the new
    venv's site-packages are hard links to this venv's (same files, no copy). This dev venv
    holds cerebro as an editable install (a pointer to the checkout); the pointer is left
    out and the package ships as ``--py-files cerebro.zip``, as the guide says for a
    checkout. Built once per test session.
    """
    venv_pack = Path(sys.executable).parent / "venv-pack"
    if not venv_pack.exists():
        pytest.skip("venv-pack is not installed in this venv (requirements-dev.txt pins it)")
    out = tmp_path_factory.mktemp("packed")
    env = out / "env"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "venv", "--copies", "--without-pip", str(env)],
                   check=True)
    site = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages"
    subprocess.run(["cp", "-al", f"{sys.prefix}/{site}/.", str(env / site)], check=True)
    for f in (env / site).glob("__editable__*"):
        f.unlink()
    made_s = time.monotonic() - t0
    subprocess.run([str(venv_pack), "-p", str(env), "-o", str(out / "cerebro_env.tar.gz"), "-q",
                    "--compress-level", "1",
                    "--exclude", f"{SITE}/pyspark/jars/*"], check=True)
    pack_s = time.monotonic() - t0 - made_s
    with zipfile.ZipFile(out / "cerebro.zip", "w") as z:  # python -m zipfile -c cerebro.zip cerebro
        for f in sorted((REPO / "cerebro").rglob("*")):
            if f.is_file() and "__pycache__" not in f.parts:
                z.write(f, f.relative_to(REPO))
    shutil.rmtree(env)
    return {"archive": out / "cerebro_env.tar.gz", "py_files": out / "cerebro.zip",
            "made_s": made_s, "pack_s": pack_s,
            "bytes": (out / "cerebro_env.tar.gz").stat().st_size}


def cluster_env(tmp_path: Path, **extra: str) -> dict:
    """The environment of the cluster's JVMs: nothing that points at this venv or checkout."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON")}
    env.update(SPARK_LOCAL_IP="127.0.0.1", SPARK_WORKER_DIR=str(tmp_path / "work"),
               CEREBRO_RESULT=str(tmp_path / "result.json"), **extra)
    return env


@contextmanager
def standalone(tmp_path: Path, workers: list[dict], env: dict) -> Iterator[str]:
    """A master and ``workers`` (each ``{"cores": n, "opts": SPARK_WORKER_OPTS}``); yields the
    master URL; everything is killed on exit."""
    import pyspark

    from core.test_standalone_cluster import _free_port, _kill_all, _master_state, _wait

    spark_class = Path(pyspark.__file__).parent / "bin" / "spark-class"
    port, webui = _free_port(), _free_port()
    procs: list[subprocess.Popen] = []
    logs = []

    def start(name: str, args: list[str], opts: str = "") -> None:
        log = open(tmp_path / f"{name}.log", "wb")
        logs.append(log)
        procs.append(subprocess.Popen([str(spark_class), *args], stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True,
                                      env=dict(env, SPARK_WORKER_OPTS=opts)))

    try:
        start("master", ["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                         "--port", str(port), "--webui-port", str(webui)])
        if not _wait(lambda: _master_state(webui)["status"] == "ALIVE", 90):
            tail = (tmp_path / "master.log").read_text(errors="replace")[-2000:]
            pytest.skip(f"the Spark standalone master did not start on 127.0.0.1:{port}:\n{tail}")
        master = f"spark://127.0.0.1:{port}"
        for i, w in enumerate(workers):
            start(f"worker{i}", ["org.apache.spark.deploy.worker.Worker", master,
                                 "--cores", str(w["cores"]), "--memory", w.get("memory", "2g"),
                                 "--host", "127.0.0.1", "--webui-port", str(_free_port())],
                  w.get("opts", ""))
        assert _wait(lambda: _master_state(webui)["aliveworkers"] == len(workers), 120), \
            (tmp_path / "worker0.log").read_text(errors="replace")[-2000:]
        yield master
    finally:
        _kill_all(procs)
        for log in logs:
            log.close()


def spark_submit(master: str, packed: dict, script: Path, env: dict, *conf: str,
                 timeout: float = 420) -> tuple[int, str]:
    """docs/cluster.md step 5: ``spark-submit`` in client mode, executors on the packed env."""
    import pyspark

    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    args = [str(submit), "--master", master, "--archives", f"{packed['archive']}#env",
            "--py-files", str(packed["py_files"]),
            "--conf", "spark.executorEnv.KERAS_BACKEND=torch",
            "--conf", "spark.executor.memory=512m", "--conf", "spark.ui.enabled=false",
            "--conf", "spark.driver.host=127.0.0.1"]
    for c in conf:
        args += ["--conf", c]
    proc = subprocess.Popen([*args, str(script)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(env, PYSPARK_DRIVER_PYTHON=sys.executable,
                                     PYSPARK_PYTHON="./env/bin/python", KERAS_BACKEND="torch"))
    try:
        output, _ = proc.communicate(timeout=timeout)
    finally:
        from core.test_standalone_cluster import _kill_all

        _kill_all([proc])  # the driver JVM and its Python, even after a timeout
    return proc.returncode, output


def result_of(tmp_path: Path, output: str) -> dict:
    """What the submitted script wrote to ``$CEREBRO_RESULT`` (see ``cluster_env``).

    Not read from its output: spark-submit's JVM relays the driver's stdout in chunks onto the
    pipe its own log lines go to, so a log line can land inside a long printed line.
    """
    import json

    path = tmp_path / "result.json"
    assert path.exists(), output[-4000:]
    return json.loads(path.read_text())


def executor_logs(tmp_path: Path) -> list[str]:
    return [p.read_text(errors="replace") for p in (tmp_path / "work").glob("app-*/*/stderr")]


def cleanup(tmp_path: Path) -> None:
    """The unpacked environments (2 GB per executor) go as soon as the test is done."""
    subprocess.run(["rm", "-rf", str(tmp_path / "work")], check=False)  # faster than rmtree
