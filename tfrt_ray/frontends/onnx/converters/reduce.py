"""Reductions: ReduceX (axes as an attribute, or as an input from opset 13 for ReduceSum
and 18 for the rest), ArgMax/ArgMin, CumSum/CumProd, TopK. Results keep the input dtype,
as in ONNX."""

from __future__ import annotations

import numpy as np

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter


def _reduce_axes(ctx: NodeContext, x: Value) -> tuple[int, ...] | None:
    """Normalized axes; None means every axis; () means none (noop_with_empty_axes)."""
    since = 13 if ctx.op_type == "ReduceSum" else 18
    axes = ctx.attr("axes") if ctx.opset < since else ctx.ints(1, "axes")
    if not axes:
        return () if ctx.attr("noop_with_empty_axes", 0) else None
    return tuple(sorted(a % max(x.rank, 1) for a in axes))


def _empty_fill(ctx: NodeContext, x: Value, axes, keepdims: bool, value) -> Value | None:
    """A reduction with no identity over an axis of size 0: a constant fill."""
    ax = range(x.rank) if axes is None else axes
    if not any(x.shape[a] == 0 for a in ax):
        return None
    shape = tuple(
        (1 if keepdims else None) if i in ax else d for i, d in enumerate(ctx.static_shape(x))
    )
    shape = tuple(d for d in shape if d is not None)
    return ctx.constant(np.full(shape, value, x.type.np_dtype))


def _lowest(x: Value, highest: bool):
    dt = x.type.np_dtype
    if dt.kind == "f":
        return np.inf if highest else -np.inf
    if dt.kind == "b":
        return highest
    info = np.iinfo(dt)
    return info.max if highest else info.min


def _elementwise_part(ctx: NodeContext, kind: str, x: Value) -> Value:
    """What ReduceX applies to each element before summing (and, with no axes, all)."""
    if kind == "l1":
        return ctx.emit("abs", x)
    if kind in ("l2", "sum_square"):
        return ctx.emit("mul", x, x)
    if kind == "log_sum_exp":
        return ctx.emit("exp", x)
    return x


def _finish(ctx: NodeContext, kind: str, y: Value) -> Value:
    """What ReduceX applies to the sum."""
    if kind == "l2":
        if y.dtype in ("f16", "f32", "f64"):
            return ctx.emit("sqrt", y)
        return ctx.cast(ctx.emit("sqrt", ctx.cast(y, "f64")), y.dtype)
    if kind in ("log_sum", "log_sum_exp"):
        return ctx.emit("log", y)
    return y


def _log_sum_exp(ctx: NodeContext, x: Value, axes, keep: bool) -> Value:
    """log(sum(exp(x))), computed as m + log(sum(exp(x - m))) with m the (finite) max."""
    m = ctx.emit("max", x, axes=axes, keepdims=True)
    finite = ctx.emit("less", ctx.emit("abs", m), ctx.scalar(np.inf, m))  # false for nan too
    m = ctx.emit("where", finite, m, ctx.scalar(0, m))
    s = ctx.emit("sum", ctx.emit("exp", ctx.emit("sub", x, m)), axes=axes, keepdims=keep)
    return ctx.emit("add", ctx.emit("log", s), m if keep else ctx.emit("squeeze", m, axes=axes))


def _reduce(ctx: NodeContext, kind: str) -> Value:
    x = ctx.input(0)
    axes = _reduce_axes(ctx, x)
    keep = bool(ctx.attr("keepdims", 1))
    if axes == ():  # noop_with_empty_axes: the elementwise part only
        y = _finish(ctx, kind, _elementwise_part(ctx, kind, x))
        return y if y is not x else ctx.emit("identity", x)
    if kind in ("max", "min", "log_sum_exp"):
        # No identity element: an empty reduction is a constant.
        empty = {"max": _lowest(x, False), "min": _lowest(x, True), "log_sum_exp": -np.inf}
        fill = _empty_fill(ctx, x, axes, keep, empty[kind])
        if fill is not None:
            return fill
        if kind == "log_sum_exp":
            return _log_sum_exp(ctx, x, axes, keep)
        return ctx.emit(kind, x, axes=axes, keepdims=keep)
    op = {"mean": "mean", "prod": "prod"}.get(kind, "sum")
    y = ctx.emit(op, _elementwise_part(ctx, kind, x), axes=axes, keepdims=keep)
    return _finish(ctx, kind, ctx.cast(y, x.dtype))


for _onnx, _kind in {
    "ReduceSum": "sum",
    "ReduceMean": "mean",
    "ReduceMax": "max",
    "ReduceMin": "min",
    "ReduceProd": "prod",
    "ReduceL1": "l1",
    "ReduceL2": "l2",
    "ReduceSumSquare": "sum_square",
    "ReduceLogSum": "log_sum",
    "ReduceLogSumExp": "log_sum_exp",
}.items():
    converter(_onnx)(lambda ctx, _k=_kind: _reduce(ctx, _k))


def _arg(ctx: NodeContext, op: str) -> Value:
    x = ctx.input(0)
    axis = ctx.attr("axis", 0) % max(x.rank, 1)
    keep = bool(ctx.attr("keepdims", 1))
    if not ctx.attr("select_last_index", 0):
        return ctx.emit(op, x, axis=axis, keepdims=keep)
    n = ctx.static_shape(x)[axis]
    flipped = ctx.emit("slice", x, starts=(-1,), ends=(-(2**63),), axes=(axis,), steps=(-1,))
    idx = ctx.emit(op, flipped, axis=axis, keepdims=keep)
    return ctx.emit("sub", ctx.scalar(n - 1, idx), idx)


converter("ArgMax")(lambda ctx: _arg(ctx, "argmax"))
converter("ArgMin")(lambda ctx: _arg(ctx, "argmin"))


def _cumulative(ctx: NodeContext, op: str) -> Value:
    x = ctx.input(0)
    axis = int(np.asarray(ctx.const(1, "axis")).reshape(-1)[0])
    return ctx.emit(
        op,
        x,
        axis=axis,
        exclusive=bool(ctx.attr("exclusive", 0)),
        reverse=bool(ctx.attr("reverse", 0)),
    )


converter("CumSum")(lambda ctx: _cumulative(ctx, "cumsum"))
converter("CumProd")(lambda ctx: _cumulative(ctx, "cumprod"))


@converter("TopK")
def _top_k(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    k = ctx.attr("k") if ctx.opset < 10 else ctx.ints(1, "k")[0]
    values, indices = ctx.emit(
        "top_k",
        x,
        k=int(k),
        axis=ctx.attr("axis", -1),
        largest=bool(ctx.attr("largest", 1)),
        sorted=bool(ctx.attr("sorted", 1)),
    )
    return [values, indices]
