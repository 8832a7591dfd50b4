"""System (b): plain AutoKeras ``AutoModel``, sequential, in one process (torch uses all cores)."""

from __future__ import annotations

import os

from benchmarks import workloads
from benchmarks.systems import _autokeras
from benchmarks.systems._harness import main


def run(spec: dict, marks) -> dict:
    am, data_bytes = _autokeras.search(spec, marks, os.path.join(spec["work_dir"], "ak"),
                                       overwrite=True)
    import torch

    return {"torch_threads": torch.get_num_threads(), "data_bytes": data_bytes,
            "trials": workloads.oracle_trials(am.tuner.oracle)}


if __name__ == "__main__":
    main(run)
