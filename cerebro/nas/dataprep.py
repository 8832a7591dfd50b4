"""A NAS search's data: check the DataFrame, write the shards, configure the graph from them.

Everything here happens once per ``fit`` before any trial is built: the columns are checked
against the graph's inputs and heads (one Spark job, which also collects the class labels),
the labels are encoded, the data is written to the store as one shard per worker, and
AutoKeras's analysers see a bounded sample of it.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from cerebro.data.columns import Inspection, inspect_dataframe
from cerebro.data.metadata import ARRAY, IMAGE, SCALAR, ColumnInfo, DatasetInfo
from cerebro.data.prepare import one_pass, prepare_data
from cerebro.data.text import TextSettings
from cerebro.engine.phases import Phases
from cerebro.keras.inference import IMAGE as IMAGE_INPUT
from cerebro.keras.inference import NUMERIC, TEXT, InputSpec
from cerebro.nas import analysis, schema
from cerebro.wire import ModelIO

VALIDATION_FLAG = "__cerebro_validation"


@dataclasses.dataclass
class NasData:
    """The prepared data of one search and how the trials' models read it.

    Attributes:
        info: The prepared dataset (shards in the store).
        groups: The user's feature columns, grouped per input node.
        shapes: Per-row shape of each input.
        targets: How each head's label column is fed.
        feature_columns / label_columns: The prepared columns the models read.
        sample_inputs: A bounded sample of each input, shaped like the model's inputs.
        inputs: How inference reads each input from a DataFrame or numpy (image decoding,
            the text encoding): ``FittedSearch.inputs``.
        weight_column: The column of per-row sample weights, or ``None``.
    """

    info: DatasetInfo
    groups: list[list[str]]
    shapes: list[tuple[int, ...]]
    targets: list[analysis.HeadTarget]
    feature_columns: list[str]
    label_columns: list[str]
    sample_inputs: list[np.ndarray]
    inputs: list[InputSpec] = dataclasses.field(default_factory=list)
    weight_column: Optional[str] = None

    @property
    def io(self) -> ModelIO:
        return ModelIO(tuple(self.feature_columns), tuple(self.label_columns),
                       tuple(tuple(s) for s in self.shapes),
                       tuple(t.shape for t in self.targets),
                       tuple(t.encoding for t in self.targets), self.weight_column)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns each worker loads."""
        weight = [self.weight_column] if self.weight_column else []
        return tuple(dict.fromkeys(self.feature_columns + self.label_columns + weight))


def prepare(am: Any, df: Any, epochs: int, input_shape: Any, batch_size: int,
            validation_df: Any = None, phases: Optional[Phases] = None) -> NasData:
    """Checks ``df`` against ``am``'s graph, writes the shards and configures the graph.

    A rerun with the same DataFrame and settings on the same store reuses the shards
    (``prepare_data``'s fingerprint); the graph is configured from them all the same. The
    user's plan is computed once for all the Spark jobs (``cerebro.data.prepare.one_pass``).

    Args:
        am: A bound ``HyperHyperModel`` (its graph, inputs, heads, columns, store, backend).
        df: The training DataFrame.
        epochs / batch_size: Given to AutoKeras's graph (its fit arguments).
        input_shape: The user's per-row shape(s); for a ``TextInput``, ``(sequence_length,)``.
        validation_df: Explicit validation rows, else ``am``'s ``validation`` setting.
        phases: Marks ``data_inspected``, ``data_written`` and ``data_prepared`` there.
    """
    phases = phases or Phases()
    df, val_col = _with_validation_df(df, validation_df)
    with one_pass(df):  # the user's plan is computed once, for all the jobs below
        w = _inspect_and_write(am, df, val_col, input_shape, phases)
    info, feature_cols, text_cols, targets = w.info, w.feature_cols, w.text_cols, w.targets
    shapes = [_known(s, c) for c, s in zip(feature_cols, schema.resolve_input_shapes(
        am.inputs, [[c] for c in feature_cols], info.columns, dict(zip(feature_cols, w.given))))]
    sample = analysis.bounded_sample(am.resources.store, info, feature_cols, am.seed or 0)
    sample_inputs = [model_input(sample[c], s, c in text_cols)
                     for c, s in zip(feature_cols, shapes)]
    _configure_graph(am, shapes, targets, sample_inputs, info.train.total_rows, batch_size,
                     epochs, w.vocabulary)
    phases.mark("data_prepared")
    specs = [InputSpec(c, s, TEXT if c in info.text else IMAGE_INPUT
                       if info.columns[c].kind == IMAGE else NUMERIC, info.text.get(c))
             for c, s in zip(feature_cols, shapes)]
    return NasData(info, w.groups, shapes, targets, feature_cols, w.label_cols, sample_inputs,
                   specs, am.resources.sample_weight_col)


@dataclasses.dataclass(frozen=True)
class _Written:
    """What the Spark side of ``prepare`` found and wrote."""

    info: DatasetInfo
    groups: list[list[str]]
    feature_cols: list[str]
    label_cols: list[str]
    given: list[Optional[tuple[int, ...]]]
    targets: list[analysis.HeadTarget]
    text_cols: list[str]
    vocabulary: int


