"""Plain sequential AutoKeras on the seed walk-through's data and space (the honest run's
baseline): the same LIBSVM file, an 80/20 split (numpy, seed 100; Spark's ``randomSplit``
rows differ but the sizes match), 20% of those for validation as cerebro's default
validation fraction, the same graph and hyperparameters (only ``learning_rate`` fixed)."""

from __future__ import annotations

import os

import numpy as np

from benchmarks import workloads
from benchmarks.systems._harness import main
from benchmarks.systems.seed_walkthrough import seed_graph, seed_hyperparameters


def load(path: str):
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(path, n_features=784)
    x = np.asarray(x.todense(), dtype=np.float32).reshape(-1, 28, 28, 1)
    keep = np.random.default_rng(100).random(len(x)) < 0.8
    return x[keep], y[keep].astype(np.int64)


def run(spec: dict, marks) -> dict:
    import autokeras as ak
    import keras
    import torch

    marks("autokeras_imported")
    wl = spec["workload"]
    x, y = load(wl["data"]["libsvm"])
    # cerebro's default validation: 20% of the training rows. Given as validation_data so
    # that the never-firing EarlyStopping skips AutoKeras's final refit.
    val = np.random.default_rng(wl["seed"]).random(len(x)) < 0.2
    marks("data_loaded")
    inp, out = seed_graph(wl)
    am = ak.AutoModel(inputs=inp, outputs=out, tuner=wl.get("tuner", "greedy"),
                      objective="val_accuracy", max_trials=wl["trials"], seed=wl["seed"],
                      overwrite=True, directory=os.path.join(spec["work_dir"], "ak"),
                      project_name="search", hyperparameters=seed_hyperparameters(wl))
    never = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10**6)  # no final refit
    marks("fit_called")
    am.fit(x[~val], y[~val], validation_data=(x[val], y[val]), epochs=wl["epochs"],
           batch_size=wl["batch_size"],
           callbacks=[never, workloads.EpochLog(spec["epoch_log"]).keras_callback()], verbose=0)
    marks("fit_returned")
    return {"torch_threads": torch.get_num_threads(),
            "trials": workloads.oracle_trials(am.tuner.oracle)}


if __name__ == "__main__":
    main(run)
