"""System (c): the same AutoKeras search in KerasTuner's distributed (task-parallel) mode.

One process per role, set by ``KERASTUNER_TUNER_ID``: ``chief`` serves the oracle over gRPC,
``tuner0``, ``tuner1``, ... train whole trials, one thread each. Every process loads all
the data (AutoKeras needs it in the chief too, to configure the graph).
"""

from __future__ import annotations

import os

from benchmarks import workloads
from benchmarks.systems import _autokeras
from benchmarks.systems._harness import main


def run(spec: dict, marks) -> dict:
    import torch

    torch.set_num_threads(1)
    role = os.environ["KERASTUNER_TUNER_ID"]
    # A fresh shared directory (the orchestrator makes it); overwrite=False so that no
    # process deletes what another one is writing.
    am, data_bytes = _autokeras.search(spec, marks, spec["shared_dir"], overwrite=False)
    out = {"role": role, "data_bytes": data_bytes}
    if role == "chief":
        out["trials"] = workloads.oracle_trials(am.tuner.oracle)
    return out


if __name__ == "__main__":
    main(run)
