"""The Spark driver's class archive: built once, mapped by later drivers, never in the way."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cerebro.backend import session

SCRIPT = r"""
import sys
from cerebro.backend.session import local_session
spark = local_session(1, conf={"spark.driver.extraJavaOptions": sys.argv[1]})
assert spark.range(100).selectExpr("sum(id)").first()[0] == 4950
print("JOB OK", flush=True)
spark.stop()
"""


def _run_session(cache_dir, java_log: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CEREBRO_CACHE_DIR=str(cache_dir),
               PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON", sys.executable))
    return subprocess.run([sys.executable, "-c", SCRIPT, java_log], env=env,
                          capture_output=True, text=True, timeout=300)


def test_no_archive_means_no_option(tmp_path):
    assert session.java_options(str(tmp_path), quick_jit=False) == ""
    assert session.java_options(str(tmp_path)) == "-XX:TieredStopAtLevel=1"
    assert session.archive_path(str(tmp_path)).parent == tmp_path


@pytest.mark.parametrize("bad", [0, -2, 1.5, "2", True])
def test_local_session_refuses_a_bad_worker_count(bad):
    with pytest.raises(ValueError, match="num_workers must be an int >= 1"):
        session.local_session(bad)


def test_a_corrupt_archive_does_not_stop_spark(tmp_path):
    """A damaged file under the archive's name: the JVM ignores it and Spark starts as usual."""
    path = session.archive_path(str(tmp_path))
    path.write_bytes(os.urandom(1 << 20))
    assert str(path) in session.java_options(str(tmp_path))
    proc = _run_session(tmp_path, "")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "JOB OK" in proc.stdout
    assert "cds" not in proc.stdout.lower() + proc.stderr.lower()  # nothing alarming printed


@pytest.mark.slow
def test_built_archive_is_mapped_by_the_next_driver(tmp_path):
    """`cerebro spark-archive` writes it atomically; a later driver loads Spark's classes
    from it."""
    from cerebro import cli

    assert cli.main(["spark-archive", "--cache-dir", str(tmp_path)]) == 0
    path = session.archive_path(str(tmp_path))
    assert path is not None and path.is_file() and path.stat().st_size > 10 << 20
    assert not list(tmp_path.glob(".building-*"))
    assert session.build_archive(str(tmp_path)) == path  # kept, not rebuilt
    log = tmp_path / "classes.log"
    proc = _run_session(tmp_path, f"-Xlog:class+load=info:file={log}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = log.read_text().splitlines()
    spark_lines = [ln for ln in lines if "org.apache.spark." in ln]
    from_archive = [ln for ln in spark_lines if "shared objects file (top)" in ln]
    assert len(spark_lines) > 1000
    # 62% measured: classes Spark generates at run time (proxies, lambdas) are never shared
    assert len(from_archive) > 0.5 * len(spark_lines), (len(from_archive), len(spark_lines))


def test_workers_are_forked_with_keras_imported(spark):
    """The session's daemon (cerebro.backend.daemon) imported Keras before forking."""
    def probe(_):
        import sys

        import psutil

        parent = " ".join(psutil.Process(os.getppid()).cmdline())
        yield ("keras" in sys.modules, "torch" in sys.modules, "cerebro.backend.daemon" in parent)

    assert os.environ.get("KERAS_BACKEND") == "torch"
    seen = spark.sparkContext.parallelize(range(2), 2).mapPartitions(probe).collect()
    assert seen == [(True, True, True)] * 2


def test_a_worker_refuses_a_keras_of_another_backend():
    code = ("import keras; from cerebro.backend.worker import _import_framework; out = {}; "
            "_import_framework('jax', out); print(out['error'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, KERAS_BACKEND="torch"), timeout=120)
    assert "runs on 'torch' but the driver's on 'jax'" in proc.stdout, proc.stderr[-1000:]
