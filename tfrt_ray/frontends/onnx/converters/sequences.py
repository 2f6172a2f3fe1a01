"""Sequences and optionals, resolved at import time: a sequence is a list of values of a
length known when importing (`SequenceValue`), an empty optional is `Empty`."""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import ShapeError
from tfrt_ray.frontends.onnx.context import Empty, NodeContext, SequenceValue, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.frontends.onnx.tensors import dtype_of


def _seq(ctx: NodeContext, i: int) -> SequenceValue:
    s = ctx.input(i)
    if not isinstance(s, SequenceValue):
        raise ctx.error(f"input {i} of {ctx.op_type} is not a sequence", ShapeError)
    return s


def _position(ctx: NodeContext, i: int, n: int, default: int) -> int:
    p = ctx.item(i, "position")
    p = default if p is None else int(p)
    return p + n if p < 0 else p


@converter("SequenceConstruct")
def _construct(ctx: NodeContext) -> SequenceValue:
    items = [v for v in ctx.inputs if v is not None]
    return SequenceValue(items, items[0].dtype)


@converter("SequenceEmpty")
def _empty(ctx: NodeContext) -> SequenceValue:
    return SequenceValue([], dtype_of(ctx.attr("dtype", 1), "SequenceEmpty's dtype"))


@converter("SequenceInsert")
def _insert(ctx: NodeContext) -> SequenceValue:
    s = _seq(ctx, 0)
    items = list(s.items)
    items.insert(_position(ctx, 2, len(items), len(items)), ctx.input(1))
    return SequenceValue(items, s.dtype)


@converter("SequenceErase")
def _erase(ctx: NodeContext) -> SequenceValue:
    s = _seq(ctx, 0)
    items = list(s.items)
    del items[_position(ctx, 1, len(items), len(items) - 1)]
    return SequenceValue(items, s.dtype)


@converter("SequenceAt")
def _at(ctx: NodeContext) -> Value:
    s = _seq(ctx, 0)
    return s.items[_position(ctx, 1, len(s.items), 0)]


@converter("SequenceLength")
def _length(ctx: NodeContext) -> Value:
    return ctx.constant(np.array(len(_seq(ctx, 0).items), np.int64))


@converter("SplitToSequence")
def _split_to_sequence(ctx: NodeContext) -> SequenceValue:
    x = ctx.input(0)
    axis = ctx.attr("axis", 0) % x.rank
    dim = ctx.static_shape(x)[axis]
    split = ctx.const(1, "split")
    if split is None:
        sizes = [1] * dim
    elif split.ndim == 0:
        n = int(split)
        sizes = [n] * (dim // n) + ([dim % n] if dim % n else [])
    else:
        sizes = [int(v) for v in split]
    parts = ctx.emit("split", x, axis=axis, sizes=tuple(sizes))
    parts = list(parts) if isinstance(parts, tuple) else [parts]
    if split is None and not ctx.attr("keepdims", 1):
        parts = [ctx.emit("squeeze", p, axes=(axis,)) for p in parts]
    return SequenceValue(parts, x.dtype)


@converter("ConcatFromSequence")
def _concat_from_sequence(ctx: NodeContext) -> Value:
    s = _seq(ctx, 0)
    axis = ctx.attr("axis")
    if ctx.attr("new_axis", 0):
        rank = s.items[0].rank + 1
        axis %= rank
        items = [ctx.emit("unsqueeze", v, axes=(axis,)) for v in s.items]
    else:
        items = s.items
    return ctx.emit("concat", *items, axis=axis)


@converter("Optional")
def _optional(ctx: NodeContext):
    return ctx.input(0) if ctx.has(0) else Empty()


@converter("OptionalHasElement")
def _has_element(ctx: NodeContext) -> Value:
    present = ctx.has(0) and not isinstance(ctx.inputs[0], Empty)
    return ctx.constant(np.array(present))


@converter("OptionalGetElement")
def _get_element(ctx: NodeContext):
    v = ctx.inputs[0] if ctx.has(0) else None
    if v is None or isinstance(v, Empty):
        raise ctx.error("OptionalGetElement of an empty optional", ShapeError)
    return v


@converter("SequenceMap")
def _sequence_map(ctx: NodeContext) -> list[SequenceValue]:
    body = ctx.attr("body")
    first = _seq(ctx, 0)
    n = len(first.items)
    outs: list[list[Value]] = [[] for _ in body.output]
    for i in range(n):
        args = [v.items[i] if isinstance(v, SequenceValue) else v for v in ctx.inputs]
        for k, v in enumerate(ctx.importer.inline(body, args, ctx, f"item{i}")):
            outs[k].append(v)
    dtypes = [o.type.tensor_type.elem_type for o in body.output]
    return [SequenceValue(items, dtype_of(dt, "SequenceMap output") if dt else "f32")
            for items, dt in zip(outs, dtypes, strict=False)]
