"""A faster Spark start on one machine: a class archive for the driver JVM, a quick JIT, and
Python workers forked with torch and Keras already imported.

- **Class archive (AppCDS).** Most of a local Spark session's start-up, and of its first SQL
  job, is the JVM loading and verifying some 10,000 classes from Spark's jars. Java 13+ can
  dump the classes a run loaded into an archive (``-XX:ArchiveClassesAtExit``) and map it
  into later JVMs (``-XX:SharedArchiveFile``). On the 2-core dev machine this halves both the
  session start (5.2 s -> 2.6 s) and the first job on a Parquet file (3.9 s -> 1.8 s). The
  archive is built once per (Java, Spark) install, by ``make install`` or
  ``cerebro spark-archive``, in a run that exercises what cerebro asks of Spark.
  It lives in ``$CEREBRO_CACHE_DIR`` (default ``~/.cache/cerebro``) under a name derived from
  the Java binary, the PySpark version and Spark's jar list, so an upgrade never maps a stale
  archive; a JVM that cannot map one (``-Xshare:auto``) starts as it would have without it.
- **Quick JIT** (``-XX:TieredStopAtLevel=1``): the driver JVM compiles with C1 only. A short
  local run spends much of its CPU in the optimising C2 compiler (1.9 cores for seconds,
  during cerebro's first two SQL jobs on MNIST); without it the run to the first visit is
  1-3 s shorter, and preparing a 1M-row table took the same time (11.3-11.7 s both ways).
- **Preloaded workers** (``spark.python.daemon.module=cerebro.backend.daemon``): see
  ``cerebro.backend.daemon``.

Use ``local_session()``, or add these to your own builder::

    .config("spark.driver.extraJavaOptions", java_options())
    .config("spark.python.daemon.module", "cerebro.backend.daemon")
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional

from cerebro._upstream import spark_live_conf

log = logging.getLogger(__name__)

_QUIET = "-Xshare:auto -Xlog:cds=off -Xlog:cds+dynamic=off"
_QUICK_JIT = "-XX:TieredStopAtLevel=1"
DAEMON_MODULE = "cerebro.backend.daemon"


def _spark_home() -> Path:
    import pyspark

    return Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).parent)


def _java() -> Optional[Path]:
    home = os.environ.get("JAVA_HOME")
    found = Path(home, "bin", "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def archive_path(cache_dir: Optional[str] = None) -> Optional[Path]:
    """Where this install's archive lives (whether or not it exists); None without Java."""
    import pyspark

    java = _java()
    if java is None:
        return None
    jars = sorted(p.name for p in (_spark_home() / "jars").glob("*.jar"))
    key = "\n".join([str(java), str(java.stat().st_mtime_ns), pyspark.__version__,
                     str(_spark_home()), *jars])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    base = Path(cache_dir or os.environ.get("CEREBRO_CACHE_DIR")
                or Path.home() / ".cache" / "cerebro")
    return base / f"spark-{pyspark.__version__}-{digest}.jsa"


def java_options(cache_dir: Optional[str] = None, quick_jit: bool = True) -> str:
    """Driver JVM options: map the class archive (if built) and, if ``quick_jit``, C1 only.

    Args:
        cache_dir: Where the archive is; default ``$CEREBRO_CACHE_DIR`` or ``~/.cache/cerebro``.
        quick_jit: Compile with C1 only (faster start; long CPU-heavy SQL may run slower).
    """
    opts = [_QUICK_JIT] if quick_jit else []
    path = archive_path(cache_dir)
    if path is not None and path.is_file():
        opts.append(f"-XX:SharedArchiveFile={path} {_QUIET}")
    return " ".join(opts)


def local_session(num_workers: Optional[int] = None, app_name: str = "cerebro",
                  driver_memory: str = "2g", conf: Optional[dict] = None):
    """A ``local[num_workers]`` SparkSession set up for cerebro on one machine.

    The Spark UI is off, shuffles use ``num_workers`` partitions, the driver JVM maps the
    class archive (when built) and compiles with C1 only, and Python workers are forked by
    ``cerebro.backend.daemon`` (see the module docstring).

    Args:
        num_workers: Local cores Spark may use; one cerebro worker each. Default: all cores.
        app_name: The Spark application name.
        driver_memory: The driver JVM's heap.
        conf: More Spark settings; they win over these defaults. A
            ``spark.driver.extraJavaOptions`` here is kept, with the archive option added.
    """
    from pyspark.sql import SparkSession

    if num_workers is not None and (isinstance(num_workers, bool)
                                    or not isinstance(num_workers, int) or num_workers < 1):
        raise ValueError(f"num_workers must be an int >= 1 (or None: all cores), got "
                         f"{num_workers!r}")
    n = num_workers or os.cpu_count() or 1
    settings = {"spark.ui.enabled": "false", "spark.driver.memory": driver_memory,
                "spark.sql.shuffle.partitions": str(max(2, n)),
                "spark.python.daemon.module": DAEMON_MODULE}
    settings.update(conf or {})
    extra = " ".join(filter(None, [settings.get("spark.driver.extraJavaOptions", ""),
                                   java_options()]))
    if extra:
        settings["spark.driver.extraJavaOptions"] = extra
    builder = SparkSession.builder.master(f"local[{n}]").appName(app_name)
    for k, v in settings.items():
        builder = builder.config(k, v)
    return builder.getOrCreate()


