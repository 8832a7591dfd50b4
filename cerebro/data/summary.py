"""The ``DatasetInfo`` of a written dataset, from the summaries its write tasks return."""

from __future__ import annotations

from cerebro._logging import get_logger
from cerebro.data import text as text_mod
from cerebro.data.metadata import ARRAY, IMAGE, ColumnInfo, DatasetInfo, SplitInfo
from cerebro.data.writer import part_name

log = get_logger("data")


def dataset_info(fp, summaries, columns, features, labels, num_partitions, images,
                 encodings, store, weight_column=None) -> DatasetInfo:
    """The record of a written dataset, from its write tasks' summaries (rows per shard and
    split, image sizes, text statistics).

    Raises:
        ValueError: the validation split took every row, or none.
    """
    rows = {s: [0] * num_partitions for s in ("train", "val")}
    stats: list[dict] = []
    for s in summaries:
        for split in rows:
            rows[split][s["partition"]] = s["rows"][split]
        stats.append(s.get("stats", {}))
    total = {s: sum(r) for s, r in rows.items()}
    if total["train"] == 0:
        raise ValueError(f"the validation split took all {total['val']} rows; no training rows "
                         "are left")
    if total["val"] == 0:
        raise ValueError("the validation split left no validation rows")
    out = dict(columns)
    for c, info in columns.items():
        if info.kind == IMAGE:
            out[c] = _image_column(info, images.get(c), [st.get(c, {}) for st in stats])
        elif c in encodings:
            out[c] = ColumnInfo(c, ARRAY, encodings[c].sequence_length, info.source_type, "int32")
            _log_text(c, encodings[c], [st.get(c, {}) for st in stats])

    def split(name: str) -> SplitInfo:
        key = store.shards_key(name, fp)
        shards = tuple((f"{key}/{part_name(p)}",) if n else () for p, n in enumerate(rows[name]))
        return SplitInfo(shards, tuple(rows[name]))

    return DatasetInfo(out, num_partitions, split("train"), split("val"), tuple(features),
                       tuple(labels), fp, {c: e.to_json() for c, e in encodings.items()},
                       weight_column)


def _image_column(info: ColumnInfo, wanted, stats: list[dict]) -> ColumnInfo:
    seen = [s for s in stats if s.get("rows")]
    first = seen[0]["first"]
    shape = tuple(int(v) for v in wanted) if wanted is not None else tuple(first)
    if len(shape) == 2:
        shape = shape + (int(first[2]),)
    h_lo, h_hi = min(s["h"][0] for s in seen), max(s["h"][1] for s in seen)
    w_lo, w_hi = min(s["w"][0] for s in seen), max(s["w"][1] for s in seen)
    if (h_lo, h_hi, w_lo, w_hi) != (shape[0], shape[0], shape[1], shape[1]):
        log.info("image column %r: images from %dx%d to %dx%d are resized (bilinear, "
                 "stretched) to %dx%d when decoded", info.name, h_lo, w_lo, h_hi, w_hi,
                 shape[0], shape[1])
    h, w, c = shape
    return ColumnInfo(info.name, IMAGE, h * w * c, info.source_type, "uint8", (h, w, c))


def _log_text(column: str, enc: text_mod.TextEncoding, stats: list[dict]) -> None:
    rows = sum(s.get("rows", 0) for s in stats) or 1
    tokens = sum(s.get("tokens", 0) for s in stats) or 1
    log.info("text column %r: %d-word vocabulary, %d ids per row; %.1f%% of rows truncated, "
             "%.1f%% of kept tokens out of the vocabulary", column, len(enc.vocabulary),
             enc.sequence_length, 100 * sum(s.get("truncated", 0) for s in stats) / rows,
             100 * sum(s.get("oov", 0) for s in stats) / tokens)
