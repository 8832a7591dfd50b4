"""Small datasets are written by the driver: one Arrow collect, no Python task.

Spark writes the shards of ``prepare_data`` from its tasks (``writer.write_partition``
through ``mapInArrow``), which needs a Python worker on an executor. On a small dataset
(the seed's MNIST: 5,000 rows x 784 values) that worker's start costs more than the write:
on a local master it forks from the daemon that is importing torch and Keras for the
search's workers at that very moment, and its first job waits for it. Here the driver
collects the prepared columns as Arrow (``DataFrame.toArrow``: converted on the JVM side,
no Python task) and writes the same shards with the same code (``writer.write_rows``);
each split's rows are dealt out to the partitions in turn.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from cerebro.data.metadata import ARRAY, SCALAR, ColumnInfo
from cerebro.data.writer import WritePlan, write_rows

DRIVER_WRITE_BYTES = 64 << 20  # at most this much collected (8 bytes a value, as Spark ships)
BATCH_ROWS = 4096


def collected_bytes(rows: int, columns: dict[str, ColumnInfo]) -> Optional[int]:
    """Bytes the driver would collect (8 per value, the flag included), or ``None`` where a
    column is not plain numbers (images, text: their tasks decode or tokenize)."""
    if any(info.kind not in (SCALAR, ARRAY) for info in columns.values()):
        return None
    return rows * (8 * sum(max(1, info.length) for info in columns.values()) + 1)


def write_here(plan: WritePlan, selected: Any, num_partitions: int) -> list[dict[str, Any]]:
    """Collects ``selected`` (the prepared columns and the validation flag) and writes each
    partition's shards from the driver; returns the summaries, by partition."""
    import pyarrow as pa

    table = selected.toArrow()
    is_val = table.column(plan.flag).fill_null(False).to_numpy(zero_copy_only=False)
    split_rows = [np.flatnonzero(~is_val), np.flatnonzero(is_val)]
    out = []
    for p in range(num_partitions):  # each split's rows dealt out in turn
        rows = np.sort(np.concatenate([r[p::num_partitions] for r in split_rows]))
        part = table.take(pa.array(rows))
        out.append(write_rows(plan, p, part.to_batches(max_chunksize=BATCH_ROWS)))
    return out
