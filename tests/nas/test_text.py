"""Text classification end to end: a string column, tokenized by Spark in data preparation,
searched with AutoKeras's TextBlock, then predict on raw strings (numpy and DataFrame), and
the graphs that are refused before any training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .helpers import bind, fresh_names

POSITIVE = ["good", "great", "lovely", "happy", "superb", "enjoyed"]
NEGATIVE = ["bad", "awful", "boring", "sad", "terrible", "hated"]
FILLER = ["the", "a", "movie", "film", "was", "it", "and", "very", "plot", "actor", "this",
          "story", "we", "really", "ending", "music"]
LENGTH = 12


def reviews(n: int, seed: int) -> list[tuple[str, str]]:
    """Generated reviews: filler words plus three sentiment words, mixed case, punctuation."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 else "neg"
        words = list(rng.choice(FILLER, 7)) + list(rng.choice(
            POSITIVE if label == "pos" else NEGATIVE, 3))
        rng.shuffle(words)
        text = " ".join(w.capitalize() if rng.random() < 0.2 else w for w in words)
        out.append((text + rng.choice([".", "!", "...", "; really."]), label))
    return out


@pytest.fixture(scope="module")
def text_search(spark, tmp_path_factory):
    import autokeras as ak
    import keras_tuner as kt

    from cerebro.nas.hphpmodel import HyperHyperModel
    from cerebro.storage import LocalStore

    df = spark.createDataFrame(reviews(400, 0), ["review", "sentiment"]).cache()
    fresh_names()
    am = HyperHyperModel(inputs=ak.TextInput(), outputs=ak.ClassificationHead(),
                         overwrite=True, seed=3, project_name="text")
    store = LocalStore(str(tmp_path_factory.mktemp("text") / "store"))
    bind(am, spark, store, ["review"], ["sentiment"])
    hp = kt.HyperParameters()
    hp.Fixed("text_block_1/embedding_1/embedding_dim", 16)
    hp.Fixed("text_block_1/conv_block_1/num_blocks", 1)
    hp.Fixed("text_block_1/conv_block_1/num_layers", 1)
    hp.Fixed("text_block_1/conv_block_1/filters_0_0", 16)
    hp.Fixed("text_block_1/dense_block_1/num_layers", 1)
    hp.Fixed("text_block_1/dense_block_1/units_0", 16)
    hp.Choice("text_block_1/spatial_reduction_1/reduction_type", ["global_max", "global_avg"])
    hp.Fixed("learning_rate", 0.005)
    am.tuner_bind("greedy", hyperparameters=hp, objective="val_accuracy", max_trials=2)
    result = am.fit(df, epochs=3, input_shape=(LENGTH,), batch_size=16)
    return dict(am=am, result=result, df=df, store=store)


@pytest.mark.slow
def test_text_search_learns_from_token_ids(text_search):
    am, result = text_search["am"], text_search["result"]
    assert len(result.get_all_model_history()) == 2
    assert result.get_best_model().history["val_accuracy"][-1] >= 0.9
    model = am.export_model()
    assert tuple(model.inputs[0].shape[1:]) == (LENGTH,)
    assert "int" in str(model.inputs[0].dtype)
    # The TextBlock's embedding is sized to the ids (500 words + pad + OOV at most).
    emb = next(layer for layer in model.layers if type(layer).__name__ == "Embedding")
    assert emb.input_dim == 501


@pytest.mark.slow
def test_predict_on_raw_strings_numpy_and_dataframe_agree(text_search, spark):
    am = text_search["am"]
    fresh = reviews(60, 7)
    texts = [t for t, _ in fresh]
    labels = np.array([lab for _, lab in fresh], dtype=object)
    got = am.predict(texts)
    assert (got == labels).mean() >= 0.9
    df = spark.createDataFrame(fresh, ["review", "sentiment"])
    rows = am.predict(df).collect()
    assert [r["sentiment__class"] for r in rows] == list(got)
    metrics = am.evaluate(df)
    assert metrics["accuracy"] == pytest.approx((got == labels).mean(), abs=1e-6)


@pytest.mark.slow
def test_exported_model_plus_saved_encoding_reproduce_predict(text_search, tmp_path):
    """What is saved beside the model (the dataset record's text encoding) is enough."""
    from cerebro.data import load_dataset_info
    from cerebro.data.text import TextEncoding
    from cerebro.nas.predict import export_preprocessing

    am, store = text_search["am"], text_search["store"]
    doc = json.loads(json.dumps(export_preprocessing(am._fitted)))
    assert doc["inputs"][0]["column"] == "review" and doc["inputs"][0]["kind"] == "text"
    record = load_dataset_info(store, doc["dataset"])
    assert record.text["review"] == doc["inputs"][0]["text"]
    enc = TextEncoding.from_json(doc["inputs"][0]["text"])
    texts = [t for t, _ in reviews(20, 9)]
    probs = am.export_model().predict(enc.encode(texts), verbose=0).reshape(-1)
    classes = np.where(probs > 0.5, "pos", "neg")
    assert list(classes) == list(am.predict(texts))


def test_block_that_cannot_read_token_ids_is_refused():
    import autokeras as ak

    from cerebro.nas.hphpmodel import HyperHyperModel

    fresh_names()
    inp = ak.TextInput()
    out = ak.ClassificationHead()(ak.ConvBlock()(inp))
    with pytest.raises(ValueError, match="ConvBlock cannot read a TextInput.*TextBlock"):
        HyperHyperModel(inputs=inp, outputs=out)


def test_text_input_on_a_numeric_column_is_refused(spark, store):
    import autokeras as ak

    from cerebro.nas.hphpmodel import HyperHyperModel

    fresh_names()
    df = spark.createDataFrame([(float(i), i % 2) for i in range(20)], ["x", "y"])
    am = HyperHyperModel(inputs=ak.TextInput(), outputs=ak.ClassificationHead())
    bind(am, spark, store, ["x"], ["y"])
    with pytest.raises(TypeError, match="text column 'x' has Spark type double"):
        am.fit(df, epochs=1)
    assert store.listdir(store.runs_key()) == []
