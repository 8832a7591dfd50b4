"""What prepare_data writes: compact dtypes, encoded images, token ids; and when it writes
nothing because the store already holds the same data (content fingerprint)."""

from __future__ import annotations

import io
import logging
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cerebro.data import load_dataset_info, prepare_data
from cerebro.data.columns import inspect_dataframe
from cerebro.data.prepare import one_pass


def _read(store, info, split: str = "train") -> pa.Table:
    """Every row of a split, read back with plain pyarrow."""
    s = info.train if split == "train" else info.val
    tables = [pq.read_table(store.fs_path(k), filesystem=store.filesystem)
              for files in s.shards for k in files]
    return pa.concat_tables(tables)


def _jobs(spark, fn):
    """Runs ``fn`` and returns (its result, how many Spark jobs it started).

    The group name is unique: ``id(fn)`` of a collected lambda is reused, and the status
    tracker still lists the earlier group's jobs under it.
    """
    sc = spark.sparkContext
    group = f"count-{uuid.uuid4().hex}"
    sc.setJobGroup(group, "counting jobs")
    try:
        out = fn()
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
    return out, len(sc.statusTracker().getJobIdsForGroup(group))


# -------------------------------------------------------------------- compact dtypes
def test_integer_and_bool_columns_keep_a_compact_type(spark, store):
    from pyspark.sql import types as T

    schema = T.StructType([
        T.StructField("pixels", T.ArrayType(T.IntegerType())),  # 0..255: uint8
        T.StructField("small", T.LongType()),                    # 0..9: uint8
        T.StructField("neg", T.ShortType()),                     # -5..: keeps int16
        T.StructField("big", T.LongType()),                      # > 2**31: keeps int64
        T.StructField("flag", T.BooleanType()),                  # uint8
        T.StructField("x", T.DoubleType()),                      # float32
        T.StructField("ids", T.ArrayType(T.IntegerType())),      # up to 1000: int32
        T.StructField("y", T.IntegerType()),
    ])
    rows = [([i % 256, 255, 0], i % 10, i - 5, 2**40 + i, i % 2 == 0, 0.5 * i, [i, 1000], i % 3)
            for i in range(30)]
    df = spark.createDataFrame(rows, schema)
    feats = ["pixels", "small", "neg", "big", "flag", "x", "ids"]
    info = prepare_data(store, df, feats, ["y"], 2, validation=0.3, seed=1)
    dtypes = {c: info.columns[c].dtype for c in feats + ["y"]}
    assert dtypes == {"pixels": "uint8", "small": "uint8", "neg": "int16", "big": "int64",
                      "flag": "uint8", "x": "float32", "ids": "int32", "y": "uint8"}
    table = pa.concat_tables([_read(store, info, "train"), _read(store, info, "val")])
    types = {f.name: f.type for f in table.schema}
    assert types["pixels"] == pa.list_(pa.uint8()) and types["ids"] == pa.list_(pa.int32())
    assert types["big"] == pa.int64() and types["x"] == pa.float32()
    got = sorted(zip(table.column("neg").to_pylist(), table.column("big").to_pylist()))
    assert got == [(i - 5, 2**40 + i) for i in range(30)], "values are exact"


