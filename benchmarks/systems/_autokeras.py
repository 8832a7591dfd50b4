"""The AutoKeras search both baselines run: same graph, constraints, seed, budget, batch size.

A never-firing ``EarlyStopping`` is passed so that AutoKeras skips its final refit (with an
EarlyStopping in the callbacks, ``validation_data`` and ``epochs`` given, ``AutoTuner.search``
does no final fit) and every system trains exactly trials x epochs.
"""

from __future__ import annotations

from benchmarks import workloads


def search(spec: dict, marks, directory: str, overwrite: bool):
    """Loads all the data into this process and runs ``AutoModel.fit``.

    Returns the ``AutoModel`` and the bytes of data this process holds (train + val).
    """
    import autokeras as ak
    import keras

    marks("autokeras_imported")
    wl = spec["workload"]
    (x, y), (xv, yv) = workloads.load_numpy(wl)
    marks("data_loaded")
    inp, out = workloads.graph(wl)
    am = ak.AutoModel(inputs=inp, outputs=out, tuner=wl.get("tuner", "greedy"), objective="val_accuracy",
                      max_trials=wl["trials"], seed=wl["seed"], overwrite=overwrite,
                      directory=directory, project_name="search",
                      hyperparameters=workloads.hyperparameters(wl))
    never = keras.callbacks.EarlyStopping(monitor="val_loss", patience=10**6)
    callbacks = [never, workloads.EpochLog(spec["epoch_log"]).keras_callback()]
    marks("fit_called")
    am.fit(x, y, validation_data=(xv, yv), epochs=wl["epochs"], batch_size=wl["batch_size"],
           callbacks=callbacks, verbose=0)
    marks("fit_returned")
    return am, int(x.nbytes + y.nbytes + xv.nbytes + yv.nbytes)
