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

from cerebro.data.columns import inspect_dataframe
from cerebro.data.metadata import ARRAY, SCALAR, ColumnInfo, DatasetInfo
from cerebro.data.prepare import prepare_data
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
    """

    info: DatasetInfo
    groups: list[list[str]]
    shapes: list[tuple[int, ...]]
    targets: list[analysis.HeadTarget]
    feature_columns: list[str]
    label_columns: list[str]
    sample_inputs: list[np.ndarray]

    @property
    def io(self) -> ModelIO:
        return ModelIO(tuple(self.feature_columns), tuple(self.label_columns),
                       tuple(tuple(s) for s in self.shapes),
                       tuple(t.shape for t in self.targets),
                       tuple(t.encoding for t in self.targets))

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns each worker loads."""
        return tuple(dict.fromkeys(self.feature_columns + self.label_columns))


def prepare(am, df, epochs: int, input_shape: Any, batch_size: int,
            validation_df=None) -> NasData:
    """Checks ``df`` against ``am``'s graph, writes the shards and configures the graph.

    Args:
        am: A bound ``HyperHyperModel`` (its graph, inputs, heads, columns, store, backend).
        df: The training DataFrame.
        epochs / batch_size: Given to AutoKeras's graph (its fit arguments).
        input_shape: The user's per-row shape(s).
        validation_df: Explicit validation rows, else ``am``'s ``validation`` setting.
    """
    res = am.resources
    backend, store = res.backend, res.store
    df, val_col = _with_validation_df(df, validation_df)
    groups = schema.input_groups(am.inputs, res.feature_columns)
    class_cols = [col for head, col in zip(am.heads, res.label_columns)
                  if type(head).__name__ == "ClassificationHead"]
    found = inspect_dataframe(df, res.feature_columns, res.label_columns, class_cols,
                              max_classes=analysis.MAX_CLASSES)
    columns = found.columns
    shapes = schema.resolve_input_shapes(am.inputs, groups, columns, input_shape)
    targets = []
    for col in res.label_columns:
        if col in class_cols:
            targets.append(analysis.classification_target(col, columns[col],
                                                          found.classes.get(col)))
        else:
            targets.append(analysis.regression_target(col, columns[col]))

    seed = am.seed or 0
    prepared = stack_columns(analysis.add_class_index_columns(df, targets), groups)
    feature_cols = [feature_column(g) for g in groups]
    label_cols = [t.column for t in targets]
    info = prepare_data(store, prepared, feature_cols, label_cols, backend.num_workers,
                        validation=val_col or res.validation, seed=seed,
                        inspected=(found.rows, _prepared_columns(columns, groups, targets)))
    sample = analysis.bounded_sample(store, info, feature_cols, seed)
    _configure_graph(am, groups, shapes, targets, sample, info.train.total_rows, batch_size, epochs)
    sample_inputs = [sample[c].reshape((-1,) + tuple(s)) for c, s in zip(feature_cols, shapes)]
    return NasData(info, groups, [tuple(s) for s in shapes], targets, feature_cols, label_cols,
                   sample_inputs)


def _with_validation_df(df, validation_df) -> tuple[Any, Optional[str]]:
    from pyspark.sql import functions as F

    if validation_df is None:
        return df, None
    return (df.withColumn(VALIDATION_FLAG, F.lit(False))
            .unionByName(validation_df.withColumn(VALIDATION_FLAG, F.lit(True)))), VALIDATION_FLAG


def _configure_graph(am, groups, shapes, targets, sample, rows: int, batch_size: int,
                     epochs: int) -> None:
    """Runs AutoKeras's analysers on the sample / label summary and sets the I/O shapes."""
    for node, group, shape in zip(am.inputs, groups, shapes):
        analyser = node.get_analyser()
        analyser.update(sample[feature_column(group)].reshape((-1,) + tuple(shape)))
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


def feature_column(group) -> str:
    """The prepared column of one input: the user's column, or the stacked scalars."""
    return group[0] if len(group) == 1 else schema.STACKED_PREFIX + "0"


def stack_columns(df, groups):
    """Stacks the scalar columns of a structured input into one array column."""
    from pyspark.sql import functions as F

    for group in groups:
        if len(group) > 1:
            df = df.withColumn(feature_column(group),
                               F.array(*[F.col(f"`{c}`").cast("float") for c in group]))
    return df


def _prepared_columns(columns, groups, targets) -> dict[str, ColumnInfo]:
    """The ``ColumnInfo`` of the columns ``prepare_data`` writes, derived from the user's."""
    out = {}
    for group in groups:
        name = feature_column(group)
        out[name] = (columns[name] if len(group) == 1 else
                     ColumnInfo(name=name, kind=ARRAY, length=len(group),
                                source_type="array<float>"))
    for t in targets:
        out[t.column] = (columns[t.source_column] if t.classes is None else
                         ColumnInfo(name=t.column, kind=SCALAR, length=1, source_type="int"))
    return out
