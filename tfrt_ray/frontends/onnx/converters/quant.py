"""Quantization ONNX ops as compositions: QuantizeLinear / DequantizeLinear (per tensor,
per axis, blocked), MatMulInteger, ConvInteger, QLinearMatMul, QLinearConv. Integer
products are exact (int32 for matmuls; float64 for convolutions, exact for 8-bit data)."""

from __future__ import annotations

import numpy as np

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.frontends.onnx.tensors import CARRIERS, dtype_of, format_of

_RANGES = {
    "i4": (-8, 7),
    "ui4": (0, 15),
    "i2": (-2, 1),
    "ui2": (0, 3),
    "ui8": (0, 255),
    "i8": (-128, 127),
    "ui16": (0, 65535),
    "i16": (-32768, 32767),
    "i32": (-(2**31), 2**31 - 1),
}


def along(ctx: NodeContext, p: Value, x: Value, axis: int, block: int = 0) -> Value:
    """A scale or zero point shaped to broadcast against x (per tensor / axis / block)."""
    if p.rank == 0:
        return p
    if p.rank == 1 and p.shape[0] == 1:
        return ctx.reshape(p, ())
    axis %= x.rank
    if block:
        n = ctx.static_shape(x)[axis]
        idx = ctx.constant(np.arange(n, dtype=np.int64) // block)
        return ctx.emit("gather", p, idx, axis=axis)
    shape = [1] * x.rank
    shape[axis] = -1
    return ctx.reshape(p, shape)


def saturate(ctx: NodeContext, y: Value, dtype: str) -> Value:
    """y clamped to the range of ``dtype`` (a dtype token, or an emulated int format)."""
    lo, hi = _RANGES[dtype]
    y = ctx.emit("maximum", y, ctx.scalar(lo, y))
    y = ctx.emit("minimum", y, ctx.scalar(hi, y))
    if dtype in CARRIERS:
        return ctx.to_format(y, dtype)
    return ctx.cast(y, dtype)


@converter("QuantizeLinear")
def _quantize(ctx: NodeContext) -> Value:
    x, scale = ctx.input(0), ctx.input(1)
    zp = ctx.input(2) if ctx.has(2) else None
    axis, block = ctx.attr("axis", 1), ctx.attr("block_size", 0)
    if zp is not None:
        out = zp.fmt or zp.dtype
    elif ctx.attr("output_dtype"):
        to = ctx.attr("output_dtype")
        out = format_of(to) or dtype_of(to, "output_dtype")
    else:
        out = "ui8"
    precision = ctx.attr("precision")
    if precision:
        p = dtype_of(precision, "precision")
        x, scale = ctx.cast(x, p), ctx.cast(scale, p)
    q = ctx.emit("div", x, along(ctx, ctx.cast(scale, x.dtype), x, axis, block))
    if out.startswith("f"):  # float8 / float4: no rounding to integers
        if out == "f4e2m1" and zp is not None:
            q = ctx.emit("add", q, ctx.cast(along(ctx, zp, x, axis, block), q.dtype))
        return ctx.to_format(q, out, saturate=bool(ctx.attr("saturate", 1)) and out != "f4e2m1")
    q = ctx.cast(ctx.emit("round", q), "f64")
    if zp is not None:
        q = ctx.emit("add", q, ctx.cast(along(ctx, zp, x, axis, block), "f64"))
    return saturate(ctx, q, out)


@converter("DequantizeLinear")
def _dequantize(ctx: NodeContext) -> Value:
    x, scale = ctx.input(0), ctx.input(1)
    zp = ctx.input(2) if ctx.has(2) else None
    axis, block = ctx.attr("axis", 1), ctx.attr("block_size", 0)
    to = ctx.attr("output_dtype")
    out_fmt = format_of(to) if to else scale.fmt
    out = dtype_of(to, "output_dtype") if to else scale.dtype
    dx = ctx.cast(x, "f32")
    if zp is not None and not (x.fmt or "").startswith("f"):
        dx = ctx.emit("sub", dx, ctx.cast(along(ctx, zp, x, axis, block), "f32"))
    y = ctx.emit("mul", dx, ctx.cast(along(ctx, scale, x, axis, block), "f32"))
    return ctx.to_format(y, out_fmt, saturate=False) if out_fmt else ctx.cast(y, out)


def _centered(ctx: NodeContext, x: Value, zp: Value | None, dtype: str, zp_axis: int | None):
    v = ctx.cast(x, dtype)
    if zp is None:
        return v
    z = ctx.cast(zp, dtype)
    if zp_axis is not None and z.rank == 1 and z.shape[0] != 1:
        shape = [1] * x.rank
        shape[zp_axis] = -1
        z = ctx.reshape(z, shape)
    return ctx.emit("sub", v, z)


@converter("MatMulInteger")
def _matmul_integer(ctx: NodeContext) -> Value:
    a, b = ctx.input(0), ctx.input(1)
    za = ctx.input(2) if ctx.has(2) else None
    zb = ctx.input(3) if ctx.has(3) else None
    a = _centered(ctx, a, za, "i32", a.rank - 2 if a.rank >= 2 else None)
    b = _centered(ctx, b, zb, "i32", None)
    return ctx.cast(ctx.emit("matmul", a, b), "i32")


def _conv_f64(ctx: NodeContext, x: Value, w: Value, zx, zw) -> Value:
    from tfrt_ray.frontends.onnx.converters.nn import conv_attrs

    x = _centered(ctx, x, zx, "f64", None)
    w = _centered(ctx, w, zw, "f64", 0)
    attrs = conv_attrs(ctx, x, list(ctx.attr("kernel_shape") or w.shape[2:]))
    op = "conv2d" if w.rank == 4 else "conv"
    return ctx.emit(op, x, w, **attrs)


@converter("ConvInteger")
def _conv_integer(ctx: NodeContext) -> Value:
    zx = ctx.input(2) if ctx.has(2) else None
    zw = ctx.input(3) if ctx.has(3) else None
    return ctx.cast(_conv_f64(ctx, ctx.input(0), ctx.input(1), zx, zw), "i32")


def _requantize(ctx: NodeContext, acc: Value, sa: Value, sb: Value, sy: Value, zy: Value):
    m = ctx.cast(ctx.emit("div", ctx.emit("mul", sa, sb), sy), "f64")
    d = ctx.emit("mul", ctx.cast(acc, "f64"), m)
    d = ctx.emit("add", d, ctx.cast(zy, "f64"))
    return saturate(ctx, ctx.emit("round", d), zy.dtype)


@converter("QLinearMatMul")
def _qlinear_matmul(ctx: NodeContext) -> Value:
    a, sa, za, b, sb, zb, sy, zy = (ctx.input(i) for i in range(8))
    acc = ctx.emit("matmul", _centered(ctx, a, za, "i32", None),
                   _centered(ctx, b, zb, "i32", None))
    return _requantize(ctx, acc, sa, sb, sy, zy)


@converter("QLinearConv")
def _qlinear_conv(ctx: NodeContext) -> Value:
    x, sx, zx, w, sw, zw, sy, zy = (ctx.input(i) for i in range(8))
    acc = _conv_f64(ctx, x, w, zx, zw)
    if ctx.has(8):
        bias = ctx.cast(ctx.input(8), "f64")
        acc = ctx.emit("add", acc, ctx.reshape(bias, [-1] + [1] * (x.rank - 2)))
    acc = ctx.cast(acc, "i32")
    if sw.rank == 1 and sw.shape[0] != 1:
        sw = ctx.reshape(sw, [-1] + [1] * (x.rank - 2))
    return _requantize(ctx, acc, sx, sw, sy, zy)
