"""The AutoKeras graph and how its inputs/heads map to DataFrame columns (checked up front)."""

from __future__ import annotations

from typing import Any, Optional, Sequence

STACKED_PREFIX = "__stacked_"


def build_graph(inputs: Any, outputs: Any) -> Any:
    """Builds the AutoKeras ``Graph`` as ``AutoModel`` would; returns (graph, inputs, heads).

    Raises:
        TypeError: inputs/outputs are not AutoKeras nodes/heads.
        PretrainedWeightsError: a block asks for pretrained (downloaded) weights.
        ValueError: a ``TextInput`` feeds a block that cannot read token ids, or a block
            needs pretrained weights or TensorFlow-only layers.
    """
    import autokeras as ak
    import keras
    import tree
    from autokeras import blocks
    from autokeras import graph as graph_module
    from autokeras.engine import head as head_module
    from autokeras.engine import node as node_module

    from cerebro.keras.state import KERAS_BUILD_LOCK
    from cerebro.nas.builder import PretrainedWeightsError

    inputs, outputs = tree.flatten(inputs), tree.flatten(outputs)
    for node in inputs:
        if not isinstance(node, ak.Input):
            raise TypeError(f"inputs must be AutoKeras input nodes (ak.ImageInput(), ...), "
                            f"got {type(node).__name__}")
    if all(isinstance(o, node_module.Node) for o in outputs):
        graph = graph_module.Graph(inputs=inputs, outputs=outputs)
    elif all(isinstance(o, head_module.Head) for o in outputs):
        with KERAS_BUILD_LOCK:
            keras.backend.clear_session()
            middle = [node.get_block()(node) for node in inputs]
            merged = blocks.Merge()(middle) if len(middle) > 1 else middle[0]
            outs = tree.flatten([head(merged) for head in outputs])
            graph = graph_module.Graph(inputs=inputs, outputs=outs)
    else:
        raise TypeError("outputs must be all AutoKeras heads (ak.ClassificationHead(), ...) "
                        "or all output nodes of a block graph")
    check_text_blocks(graph)
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


# Text blocks of older AutoKeras releases: BERT (pretrained weights, downloaded) and
# TensorFlow-only vectorizers. AutoKeras 3 no longer has them; a graph naming one is refused.
UNSUPPORTED_TEXT_BLOCKS = frozenset({"BertBlock", "BertTokenizer", "BertEncoder",
                                     "TextToIntSequence", "TextToNgramVector"})
# Blocks that read the token ids a TextInput gives (int32, shape (sequence_length,)).
TOKEN_ID_BLOCKS = ("TextBlock", "Embedding")
DEFAULT_TEXT_BLOCK_IDS = 501  # TextBlock without max_tokens searches max_tokens in 500..20000


def check_text_blocks(graph: Any) -> None:
    """Refuses text blocks this system cannot run, and blocks that cannot read token ids.

    Raises:
        ValueError: naming the block and what to use instead.
    """
    import autokeras as ak

    for block in graph.blocks:
        if type(block).__name__ in UNSUPPORTED_TEXT_BLOCKS:
            raise ValueError(
                f"{type(block).__name__} needs pretrained weights or TensorFlow-only layers, "
                "which this system cannot run (Keras on torch, nothing downloaded). Use "
                "ak.TextBlock() or ak.Embedding() on the TextInput")
    for node in graph.inputs:
        if not isinstance(node, ak.TextInput):
            continue
        for block in node.out_blocks:
            if type(block).__name__ not in TOKEN_ID_BLOCKS:
                raise ValueError(
                    f"{type(block).__name__} cannot read a TextInput: text is tokenized in "
                    "data preparation and reaches the model as int32 token ids. Put "
                    "ak.TextBlock() or ak.Embedding() right after the TextInput")


def text_vocabulary_size(graph: Any) -> int:
    """The most distinct token ids every text block of ``graph`` accepts (pad and OOV count)."""
    sizes = []
    for block in graph.blocks:
        name = type(block).__name__
        if name == "TextBlock":
            tokens = getattr(block, "max_tokens", None)
            sizes.append(int(tokens) + 1 if tokens else DEFAULT_TEXT_BLOCK_IDS)
        elif name == "Embedding" and isinstance(getattr(block, "max_features", None), int):
            sizes.append(int(block.max_features))
    from cerebro.data.text import DEFAULT_VOCABULARY_SIZE

    return min(sizes) if sizes else DEFAULT_VOCABULARY_SIZE