# -------------------------------------------------------------------- reuse by fingerprint
def test_rerun_reuses_the_shards_and_says_so(spark, store, caplog):
    from pyspark.sql import functions as F

    rows = [(float(i), [float(i), 1.0], i % 2) for i in range(200)]
    df = spark.createDataFrame(rows, ["x", "v", "y"])
    reordered = spark.createDataFrame(rows[::-1], ["x", "v", "y"])  # same rows, other order
    first, fresh_jobs = _jobs(spark, lambda: prepare_data(store, df, ["x", "v"], ["y"], 2))
    files = [k for s in (first.train, first.val) for fs in s.shards for k in fs]
    mtimes = {k: store.filesystem.get_file_info(store.fs_path(k)).mtime for k in files}
    with caplog.at_level(logging.INFO, logger="cerebro"):
        again, reuse_jobs = _jobs(
            spark, lambda: prepare_data(store, reordered, ["x", "v"], ["y"], 2))
    assert again.reused and again.fingerprint == first.fingerprint
    assert again.to_json() == first.to_json()
    def inspect_alone():
        with one_pass(reordered):  # as prepare_data runs it: adaptive execution off
            return inspect_dataframe(reordered, ["x", "v"], ["y"])

    _, inspect_jobs = _jobs(spark, inspect_alone)
    # Only the column checks ran (one aggregation, which also fingerprints): no write.
    assert reuse_jobs == inspect_jobs < fresh_jobs
    assert {k: store.filesystem.get_file_info(store.fs_path(k)).mtime for k in files} == mtimes
    assert any("data preparation skipped" in r.getMessage() and first.fingerprint in
               r.getMessage() for r in caplog.records)

    one_changed = df.withColumn("x", F.when(F.col("x") == 7.0, 7.5).otherwise(F.col("x")))
    changes = [
        lambda: prepare_data(store, one_changed, ["x", "v"], ["y"], 2),
        lambda: prepare_data(store, df, ["x", "v"], ["y"], 2, seed=1),
        lambda: prepare_data(store, df, ["x", "v"], ["y"], 2, validation=0.3),
        lambda: prepare_data(store, df, ["x", "v"], ["y"], 1),
        lambda: prepare_data(store, df, ["v"], ["y"], 2),
    ]
    prints = {first.fingerprint}
    for change in changes:
        info = change()
        assert not info.reused and info.fingerprint not in prints
        prints.add(info.fingerprint)
    assert sorted(store.listdir(store.train_data_key())) == sorted(prints)


def test_dataset_with_a_lost_shard_is_prepared_again(spark, store):
    df = spark.createDataFrame([(float(i), i % 2) for i in range(50)], ["x", "y"])
    first = prepare_data(store, df, ["x"], ["y"], 2)
    store.delete(first.train.shards[0][0])
    again = prepare_data(store, df, ["x"], ["y"], 2)
    assert not again.reused and again.fingerprint == first.fingerprint
    assert store.exists(again.train.shards[0][0])


# -------------------------------------------------------------------- images
def _png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def png_dir(tmp_path):
    """Twelve gray PNGs (eleven 6x5, one 8x8) and their pixels."""
    rng = np.random.default_rng(0)
    out = tmp_path / "png"
    out.mkdir()
    pixels = {}
    for i in range(12):
        a = rng.integers(0, 256, (8, 8) if i == 11 else (6, 5), dtype=np.uint8)
        (out / f"img{i:02d}.png").write_bytes(_png(a))
        pixels[f"img{i:02d}.png"] = a
    return out, pixels


def test_png_files_from_binary_file_are_stored_encoded(spark, store, png_dir, caplog):
    from pyspark.sql import functions as F

    from cerebro.data.images import decode

    folder, pixels = png_dir
    df = (spark.read.format("binaryFile").load(str(folder))
          .withColumn("label", (F.regexp_extract("path", r"img(\d+)", 1).cast("int") % 2)))
    with caplog.at_level(logging.INFO, logger="cerebro"):
        info = prepare_data(store, df, ["content"], ["label"], 2, validation=0.25,
                            images={"content": (6, 5)})
    col = info.columns["content"]
    assert (col.kind, col.dtype, col.image_shape, col.length) == ("image", "uint8", (6, 5, 1), 30)
    assert any("resized" in r.getMessage() for r in caplog.records), "the 8x8 one is resized"
    table = pa.concat_tables([_read(store, info, "train"), _read(store, info, "val")])
    assert table.schema.field("content").type == pa.binary()
    stored = set(table.column("content").to_pylist())
    assert stored == {(folder / n).read_bytes() for n in pixels}, "the files' own bytes"
    for data in stored:
        a = decode(data, col.image_shape)
        assert a.shape == (6, 5, 1) and a.dtype == np.uint8
    small = next(n for n, a in pixels.items() if a.shape == (6, 5))
    np.testing.assert_array_equal(decode((folder / small).read_bytes(), (6, 5, 1))[:, :, 0],
                                  pixels[small])