_EXERCISE = r"""
import os, sys, tempfile
from pyspark.sql import SparkSession, functions as F
spark = (SparkSession.builder.master("local[2]").appName("cerebro-cds")
         .config("spark.ui.enabled", "false")
         .config("spark.driver.extraJavaOptions", sys.argv[1]).getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
d = tempfile.mkdtemp()
df = spark.range(4000).select(F.col("id"), (F.col("id") % 3).alias("label"),
                              F.array(*[F.rand(i) for i in range(8)]).alias("features"))
df.write.parquet(d + "/a")
a = spark.read.parquet(d + "/a")
a.agg(F.count(F.lit(1)), F.sum(F.col("label").isNull().cast("long")),
      F.min(F.size("features")), F.max(F.size("features")),
      F.collect_set("label")).first()
a.select("label").distinct().limit(10).collect()
(a.withColumn("v", F.rand(1) < 0.2).select(F.col("features"), F.col("label").cast("float"), "v")
 .repartition(2).write.partitionBy("v").parquet(d + "/b"))
spark.read.parquet(d + "/b").sample(fraction=0.5, seed=1).limit(10).toArrow()
spark.sparkContext.parallelize(range(2), 2).barrier().mapPartitions(lambda it: it).collect()
a.mapInPandas(lambda it: it, a.schema).count()
spark.stop()
"""


def build_archive(cache_dir: Optional[str] = None, force: bool = False,
                  timeout: float = 600) -> Optional[Path]:
    """Builds this install's class archive (about 20-40 s, ~150 MB); returns its path.

    Returns None, logging why, when there is no Java or the JVM could not dump an archive;
    an existing archive is kept unless ``force``.
    """
    path = archive_path(cache_dir)
    if path is None:
        log.warning("no java found; no class archive built")
        return None
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".building-", suffix=".jsa", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)  # the JVM writes it at exit
    env = dict(os.environ, PYSPARK_PYTHON=os.environ.get("PYSPARK_PYTHON", sys.executable))
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _EXERCISE, f"-XX:ArchiveClassesAtExit={tmp} -Xlog:cds=off "
             "-Xlog:cds+dynamic=off"], env=env, capture_output=True, text=True,
            timeout=timeout)
        if proc.returncode != 0 or not os.path.isfile(tmp) or os.path.getsize(tmp) == 0:
            log.warning("could not build a Spark class archive (exit %s): %s", proc.returncode,
                        proc.stderr.strip()[-500:])
            return None
        os.replace(tmp, path)  # atomic: a half-written archive never takes the name
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    prefix = path.name.rsplit("-", 1)[0]
    for old in path.parent.glob(f"{prefix}-*.jsa"):  # this Spark version's stale archives
        if old != path:
            old.unlink(missing_ok=True)
    return path


def tune_running_session(sc, keras_backend: str) -> list[str]:
    """Applies to a running local-mode context what ``local_session`` sets at its start, as
    far as Spark allows; returns what it applied. Logs one line on what it could not apply.

    - **Preloaded workers** apply: Spark reads ``spark.python.daemon.module`` from the live
      configuration whenever it starts Python workers, and in local mode the executor shares
      the driver's, so setting it now has every later worker forked from cerebro's daemon.
      ``KERAS_BACKEND`` goes into the workers' environment (``sc.environment``) so the daemon
      knows which framework to preload.
    - **Class archive and quick JIT** do not: they are options of the driver JVM, which is
      running. The log line says how to get them.

    Set ``CEREBRO_SESSION_TUNING=0`` to leave the session as it is. Does nothing outside
    local mode (executors' settings are fixed when they start).
    """
    if not str(sc.master).startswith("local") or os.environ.get("CEREBRO_SESSION_TUNING") == "0":
        return []
    applied = []
    live = spark_live_conf(sc)  # the driver's own SparkConf (getConf() returns a copy)
    if not live.contains("spark.python.daemon.module"):
        live.set("spark.python.daemon.module", DAEMON_MODULE)
        applied.append(f"spark.python.daemon.module={DAEMON_MODULE}")
    if "KERAS_BACKEND" not in sc.environment:
        sc.environment["KERAS_BACKEND"] = keras_backend
        applied.append(f"KERAS_BACKEND={keras_backend} for the Python workers")
    jvm_opts = live.get("spark.driver.extraJavaOptions", "")
    wanted = java_options()
    if wanted and not all(opt in jvm_opts for opt in wanted.split()):
        log.info("this SparkSession's driver JVM started without cerebro's class archive and "
                 "quick JIT (about 2-5 s of start-up); build it with cerebro.backend.session."
                 "local_session(), or add .config('spark.driver.extraJavaOptions', "
                 "cerebro.backend.session.java_options()) to your SparkSession.builder")
    return applied
