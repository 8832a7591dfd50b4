"""Images as files: the MNIST sample written as PNG files, read with ``binaryFile``, searched
through the seed's walk-through graph, and compared with the same images given as vectors.

The driver side (preparation, the decoded sample, inference) is this stream's; the workers
decode each batch with ``cerebro.data.images.decode_batch`` (the worker-side data stream).
Until the workers decode image columns, the end-to-end test skips, saying so.
"""

from __future__ import annotations

import numpy as np
import pytest

from .helpers import fresh_names

pytestmark = pytest.mark.slow

ROWS = 3000
VAL = 600


@pytest.fixture
def workers_decode_images(spark, tmp_path):
    """Skips unless the worker's shard loader turns a prepared image column into pixels."""
    from PIL import Image

    from cerebro.data import prepare_data
    from cerebro.data.shard import load_shard
    from cerebro.storage import LocalStore

    store = LocalStore(str(tmp_path / "probe"))
    for i in range(2):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8), "L").save(tmp_path / f"p{i}.png")
    df = spark.read.format("binaryFile").load(str(tmp_path / "p*.png")).selectExpr(
        "content", "length as label", "path like '%p0.png' as is_val")
    info = prepare_data(store, df, ["content"], ["label"], 1, validation="is_val")
    try:
        shard = load_shard(store, info, "train", 0, ["content"])
        shape = np.asarray(shard.batch(["content"], [info.columns["content"].image_shape])).shape
    except Exception:  # noqa: BLE001 - any failure means: not yet
        shape = None
    if shape is None or shape[1:] != (28, 28, 1):
        pytest.skip("the workers do not decode image columns yet (the worker-side per-batch "
                    "decode of the data stream, cerebro.data.images.decode_batch)")


@pytest.fixture(scope="module")
def mnist_png(mnist_arrays, tmp_path_factory):
    """The first ROWS MNIST images as PNG files named ``<index>_<label>.png``."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("mnist_png")
    x, y = mnist_arrays
    for i in range(ROWS):
        pixels = np.round(x[i].reshape(28, 28) * 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(folder / f"{i:06d}_{int(y[i])}.png")
    return folder


def _search(spark, df, feature: str, store_dir, input_shape):
    import autokeras as ak
    from keras_tuner import HyperParameters

    from cerebro.backend import SparkBackend
    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    fresh_names()
    node = ak.ImageInput()
    out = ak.ClassificationHead()(ak.ConvBlock()(ak.Normalization()(node)))
    am = HyperHyperModel(inputs=node, outputs=out, overwrite=True, max_trials=1, seed=1)
    am.resource_bind(backend=SparkBackend(spark_context=spark.sparkContext, num_workers=2),
                     store=LocalStore(str(store_dir)), feature_columns=[feature],
                     label_columns=["label"], evaluation_metric="accuracy",
                     validation="is_val", verbose=0)
    hp = HyperParameters()
    hp.Fixed("learning_rate", 0.001)
    hp.Fixed("optimizer", "adam")
    hp.Fixed("classification_head_1/dropout", 0.0)
    for name, value in (("num_blocks", 1), ("max_pooling", True), ("num_layers", 1),
                        ("filters_0_0", 32), ("kernel_size", 3), ("separable", False),
                        ("dropout", 0.0)):
        hp.Fixed(f"conv_block_1/{name}", value)
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=1,
                  overwrite=True)
    result = am.fit(df, epochs=3, input_shape=input_shape, batch_size=32)
    return am, result.get_best_model().history["val_accuracy"][-1]


@pytest.fixture
def same_row_order(spark):
    """Both searches see the same rows in the same shards, in the same order.

    Spark's round-robin ``repartition`` first sorts each partition by the rows' bytes, which
    differ between a PNG and a vector of the same image: the two searches would then be two
    random realisations of training, about a point apart either way. Without that sort, and
    with inputs partitioned and ordered alike, the comparison measures the encoding alone.
    """
    key = "spark.sql.execution.sortBeforeRepartition"
    old = spark.conf.get(key)
    spark.conf.set(key, "false")
    yield lambda df: df.repartition(4, "index").sortWithinPartitions("index")
    spark.conf.set(key, old)


def test_png_files_train_as_well_as_the_same_vectors(spark, workers_decode_images, mnist_png,
                                                     mnist_arrays, tmp_path, same_row_order):
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import functions as F

    files = (spark.read.format("binaryFile").option("pathGlobFilter", "*.png")
             .load(str(mnist_png))
             .select("path", "content",
                     F.regexp_extract("path", r"/(\d+)_\d\.png$", 1).cast("int").alias("index"),
                     F.regexp_extract("path", r"_(\d)\.png$", 1).cast("int").alias("label")))
    files = same_row_order(files.withColumn("is_val", F.col("index") < VAL))
    am, png_acc = _search(spark, files, "content", tmp_path / "png", None)
    assert am._fitted.inputs[0].kind == "image"
    x, y = mnist_arrays
    rows = [(i, Vectors.dense(np.round(x[i] * 255).astype(float) / 255), int(y[i]), i < VAL)
            for i in range(ROWS)]
    vectors = same_row_order(spark.createDataFrame(rows, ["index", "features", "label",
                                                          "is_val"]))
    _, vec_acc = _search(spark, vectors, "features", tmp_path / "vec", (28, 28, 1))
    print(f"val accuracy: PNG files {png_acc:.4f}, vectors {vec_acc:.4f}")
    assert vec_acc >= 0.85
    assert abs(png_acc - vec_acc) <= 0.01

    # Predict on the files themselves: decoded per chunk in the Spark tasks.
    val_files = files.filter("is_val")
    out = am.predict(val_files).select("label", "label__class").collect()
    acc = np.mean([r["label"] == r["label__class"] for r in out])
    assert acc == pytest.approx(am.evaluate(val_files)["accuracy"], abs=1e-6)
    assert acc >= 0.85
