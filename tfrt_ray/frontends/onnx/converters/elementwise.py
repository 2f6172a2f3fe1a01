"""Elementwise ONNX ops: arithmetic, comparisons, logic, bitwise ops, math functions,
Cast/CastLike, Clip, Where and the variadic Max/Min/Sum/Mean."""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import DTypeError
from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.frontends.onnx.tensors import dtype_of, format_of
from tfrt_ray.ir.types import FLOAT_DTYPES

UNSIGNED = ("ui8", "ui16", "ui32", "ui64")


def legacy_broadcast(ctx: NodeContext, a: Value, b: Value) -> tuple[Value, Value]:
    """Before opset 7, ``broadcast=1`` with ``axis`` aligns b's dims at a's ``axis``."""
    if ctx.opset >= 7 or not ctx.attr("broadcast", 0) or not ctx.has_attr("axis"):
        return a, b
    axis = ctx.attr("axis") % max(a.rank, 1)
    trailing = a.rank - axis - b.rank
    if trailing > 0:
        b = ctx.emit("unsqueeze", b, axes=tuple(range(b.rank, b.rank + trailing)))
    return a, b


def _binary(op: str):
    def convert(ctx: NodeContext) -> Value:
        a, b = legacy_broadcast(ctx, ctx.input(0), ctx.input(1))
        return ctx.emit(op, a, b)

    return convert


for _onnx, _op in {
    "Add": "add",
    "Sub": "sub",
    "Mul": "mul",
    "Equal": "equal",
    "Less": "less",
    "LessOrEqual": "less_equal",
    "Greater": "greater",
    "GreaterOrEqual": "greater_equal",
    "And": "logical_and",
    "Or": "logical_or",
    "Xor": "logical_xor",
    "BitwiseAnd": "bitwise_and",
    "BitwiseOr": "bitwise_or",
    "BitwiseXor": "bitwise_xor",
}.items():
    converter(_onnx)(_binary(_op))


def _unary(op: str):
    def convert(ctx: NodeContext) -> Value:
        return ctx.emit(op, ctx.input(0))

    return convert


for _onnx, _op in {
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Tanh": "tanh",
    "Sigmoid": "sigmoid",
    "Erf": "erf",
    "Sin": "sin",
    "Cos": "cos",
    "Tan": "tan",
    "Asin": "asin",
    "Acos": "acos",
    "Atan": "atan",
    "Sinh": "sinh",
    "Cosh": "cosh",
    "Asinh": "asinh",
    "Acosh": "acosh",
    "Atanh": "atanh",
    "Reciprocal": "reciprocal",
    "Floor": "floor",
    "Ceil": "ceil",
    "Round": "round",
    "Neg": "neg",
    "Not": "logical_not",
    "BitwiseNot": "bitwise_not",
}.items():
    converter(_onnx)(_unary(_op))


@converter("Abs")
def _abs(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    return x if x.dtype in UNSIGNED else ctx.emit("abs", x)


@converter("Sign")
def _sign(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    if x.dtype in UNSIGNED:
        return ctx.cast(ctx.emit("greater", x, ctx.scalar(0, x)), x.dtype)
    return ctx.emit("sign", x)


@converter("Div")
def _div(ctx: NodeContext) -> Value:
    a, b = legacy_broadcast(ctx, ctx.input(0), ctx.input(1))
    if a.dtype in FLOAT_DTYPES:
        return ctx.emit("div", a, b)
    return ctx.emit("trunc_div", a, b)


@converter("Mod")
def _mod(ctx: NodeContext) -> Value:
    a, b = ctx.input(0), ctx.input(1)
    return ctx.emit("fmod" if ctx.attr("fmod", 0) else "mod", a, b)


@converter("Pow")
def _pow(ctx: NodeContext) -> Value:
    a, b = legacy_broadcast(ctx, ctx.input(0), ctx.input(1))
    return ctx.cast(ctx.emit("pow", a, b), a.dtype)


@converter("BitShift")
def _bit_shift(ctx: NodeContext) -> Value:
    direction = ctx.attr("direction", "LEFT")
    return ctx.emit("bit_shift", ctx.input(0), ctx.input(1), direction=direction.lower())


@converter("IsNaN")
def _isnan(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    return ctx.emit("not_equal", x, x)


@converter("IsInf")
def _isinf(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    pos, neg = ctx.attr("detect_positive", 1), ctx.attr("detect_negative", 1)
    if pos and neg:
        return ctx.emit("equal", ctx.emit("abs", x), ctx.scalar(np.inf, x))
    if pos or neg:
        return ctx.emit("equal", x, ctx.scalar(np.inf if pos else -np.inf, x))
    return ctx.emit("logical_and", ctx.emit("equal", x, x), ctx.emit("not_equal", x, x))


def _cast_to(ctx: NodeContext, x: Value, dtype: str, fmt: str | None) -> Value:
    if fmt is not None:  # an emulated type: round to it (in its carrier dtype)
        return ctx.to_format(x, fmt, saturate=bool(ctx.attr("saturate", 1)))
    return ctx.cast(x, dtype)


@converter("Cast")
def _cast(ctx: NodeContext) -> Value:
    to = ctx.attr("to")
    dtype = dtype_of(to, f"Cast's 'to' of node '{ctx.name}'")
    return _cast_to(ctx, ctx.input(0), dtype, format_of(to))


@converter("CastLike")
def _cast_like(ctx: NodeContext) -> Value:
    like = ctx.input(1)
    return _cast_to(ctx, ctx.input(0), like.dtype, like.fmt)


@converter("Identity")
def _identity(ctx: NodeContext) -> Value:
    return ctx.input(0)


@converter("Where")
def _where(ctx: NodeContext) -> Value:
    return ctx.emit("where", ctx.input(0), ctx.input(1), ctx.input(2))


@converter("Clip")
def _clip(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
        return ctx.emit("clip", x, min=lo, max=hi)
    lo = ctx.input(1) if ctx.has(1) else None
    hi = ctx.input(2) if ctx.has(2) else None
    if x.dtype in FLOAT_DTYPES and all(v is None or v.is_const for v in (lo, hi)):
        return ctx.emit(
            "clip",
            x,
            min=None if lo is None else float(lo.array),
            max=None if hi is None else float(hi.array),
        )
    y = x
    if lo is not None:
        y = ctx.emit("maximum", y, lo)
    if hi is not None:
        y = ctx.emit("minimum", y, hi)
    return y if y is not x else ctx.emit("identity", x)


def _variadic(op: str):
    def convert(ctx: NodeContext) -> Value:
        xs = [v for v in ctx.inputs if v is not None]
        y = xs[0]
        for x in xs[1:]:
            y = ctx.emit(op, y, x)
        if ctx.op_type == "Mean":
            y = ctx.emit("div", y, ctx.scalar(len(xs), y))
        return y if len(xs) > 1 else ctx.emit("identity", y)

    return convert


converter("Max")(_variadic("maximum"))
converter("Min")(_variadic("minimum"))
converter("Sum")(_variadic("add"))
converter("Mean")(_variadic("add"))


def require_float(ctx: NodeContext, x: Value) -> None:
    if x.dtype not in FLOAT_DTYPES:
        raise ctx.error(f"{ctx.op_type} needs a float input, got {x.dtype}", DTypeError)
