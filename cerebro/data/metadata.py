"""What ``prepare_data`` wrote: columns, shards and row counts, as a plain JSON record."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

SCALAR = "scalar"
ARRAY = "array"
IMAGE = "image"  # encoded image bytes (JPEG/PNG), decoded on the worker per batch


@dataclasses.dataclass(frozen=True)
class ColumnInfo:
    """One prepared column.

    Attributes:
        name: Column name in the prepared Parquet files.
        kind: ``"scalar"`` (one number per row), ``"array"`` (fixed-length vector) or
            ``"image"`` (encoded image bytes, decoded on the worker to ``image_shape``).
        length: Number of values per row (1 for scalars; the decoded size for images).
        source_type: The Spark type the user's DataFrame had (for messages).
        dtype: The numpy dtype of the stored values (``"float32"``, ``"uint8"``,
            ``"int32"``, ...): workers keep it and cast each batch, not the shard.
        image_shape: ``(height, width, channels)`` an image column decodes to.
    """

    name: str
    kind: str
    length: int
    source_type: str = ""
    dtype: str = "float32"
    image_shape: Optional[tuple[int, int, int]] = None


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    """One split (train or val): the store key of each shard and its row count.

    ``shards[p]`` lists the Parquet files (store keys) of partition ``p``; worker ``p``
    reads exactly those and nothing else.
    """

    shards: tuple[tuple[str, ...], ...]
    rows: tuple[int, ...]

    @property
    def total_rows(self) -> int:
        return int(sum(self.rows))


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """The prepared dataset: columns, the number of partitions and the two splits.

    Attributes:
        fingerprint: The content address of the dataset in the store: a hash of the source
            DataFrame's content and of the preparation settings.
        text: For each text column (now int32 ids): its ``TextEncoding`` as JSON, which
            says how to tokenize raw strings the same way (``cerebro.data.text``).
        weight_column: The column of per-row sample weights prepared with it, or ``None``.
        reused: This ``prepare_data`` call found the dataset already in the store and wrote
            nothing (not saved).
    """

    columns: dict[str, ColumnInfo]
    num_partitions: int
    train: SplitInfo
    val: SplitInfo
    feature_columns: tuple[str, ...] = ()
    label_columns: tuple[str, ...] = ()
    fingerprint: str = ""
    text: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    weight_column: Optional[str] = None
    reused: bool = dataclasses.field(default=False, compare=False)

    def column(self, name: str) -> ColumnInfo:
        if name not in self.columns:
            raise ValueError(
                f"column {name!r} is not in the prepared data; it has {sorted(self.columns)}"
            )
        return self.columns[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "columns": {k: dataclasses.asdict(v) for k, v in self.columns.items()},
            "num_partitions": self.num_partitions,
            "train": {"shards": [list(s) for s in self.train.shards], "rows": list(self.train.rows)},
            "val": {"shards": [list(s) for s in self.val.shards], "rows": list(self.val.rows)},
            "feature_columns": list(self.feature_columns),
            "label_columns": list(self.label_columns),
            "fingerprint": self.fingerprint,
            "text": self.text,
            "weight_column": self.weight_column,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "DatasetInfo":
        def split(s: dict[str, Any]) -> SplitInfo:
            return SplitInfo(tuple(tuple(x) for x in s["shards"]), tuple(int(r) for r in s["rows"]))

        return cls(
            columns={k: _column(v) for k, v in d["columns"].items()},
            num_partitions=int(d["num_partitions"]),
            train=split(d["train"]),
            val=split(d["val"]),
            feature_columns=tuple(d.get("feature_columns", ())),
            label_columns=tuple(d.get("label_columns", ())),
            fingerprint=d.get("fingerprint", ""),
            text=dict(d.get("text", {})),
            weight_column=d.get("weight_column"),
        )


def _column(d: dict[str, Any]) -> ColumnInfo:
    shape = d.get("image_shape")
    return ColumnInfo(**{**d, "image_shape": tuple(shape) if shape else None})