def test_image_shape_defaults_to_the_first_image(spark, store, png_dir):
    folder, _ = png_dir
    df = spark.read.format("binaryFile").load(str(folder / "img0[0-5].png")).selectExpr(
        "content", "length as label")
    info = prepare_data(store, df, ["content"], ["label"], 1, validation=0.3)
    assert info.columns["content"].image_shape == (6, 5, 1)


def test_a_file_that_is_not_an_image_fails_before_anything_is_written(spark, store, png_dir):
    folder, _ = png_dir
    (folder / "notes.png").write_text("this is not a picture")
    df = spark.read.format("binaryFile").load(str(folder)).selectExpr("path", "content",
                                                                       "length as label")
    with pytest.raises(ValueError, match=r"image column 'content': 1 of 13 rows are not "
                                         r"JPEG/PNG images \(e.g. .*notes.png\)"):
        prepare_data(store, df, ["content"], ["label"], 2)
    assert store.listdir(store.train_data_key()) == []
    assert not store.exists(store.metadata_key())


def test_spark_image_struct_is_reencoded_as_png(spark, store, tmp_path):
    from PIL import Image

    from cerebro.data.images import decode

    rng = np.random.default_rng(1)
    folder = tmp_path / "rgb"
    folder.mkdir()
    pixels = {}
    for i in range(4):
        a = rng.integers(0, 256, (4, 3, 3), dtype=np.uint8)
        Image.fromarray(a, "RGB").save(folder / f"c{i}.png")
        pixels[i] = a
    df = spark.read.format("image").load(str(folder)).selectExpr(
        "image", "cast(regexp_extract(image.origin, 'c(\\\\d)', 1) as int) as label")
    info = prepare_data(store, df, ["image"], ["label"], 1, validation=0.5, seed=2)
    assert info.columns["image"].image_shape == (4, 3, 3)
    table = pa.concat_tables([_read(store, info, "train"), _read(store, info, "val")])
    for data, label in zip(table.column("image").to_pylist(), table.column("label").to_pylist()):
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        np.testing.assert_array_equal(decode(data, (4, 3, 3)), pixels[label])  # RGB, not BGR


# -------------------------------------------------------------------- text
TEXTS = ["The cat sat on the mat.", "A dog; a DOG!", "naïve café, déjà-vu",
         "", "tabs\tand\nnewlines   here", "the the the cat"]


def test_text_becomes_fixed_length_ids_that_python_reproduces(spark, store):
    from cerebro.data.text import TextEncoding, TextSettings

    df = spark.createDataFrame([(t, i % 2) for i, t in enumerate(TEXTS * 3)], ["text", "y"])
    info = prepare_data(store, df, ["text"], ["y"], 2, validation=0.3,
                        text={"text": TextSettings(sequence_length=4, vocabulary_size=6)})
    col = info.columns["text"]
    assert (col.kind, col.length, col.dtype) == ("array", 4, "int32")
    enc = TextEncoding.from_json(info.text["text"])
    assert enc.vocabulary_size == 6 and enc.vocabulary[0] == "the"  # most frequent first
    assert load_dataset_info(store).text == info.text
    table = pa.concat_tables([_read(store, info, "train"), _read(store, info, "val")])
    assert table.schema.field("text").type == pa.list_(pa.int32())
    ids = [tuple(r) for r in table.column("text").to_pylist()]
    want = {tuple(r) for r in enc.encode(TEXTS)}
    assert set(ids) == want, "Spark's tokenizer and the Python one agree"
    assert enc.encode(["The cat sat on the mat."]).tolist()[0][:2] == [2, enc.vocabulary.index(
        "cat") + 2]
    assert enc.encode([""]).tolist() == [[0, 0, 0, 0]]
    assert enc.encode(["zebra"]).tolist() == [[1, 0, 0, 0]]


def test_string_feature_without_text_settings_is_refused(spark, store):
    df = spark.createDataFrame([("a b", 1), ("c", 0)], ["s", "y"])
    with pytest.raises(TypeError, match="feature column 's' has Spark type string"):
        prepare_data(store, df, ["s"], ["y"], 1)
