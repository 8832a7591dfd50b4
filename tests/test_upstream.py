"""What cerebro/_upstream.py relies on in other libraries still holds (fails if upstream
changes), and the public APIs used instead of internals behave as assumed."""

from __future__ import annotations


def test_autokeras_graph_metrics_per_head():
    import autokeras as ak
    from autokeras import graph as graph_module

    from cerebro._upstream import graph_metrics

    inp = ak.Input()
    head = ak.ClassificationHead(metrics=["accuracy"])
    graph = graph_module.Graph(inputs=[inp], outputs=[head(ak.DenseBlock()(inp))])
    assert graph_metrics(graph) == {head.name: ["accuracy"]}


def test_spark_concurrent_task_slots(spark):
    from cerebro._upstream import spark_concurrent_task_slots

    slots = spark_concurrent_task_slots(spark.sparkContext)
    assert isinstance(slots, int) and slots >= 1


def test_hyperopt_trials_are_live_documents():
    """TPESearch marks a suggested point done by editing the document ``Trials.trials``
    returns (public), then ``refresh()``."""
    from hyperopt import JOB_STATE_DONE, STATUS_OK, Trials, hp, tpe
    from hyperopt.base import Domain

    trials = Trials()
    domain = Domain(lambda p: 0.0, {"x": hp.uniform("x", 0, 1)})
    tid = trials.new_trial_ids(1)[0]
    trials.insert_trial_docs(tpe.suggest([tid], domain, trials, 1))
    trials.refresh()
    (doc,) = [d for d in trials.trials if d["tid"] == tid]
    doc["state"], doc["result"] = JOB_STATE_DONE, {"loss": 0.5, "status": STATUS_OK}
    trials.refresh()
    assert trials.losses() == [0.5]


def test_spark_progress_bar_can_be_found_and_stopped(spark):
    from cerebro._upstream import stop_spark_progress_bar

    bar = spark.sparkContext._jsc.sc().progressBar()  # what the helper relies on
    had_bar = bool(bar.isDefined())
    assert stop_spark_progress_bar(spark.sparkContext) is had_bar


def test_spark_live_conf_is_the_drivers_own(spark):
    """A setting made on it is what the running context reads (``getConf()`` is a copy)."""
    from cerebro._upstream import spark_live_conf

    sc, key = spark.sparkContext, "spark.cerebro.test.liveConf"
    live = spark_live_conf(sc)
    sc.getConf().set(key, "copy")  # a copy: changes nothing
    assert not live.contains(key)
    live.set(key, "live")
    try:
        assert sc.getConf().get(key) == "live"
    finally:
        live.remove(key)


def test_oracle_random_values_draws_untried_values():
    import keras_tuner as kt

    from cerebro._upstream import oracle_random_values

    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Boolean("b")
    oracle = kt.oracles.RandomSearchOracle(max_trials=5, hyperparameters=hp, seed=0)
    values = oracle_random_values(oracle)
    assert values is not None and values["a"] in (1, 2, 3) and values["b"] in (True, False)


def test_adapt_preprocessing_adapts_normalization():
    import keras
    import numpy as np

    from cerebro._upstream import adapt_preprocessing

    x = np.random.default_rng(0).normal(5.0, 2.0, (64, 3)).astype("float32")
    inp = keras.Input((3,))
    norm = keras.layers.Normalization()
    model = keras.Model(inp, keras.layers.Dense(1)(norm(inp)))
    adapt_preprocessing(model, [x])
    np.testing.assert_allclose(np.ravel(norm.mean), x.mean(axis=0), rtol=1e-4)


def test_serve_values_first_hands_queued_values_to_create_trial(tmp_path):
    import keras_tuner as kt

    from cerebro._upstream import serve_values_first

    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3, 4, 5, 6, 7, 8], default=1)
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("loss", "min"), max_trials=5,
                                           hyperparameters=hp, seed=0)
    kt.engine.base_tuner.BaseTuner(oracle, hypermodel=lambda hp: None, directory=str(tmp_path),
                                   project_name="p", overwrite=True)
    oracle.verbose = 0
    queued = [{"a": 7}]
    serve_values_first(oracle, queued)
    assert oracle.create_trial("t0").hyperparameters.values == {"a": 7}
    assert queued == [] and str(oracle.create_trial("t1").status) == "RUNNING"


