"""Indexing ONNX ops: GatherElements, GatherND, Scatter*, TensorScatter, ReverseSequence;
Det, BitCast; and the ai.onnx.ml Binarizer and ArrayFeatureExtractor."""

from __future__ import annotations

import numpy as np

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.frontends.onnx.tensors import dtype_of


@converter("GatherElements")
def _gather_elements(ctx: NodeContext) -> Value:
    return ctx.emit("gather_elements", ctx.input(0), ctx.input(1), axis=ctx.attr("axis", 0))


@converter("GatherND")
def _gather_nd(ctx: NodeContext) -> Value:
    return ctx.emit("gather_nd", ctx.input(0), ctx.input(1), batch_dims=ctx.attr("batch_dims", 0))


@converter("ScatterElements", "Scatter")
def _scatter_elements(ctx: NodeContext) -> Value:
    return ctx.emit(
        "scatter_elements",
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        axis=ctx.attr("axis", 0),
        reduction=ctx.attr("reduction", "none"),
    )


@converter("ScatterND")
def _scatter_nd(ctx: NodeContext) -> Value:
    return ctx.emit(
        "scatter_nd",
        ctx.input(0),
        ctx.input(1),
        ctx.input(2),
        reduction=ctx.attr("reduction", "none"),
    )


@converter("ReverseSequence")
def _reverse_sequence(ctx: NodeContext) -> Value:
    return ctx.emit(
        "reverse_sequence",
        ctx.input(0),
        ctx.input(1),
        batch_axis=ctx.attr("batch_axis", 1),
        time_axis=ctx.attr("time_axis", 0),
    )


@converter("Det")
def _det(ctx: NodeContext) -> Value:
    return ctx.emit("det", ctx.input(0))


@converter("BitCast")
def _bitcast(ctx: NodeContext) -> Value:
    to = dtype_of(ctx.attr("to"), f"BitCast's 'to' of node '{ctx.name}'")
    return ctx.emit("bitcast", ctx.input(0), dtype=to)


@converter("TensorScatter")
def _tensor_scatter(ctx: NodeContext) -> Value:
    """Writes ``update`` into the cache at each batch entry's write index along ``axis``
    (wrapping around with mode 'circular'): a scatter_elements with indices built now."""
    cache, update = ctx.input(0), ctx.input(1)
    shape = ctx.static_shape(update)
    axis = ctx.attr("axis", -2) % cache.rank
    size = ctx.static_shape(cache)[axis]
    starts = ctx.const(2, "write_indices")
    starts = np.zeros(shape[0], np.int64) if starts is None else np.asarray(starts).reshape(-1)
    pos = np.arange(shape[axis]).reshape([-1 if i == axis else 1 for i in range(len(shape))])
    first = starts.reshape([-1] + [1] * (len(shape) - 1))
    idx = first + pos
    if ctx.attr("mode", "linear") == "circular":
        idx = idx % size
    idx = np.broadcast_to(idx, shape).astype(np.int64)
    return ctx.emit("scatter_elements", cache, ctx.constant(idx), update, axis=axis)


@converter("Binarizer", domain="ai.onnx.ml")
def _binarizer(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    above = ctx.emit("greater", x, ctx.scalar(ctx.attr("threshold", 0.0), x))
    return ctx.cast(above, x.dtype)


@converter("ArrayFeatureExtractor", domain="ai.onnx.ml")
def _array_feature_extractor(ctx: NodeContext) -> Value:
    x, idx = ctx.input(0), ctx.input(1)
    flat = ctx.reshape(ctx.cast(idx, "i64"), (-1,))
    y = ctx.emit("gather", x, flat, axis=x.rank - 1)
    return ctx.emit("unsqueeze", y, axes=(0,)) if x.rank == 1 else y
