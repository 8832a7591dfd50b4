"""What every system process shares: its spec in, its result out, wall-clock marks."""

from __future__ import annotations

import json
import os
import sys
import time
import traceback


class Marks(dict):
    """Named wall-clock instants (``time.time()``), relative to the orchestrator's launch."""

    def __init__(self, t_launch: float):
        super().__init__()
        self.t_launch = t_launch

    def __call__(self, name: str) -> None:
        self[name] = round(time.time() - self.t_launch, 3)


def main(run) -> None:
    """``python -m benchmarks.systems.X SPEC OUT``: runs ``run(spec, marks) -> dict``."""
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path) as f:
        spec = json.load(f)
    os.environ.setdefault("KERAS_BACKEND", "torch")
    marks = Marks(spec["t_launch"])
    marks("python_started")
    result = {"ok": True}
    try:
        result.update(run(spec, marks) or {})
    except BaseException as e:  # noqa: BLE001 - recorded for the report, then re-raised
        result.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc())
        raise
    finally:
        marks("done")
        result["marks"] = dict(marks)
        with open(out_path + ".tmp", "w") as f:
            json.dump(result, f, indent=1, default=str)
        os.replace(out_path + ".tmp", out_path)