def test_modules_hidden_keras_imports_without_them(tmp_path):
    """Keras still imports (and treats them as absent) with sklearn/matplotlib/pandas hidden;
    they stay importable afterwards. In a fresh interpreter: this one imported them."""
    import subprocess
    import sys

    code = ("import sys\n"
            "from cerebro._upstream import NOT_FOR_WORKERS, modules_hidden\n"
            "with modules_hidden(NOT_FOR_WORKERS) as hidden:\n"
            "    import keras\n"
            "    try:\n"
            "        import pandas  # noqa\n"
            "        raise SystemExit('pandas was not hidden')\n"
            "    except ImportError:\n"
            "        pass\n"
            "assert hidden == list(NOT_FOR_WORKERS), hidden\n"
            "assert not any(m in sys.modules for m in NOT_FOR_WORKERS), 'imported'\n"
            "import pandas  # noqa\n"
            "print('ok', keras.backend.backend())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-2000:]


def test_keras_tuner_skips_building_without_a_hypermodel(tmp_path):
    """``SparkTuner`` gives KerasTuner no hypermodel, so its constructor does not build the
    (not yet configured) graph to find the space (public: ``BaseTuner(hypermodel=None)``
    with ``run_trial`` overridden)."""
    import keras_tuner as kt

    from cerebro.nas.tuner import SparkTuner

    class Unbuildable:
        def build(self, hp):
            raise AssertionError("built at construction")

    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("loss", "min"), max_trials=1)
    tuner = SparkTuner(oracle, Unbuildable(), str(tmp_path), "p", overwrite=True)
    assert tuner.hypermodel is None and isinstance(tuner.graph, Unbuildable)
    assert oracle.get_space().space == []
    tuner.search_space_summary()  # KerasTuner's public summaries still work


# -- no private reach-in outside cerebro/_upstream.py ---------------------------------------------
PRIVATE_NAMES = {"_jsc", "_tried_initial_hps", "_random_values", "_populate_initial_space",
                 "AutoTuner"}


def private_reach_ins(path) -> list[str]:
    """``line: what`` for each private name (or ``sys.modules[``) in ``path``'s code, comments
    and docstrings ignored (a string that *is* one of the names counts: ``getattr(x, "...")``)."""
    import ast
    import io
    import tokenize

    found = []
    toks = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                              tokenize.INDENT, tokenize.DEDENT)]
    for i, t in enumerate(toks):
        if t.type == tokenize.NAME and t.string in PRIVATE_NAMES:
            found.append(f"{t.start[0]}: {t.string}")
        elif t.type == tokenize.STRING:
            try:
                value = ast.literal_eval(t.string)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str) and value.strip() in PRIVATE_NAMES:
                found.append(f"{t.start[0]}: {value!r}")
        elif t.string == "sys" and [x.string for x in toks[i + 1:i + 4]] == [".", "modules", "["]:
            found.append(f"{t.start[0]}: sys.modules[")
    return found


def test_no_private_reach_in_outside_upstream():
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    problems = [f"{p.relative_to(root)}:{hit}"
                for d in ("cerebro", "benchmarks") for p in sorted((root / d).rglob("*.py"))
                if p.name != "_upstream.py" or p.parent.name != "cerebro"
                for hit in private_reach_ins(p)]
    assert not problems, "private upstream names outside cerebro/_upstream.py:\n" + \
        "\n".join(problems)


def test_the_reach_in_check_sees_code_not_comments(tmp_path):
    sample = tmp_path / "m.py"
    sample.write_text('"""Mentions _jsc and AutoTuner in a docstring."""\n'
                      "import sys  # sys.modules[x] = None in a comment\n"
                      "a = sc._jsc\n"
                      "b = getattr(o, '_tried_initial_hps')\n"
                      "sys.modules ['x'] = None\n")
    assert private_reach_ins(sample) == ["3: _jsc", "4: '_tried_initial_hps'",
                                         "5: sys.modules["]


def test_keras_weighted_metric_names_are_the_weighted_results():
    """The names ``weighted_metric_names`` gives are exactly the results Keras computes with
    the sample weights (a clashing name gets Keras's ``weighted_`` prefix)."""
    import keras
    import numpy as np

    from cerebro._upstream import weighted_metric_names

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 3)).astype("float32"), rng.integers(0, 2, 64)
    w = rng.choice([0.0, 1.0, 4.0], size=64).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy", keras.metrics.SparseCategoricalCrossentropy(
                      name="xent")])
    assert weighted_metric_names(model) == frozenset()  # not built before its first use
    got = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    names = weighted_metric_names(model)
    assert names == {"weighted_accuracy", "xent"}
    hit = (np.argmax(model.predict(x, verbose=0), axis=1) == y).astype("float64")
    np.testing.assert_allclose(got["weighted_accuracy"], (hit * w).sum() / w.sum(), rtol=1e-5)
    np.testing.assert_allclose(got["accuracy"], hit.mean(), rtol=1e-5)
    assert set(got) == {"loss", "accuracy"} | names  # result() was left as it was
