"""The AutoKeras graph and how its inputs/heads map to DataFrame columns (checked up front)."""

from __future__ import annotations

from typing import Any, Sequence

STACKED_PREFIX = "__stacked_"


def build_graph(inputs, outputs):
    """Builds the AutoKeras ``Graph`` as ``AutoModel`` would; returns (graph, inputs, heads).

    Raises:
        TypeError: inputs/outputs are not AutoKeras nodes/heads.
        PretrainedWeightsError: a block asks for pretrained (downloaded) weights.
        ValueError: ``TextInput`` (its tokenizer runs outside the model, which workers
            do not replicate yet).
    """
    import autokeras as ak
    import keras
    import tree
    from autokeras import blocks
    from autokeras import graph as graph_module
    from autokeras.engine import head as head_module
    from autokeras.engine import node as node_module

    from cerebro.nas.builder import PretrainedWeightsError

    inputs, outputs = tree.flatten(inputs), tree.flatten(outputs)
    for node in inputs:
        if not isinstance(node, ak.Input):
            raise TypeError(f"inputs must be AutoKeras input nodes (ak.ImageInput(), ...), "
                            f"got {type(node).__name__}")
        if isinstance(node, ak.TextInput):
            raise ValueError(
                "TextInput is not supported: AutoKeras tokenizes text outside the model, which "
                "the workers do not replicate. Tokenize in Spark and feed the ids as a "
                "StructuredDataInput or ImageInput-shaped array instead")
    if all(isinstance(o, node_module.Node) for o in outputs):
        graph = graph_module.Graph(inputs=inputs, outputs=outputs)
    elif all(isinstance(o, head_module.Head) for o in outputs):
        keras.backend.clear_session()
        middle = [node.get_block()(node) for node in inputs]
        merged = blocks.Merge()(middle) if len(middle) > 1 else middle[0]
        outs = tree.flatten([head(merged) for head in outputs])
        graph = graph_module.Graph(inputs=inputs, outputs=outs)
    else:
        raise TypeError("outputs must be all AutoKeras heads (ak.ClassificationHead(), ...) "
                        "or all output nodes of a block graph")
    for block in graph.blocks:
        if getattr(block, "pretrained", None) is True:
            raise PretrainedWeightsError(
                f"{block.name} has pretrained=True, which downloads ImageNet weights; this "
                "system never downloads at run time. Use pretrained=False or leave it unset")
    heads = [o.in_blocks[0] for o in graph.outputs]
    for h in heads:
        if not isinstance(h, (ak.ClassificationHead, ak.RegressionHead)):
            raise TypeError(f"unsupported head {type(h).__name__}; use ClassificationHead or "
                            "RegressionHead")
    return graph, list(graph.inputs), heads


def as_column_list(columns: Any, name: str) -> list[str]:
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, (list, tuple)) or not columns:
        raise TypeError(f"{name} must be a non-empty list of column names, got {columns!r}")
    for c in columns:
        if not isinstance(c, str):
            raise TypeError(f"{name} must hold column names (str), got {c!r}")
    return list(columns)


def check_io_arity(inputs, heads, feature_columns: Sequence[str], label_columns: Sequence[str]):
    """One feature column per input (or stacked scalars for one structured input), one label
    column per head."""
    import autokeras as ak

    if len(label_columns) != len(heads):
        raise ValueError(f"the graph has {len(heads)} head(s) but {len(label_columns)} label "
                         f"column(s) {list(label_columns)} were given; give one per head")
    if len(feature_columns) == len(inputs):
        return
    if len(inputs) == 1 and isinstance(inputs[0], ak.StructuredDataInput):
        return  # several scalar columns stacked into one structured input
    raise ValueError(f"the graph has {len(inputs)} input(s) but {len(feature_columns)} feature "
                     f"column(s) {list(feature_columns)} were given; give one per input")


def input_groups(inputs, feature_columns: Sequence[str]) -> list[list[str]]:
    """The column(s) feeding each input: one each, or all of them for a stacked input."""
    if len(feature_columns) == len(inputs):
        return [[c] for c in feature_columns]
    return [list(feature_columns)]


def resolve_input_shapes(inputs, groups, columns: dict, input_shape) -> list[tuple[int, ...]]:
    """Per-input row shapes from ``fit(input_shape=...)`` (tuple, list or dict) and the data.

    Raises:
        ValueError: a shape does not fit its column, or an image input has no usable shape.
        TypeError: feature columns of the wrong type for the input (e.g. a scalar column
            for an ImageInput).
    """
    import autokeras as ak

    from cerebro.data.columns import check_input_shape
    from cerebro.data.metadata import ColumnInfo

    n = len(inputs)
    if input_shape is None:
        given = [None] * n
    elif isinstance(input_shape, dict):
        unknown = set(input_shape) - {g[0] for g in groups}
        if unknown:
            raise ValueError(f"input_shape names unknown feature column(s) {sorted(unknown)}")
        given = [input_shape.get(g[0]) for g in groups]
    elif isinstance(input_shape, list) and input_shape and isinstance(input_shape[0], (tuple, list)):
        if len(input_shape) != n:
            raise ValueError(f"input_shape has {len(input_shape)} shapes for {n} input(s)")
        given = list(input_shape)
    else:
        if n != 1:
            raise ValueError(f"the graph has {n} inputs: give input_shape as a list or a dict "
                             "keyed by feature column")
        given = [input_shape]
    shapes = []
    for node, group, shape in zip(inputs, groups, given):
        if len(group) > 1:
            for c in group:
                if columns[c].kind != "scalar":
                    raise TypeError(f"feature column {c!r} is a vector; stacked columns of a "
                                    "StructuredDataInput must be numeric scalars")
            info = ColumnInfo(STACKED_PREFIX, "array", len(group))
        else:
            info = columns[group[0]]
        if isinstance(node, ak.ImageInput):
            if info.kind != "array":
                raise TypeError(f"feature column {group[0]!r} is a scalar; an ImageInput needs a "
                                "vector or array column")
            if shape is None:
                side = int(round(info.length ** 0.5))
                if side * side != info.length:
                    raise ValueError(f"ImageInput on column {group[0]!r} ({info.length} values "
                                     "per row) needs input_shape=(height, width[, channels])")
                shape = (side, side, 1)
            if len(tuple(shape)) not in (2, 3):
                raise ValueError(f"input_shape {tuple(shape)} for an ImageInput must be "
                                 "(height, width) or (height, width, channels)")
        shapes.append(check_input_shape(info, shape))
    return shapes