def as_column_list(columns: Any, name: str) -> list[str]:
    if isinstance(columns, str):
        columns = [columns]
    if not isinstance(columns, (list, tuple)) or not columns:
        raise TypeError(f"{name} must be a non-empty list of column names, got {columns!r}")
    for c in columns:
        if not isinstance(c, str):
            raise TypeError(f"{name} must hold column names (str), got {c!r}")
    return list(columns)


def check_io_arity(inputs: Any, heads: Any, feature_columns: Sequence[str],
                   label_columns: Sequence[str]) -> None:
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


def input_groups(inputs: Any, feature_columns: Sequence[str]) -> list[list[str]]:
    """The column(s) feeding each input: one each, or all of them for a stacked input."""
    if len(feature_columns) == len(inputs):
        return [[c] for c in feature_columns]
    return [list(feature_columns)]


def resolve_input_shapes(inputs: Any, groups: Any, columns: dict[str, Any],
                         input_shape: Any) -> list[Optional[tuple[int, ...]]]:
    """Per-input row shapes from ``fit(input_shape=...)`` (tuple, list or dict) and the data.

    An image column's shape is ``None`` until its prepared ``ColumnInfo`` knows the size of
    its first image (call again with the prepared columns). A text input's shape is
    ``(sequence_length,)`` (default 100).

    Raises:
        ValueError: a shape does not fit its column, or an image input has no usable shape.
        TypeError: feature columns of the wrong type for the input (e.g. a scalar column
            for an ImageInput).
    """
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
    return [_input_shape(node, group, shape, columns) for node, group, shape
            in zip(inputs, groups, given)]


def _input_shape(node: Any, group: Any, shape: Any, columns: dict[str, Any]) -> Optional[tuple[int, ...]]:
    """One input's row shape; ``None`` for an image column whose size is not known yet."""
    import autokeras as ak

    from cerebro.data.columns import TEXT, check_input_shape
    from cerebro.data.metadata import ColumnInfo

    if len(group) > 1:
        for c in group:
            if columns[c].kind != "scalar":
                raise TypeError(f"feature column {c!r} is a vector; stacked columns of a "
                                "StructuredDataInput must be numeric scalars")
        info = ColumnInfo(STACKED_PREFIX, "array", len(group))
    else:
        info = columns[group[0]]
    if isinstance(node, ak.TextInput):
        return _text_shape(group[0], info, shape)
    if info.kind == TEXT:
        raise TypeError(f"feature column {group[0]!r} is text; it needs an ak.TextInput")
    if info.kind == "image" and not isinstance(node, ak.ImageInput):
        raise TypeError(f"feature column {group[0]!r} holds encoded images; it needs an "
                        "ak.ImageInput")
    if isinstance(node, ak.ImageInput):
        if info.kind == "scalar":
            raise TypeError(f"feature column {group[0]!r} is a scalar; an ImageInput needs a "
                            "vector, an array or an image column")
        if shape is not None and len(tuple(shape)) not in (2, 3):
            raise ValueError(f"input_shape {tuple(shape)} for an ImageInput must be "
                             "(height, width) or (height, width, channels)")
        if info.kind == "image":
            if info.image_shape is None:
                return None if shape is None else tuple(int(v) for v in shape)
            if shape is not None and len(tuple(shape)) == 2:
                shape = tuple(shape) + (info.image_shape[2],)
        elif shape is None:
            side = int(round(info.length ** 0.5))
            if side * side != info.length:
                raise ValueError(f"ImageInput on column {group[0]!r} ({info.length} values "
                                 "per row) needs input_shape=(height, width[, channels])")
            shape = (side, side, 1)
    return check_input_shape(info, shape)


def _text_shape(column: str, info: Any, shape: Any) -> tuple[int, ...]:
    from cerebro.data.columns import TEXT
    from cerebro.data.text import DEFAULT_SEQUENCE_LENGTH

    if info.kind not in (TEXT, "array"):
        raise TypeError(f"feature column {column!r} feeds a TextInput; it must be a string "
                        "column")
    if shape is None:
        return (info.length,) if info.kind == "array" else (DEFAULT_SEQUENCE_LENGTH,)
    shape = tuple(int(v) for v in shape)
    if len(shape) != 1 or shape[0] < 1 or (info.kind == "array" and shape[0] != info.length):
        raise ValueError(f"input_shape {shape} for the TextInput on {column!r} must be "
                         "(sequence_length,): the number of token ids per row")
    return tuple(shape)