def _inspect_and_write(am: Any, df: Any, val_col: Optional[str], input_shape: Any,
                       phases: Phases) -> _Written:
    """The Spark side of ``prepare``: one inspection job, then the write (or the reuse)."""
    res = am.resources
    backend, store = res.backend, res.store
    validation = val_col or res.validation
    groups = schema.input_groups(am.inputs, res.feature_columns)
    class_cols = [col for head, col in zip(am.heads, res.label_columns)
                  if type(head).__name__ == "ClassificationHead"]
    text_cols = [g[0] for node, g in zip(am.inputs, groups) if _is_text(node)]
    found = inspect_dataframe(df, res.feature_columns, res.label_columns, class_cols,
                              max_classes=analysis.MAX_CLASSES, text_columns=text_cols,
                              extra_columns=[validation] if isinstance(validation, str) else [],
                              weight_column=res.sample_weight_col)
    phases.mark("data_inspected")
    columns = found.columns
    given = schema.resolve_input_shapes(am.inputs, groups, columns, input_shape)
    targets = [analysis.classification_target(col, columns[col], found.classes.get(col))
               if col in class_cols else analysis.regression_target(col, columns[col])
               for col in res.label_columns]
    feature_cols = [feature_column(g) for g in groups]
    images = {c: s for c, s in zip(feature_cols, given) if columns.get(c) is not None
              and columns[c].kind == IMAGE}
    vocabulary = schema.text_vocabulary_size(am.graph)
    text = {c: TextSettings(sequence_length=_known(s, c)[0], vocabulary_size=vocabulary)
            for c, s in zip(feature_cols, given) if c in text_cols}
    prepared = stack_columns(analysis.add_class_index_columns(df, targets), groups)
    label_cols = [t.column for t in targets]
    weight = res.sample_weight_col
    prepared_columns = _prepared_columns(columns, groups, targets)
    if weight:
        prepared_columns[weight] = columns[weight]
    inspected = Inspection(found.rows, prepared_columns, {}, found.content)
    info = prepare_data(store, prepared, feature_cols, label_cols, backend.num_workers,
                        validation=validation, seed=am.seed or 0, inspected=inspected,
                        images=images, text=text, weight_column=weight)
    phases.mark("data_written")
    return _Written(info, groups, feature_cols, label_cols, list(given), targets, text_cols,
                    vocabulary)


def _known(shape: Optional[tuple[int, ...]], column: str) -> tuple[int, ...]:
    """A shape the data resolved (every prepared column has one)."""
    if shape is None:
        raise ValueError(f"the row shape of input column {column!r} is unknown: give "
                         "fit(input_shape=...)")
    return tuple(shape)


def _is_text(node: Any) -> bool:
    import autokeras as ak

    return isinstance(node, ak.TextInput)


def model_input(values: np.ndarray, shape: Any, is_text: bool) -> np.ndarray:
    """A sample column as the model reads it: int32 token ids, or float32 values."""
    return values.astype(np.int32 if is_text else np.float32, copy=False).reshape(
        (-1,) + tuple(shape))


def _with_validation_df(df: Any, validation_df: Any) -> tuple[Any, Optional[str]]:
    from pyspark.sql import functions as F

    if validation_df is None:
        return df, None
    return (df.withColumn(VALIDATION_FLAG, F.lit(False))
            .unionByName(validation_df.withColumn(VALIDATION_FLAG, F.lit(True)))), VALIDATION_FLAG


def _configure_graph(am: Any, shapes: Any, targets: Any, sample_inputs: Any, rows: int, batch_size: int,
                     epochs: int, text_ids: int) -> None:
    """Runs AutoKeras's analysers on the sample / label summary and sets the I/O shapes.

    A ``TextInput``'s analyser expects raw strings; its input is token ids, whose shape is
    all it needs (set below), so that analyser is not run. A ``TextBlock`` without
    ``max_tokens`` gets the vocabulary's size (``text_ids`` distinct ids) instead of
    searching larger, never-used embeddings.
    """
    for block in am.graph.blocks:
        if type(block).__name__ == "TextBlock" and getattr(block, "max_tokens", None) is None:
            # Ids stop below the vocabulary size: a larger embedding would never be indexed.
            block.max_tokens = text_ids - 1
    for node, sample in zip(am.inputs, sample_inputs):
        if _is_text(node):
            continue
        analyser = node.get_analyser()
        analyser.update(sample)
        analyser.finalize()
        node.config_from_analyser(analyser)
    for head, target in zip(am.heads, targets):
        analyser = head.get_analyser()
        analyser.update(target.analyser_sample())
        analyser.finalize()
        head.config_from_analyser(analyser)
    for node, shape in zip(am.graph.inputs, shapes):  # what Graph.set_io_shapes does
        node.shape = tuple(shape)
    for node, target in zip(am.graph.outputs, targets):
        node.in_blocks[0].shape = tuple(target.shape)
    first = am.inputs[0]
    first.num_samples, first.batch_size = rows, batch_size
    am.graph.set_fit_args(0, epochs=epochs)


def feature_column(group: Any) -> str:
    """The prepared column of one input: the user's column, or the stacked scalars."""
    return group[0] if len(group) == 1 else schema.STACKED_PREFIX + "0"


def stack_columns(df: Any, groups: Any) -> Any:
    """Stacks the scalar columns of a structured input into one array column."""
    from pyspark.sql import functions as F

    for group in groups:
        if len(group) > 1:
            df = df.withColumn(feature_column(group),
                               F.array(*[F.col(f"`{c}`").cast("float") for c in group]))
    return df


def _prepared_columns(columns: Any, groups: Any, targets: Any) -> dict[str, ColumnInfo]:
    """The ``ColumnInfo`` of the columns ``prepare_data`` writes, derived from the user's."""
    out = {}
    for group in groups:
        name = feature_column(group)
        out[name] = (columns[name] if len(group) == 1 else
                     ColumnInfo(name=name, kind=ARRAY, length=len(group),
                                source_type="array<float>"))
    for t in targets:
        out[t.column] = (columns[t.source_column] if t.classes is None else
                         ColumnInfo(name=t.column, kind=SCALAR, length=1, source_type="int",
                                    dtype="uint8" if len(t.classes) <= 256 else "int32"))
    return out
