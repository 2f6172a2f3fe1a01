"""nn ONNX ops: convolution, pooling, normalization, softmax family, Gemm/MatMul/Einsum.

2-D convolutions and pools map onto the 2-D ops (conv2d, max_pool2d, avg_pool2d); 1-D and
3-D ones (and pools with dilations or an Indices output) onto the N-d ops.
"""

from __future__ import annotations

import math

import numpy as np

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.ir.types import FLOAT_DTYPES


def window_pads(
    ctx: NodeContext, x: Value, kernel: list[int], strides: list[int], dilations: list[int]
) -> list[int]:
    """Explicit pads (all begins, then all ends) from ``pads`` or ``auto_pad``."""
    n = len(kernel)
    auto = ctx.attr("auto_pad", "NOTSET")
    if auto in ("NOTSET", ""):
        pads = ctx.attr("pads")
        return list(pads) if pads else [0] * (2 * n)
    if auto == "VALID":
        return [0] * (2 * n)
    spatial = ctx.static_shape(x)[2:]
    begins, ends = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations, strict=True):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begins.append(small if auto == "SAME_UPPER" else big)
        ends.append(big if auto == "SAME_UPPER" else small)
    return begins + ends


def _window_attrs(ctx: NodeContext, x: Value, kernel: list[int]):
    n = len(kernel)
    strides = list(ctx.attr("strides") or [1] * n)
    dilations = list(ctx.attr("dilations") or [1] * n)
    return strides, dilations, window_pads(ctx, x, kernel, strides, dilations)


def conv_attrs(ctx: NodeContext, x: Value, kernel: list[int]) -> dict:
    """conv2d / conv attributes of an ONNX Conv-like node."""
    strides, dilations, pads = _window_attrs(ctx, x, kernel)
    return dict(strides=strides, pads=pads, dilations=dilations, group=ctx.attr("group", 1))


@converter("Conv")
def _conv(ctx: NodeContext) -> Value:
    x, w = ctx.input(0), ctx.input(1)
    b = ctx.input(2) if ctx.has(2) else None
    kernel = list(ctx.attr("kernel_shape") or w.shape[2:])
    return ctx.emit("conv2d" if len(kernel) == 2 else "conv", x, w, b,
                    **conv_attrs(ctx, x, kernel))


@converter("ConvTranspose")
def _conv_transpose(ctx: NodeContext) -> Value:
    x, w = ctx.input(0), ctx.input(1)
    b = ctx.input(2) if ctx.has(2) else None
    kernel = list(ctx.attr("kernel_shape") or w.shape[2:])
    n = len(kernel)
    strides = list(ctx.attr("strides") or [1] * n)
    dilations = list(ctx.attr("dilations") or [1] * n)
    out_pad = list(ctx.attr("output_padding") or [0] * n)
    pads = list(ctx.attr("pads") or [0] * (2 * n))
    output_shape = ctx.attr("output_shape")
    auto = ctx.attr("auto_pad", "NOTSET")
    if output_shape or auto in ("SAME_UPPER", "SAME_LOWER"):
        spatial = ctx.static_shape(x)[2:]
        target = list(output_shape)[-n:] if output_shape else [
            s * st for s, st in zip(spatial, strides, strict=True)
        ]
        for i in range(n):
            total = (
                strides[i] * (spatial[i] - 1) + out_pad[i] + (kernel[i] - 1) * dilations[i] + 1
                - target[i]
            )
            small, big = total // 2, total - total // 2
            upper = auto == "SAME_UPPER"
            pads[i], pads[i + n] = (small, big) if upper else (big, small)
    elif auto == "VALID":
        pads = [0] * (2 * n)
    return ctx.emit(
        "conv_transpose",
        x,
        w,
        b,
        strides=strides,
        pads=pads,
        dilations=dilations,
        group=ctx.attr("group", 1),
        output_padding=out_pad,
    )


@converter("MaxPool")
def _max_pool(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    kernel = list(ctx.attr("kernel_shape"))
    strides, dilations, pads = _window_attrs(ctx, x, kernel)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    attrs = dict(kernel_shape=kernel, strides=strides, pads=pads, dilations=dilations,
                 ceil_mode=ceil_mode)
    if ctx.wants(1):
        y, idx = ctx.emit(
            "max_pool_argmax", x, storage_order=ctx.attr("storage_order", 0), **attrs
        )
        return [y, idx]
    if len(kernel) == 2:
        return [ctx.emit("max_pool2d", x, **attrs)]
    return [ctx.emit("max_pool_nd", x, **attrs)]


@converter("AveragePool")
def _avg_pool(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    kernel = list(ctx.attr("kernel_shape"))
    strides, dilations, pads = _window_attrs(ctx, x, kernel)
    attrs = dict(
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        ceil_mode=bool(ctx.attr("ceil_mode", 0)),
        count_include_pad=bool(ctx.attr("count_include_pad", 0)),
    )
    if len(kernel) == 2 and all(d == 1 for d in dilations):
        return ctx.emit("avg_pool2d", x, **attrs)
    return ctx.emit("avg_pool_nd", x, dilations=dilations, **attrs)


@converter("LpPool")
def _lp_pool(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    p = ctx.attr("p", 2)
    kernel = list(ctx.attr("kernel_shape"))
    strides, dilations, pads = _window_attrs(ctx, x, kernel)
    powered = ctx.emit("pow", ctx.emit("abs", x), ctx.scalar(p, x))
    mean = ctx.emit(
        "avg_pool_nd",
        powered,
        kernel_shape=kernel,
        strides=strides,
        pads=pads,
        dilations=dilations,
        ceil_mode=bool(ctx.attr("ceil_mode", 0)),
        count_include_pad=True,
    )
    total = ctx.emit("mul", mean, ctx.scalar(math.prod(kernel), x))
    return ctx.emit("pow", total, ctx.scalar(1.0 / p, x))


@converter("GlobalAveragePool")
def _global_avg_pool(ctx: NodeContext) -> Value:
    return ctx.emit("global_avg_pool", ctx.input(0))


@converter("GlobalMaxPool")
def _global_max_pool(ctx: NodeContext) -> Value:
    return ctx.emit("global_max_pool", ctx.input(0))


@converter("GlobalLpPool")
def _global_lp_pool(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    p = ctx.attr("p", 2)
    powered = ctx.emit("pow", ctx.emit("abs", x), ctx.scalar(p, x))
    total = ctx.emit("sum", powered, axes=tuple(range(2, x.rank)), keepdims=True)
    return ctx.emit("pow", total, ctx.scalar(1.0 / p, x))


def channel_shaped(ctx: NodeContext, v: Value, rank: int) -> Value:
    """A per-channel (C,) vector as (C, 1, ..., 1) to broadcast against (N, C, ...)."""
    return ctx.emit("unsqueeze", v, axes=tuple(range(1, rank - 1))) if rank > 2 else v


@converter("BatchNormalization")
def _batch_norm(ctx: NodeContext) -> list[Value]:
    x, scale, bias, mean, var = (ctx.input(i) for i in range(5))
    eps = ctx.attr("epsilon", 1e-5)
    if not ctx.attr("training_mode", 0):
        return [ctx.emit("batch_norm", x, scale, bias, mean, var, epsilon=eps)]
    momentum = ctx.attr("momentum", 0.9)
    axes = tuple(i for i in range(x.rank) if i != 1)
    m = ctx.emit("mean", x, axes=axes, keepdims=False)
    centered = ctx.emit("sub", x, channel_shaped(ctx, m, x.rank))
    v = ctx.emit("mean", ctx.emit("mul", centered, centered), axes=axes, keepdims=False)
    y = ctx.emit("batch_norm", x, scale, bias, m, v, epsilon=eps)
    mom = ctx.scalar(momentum, mean)
    rest = ctx.scalar(1 - momentum, mean)
    run_mean = ctx.emit("add", ctx.emit("mul", mean, mom), ctx.emit("mul", m, rest))
    run_var = ctx.emit("add", ctx.emit("mul", var, mom), ctx.emit("mul", v, rest))
    return [y, run_mean, run_var]


def normalize(ctx: NodeContext, x: Value, axes: tuple[int, ...], eps: float):
    """(x - mean) / sqrt(var + eps) over ``axes``; also returns mean and 1/sqrt(var+eps)."""
    mean = ctx.emit("mean", x, axes=axes, keepdims=True)
    d = ctx.emit("sub", x, mean)
    var = ctx.emit("mean", ctx.emit("mul", d, d), axes=axes, keepdims=True)
    inv = ctx.emit("reciprocal", ctx.emit("sqrt", ctx.emit("add", var, ctx.scalar(eps, x))))
    return ctx.emit("mul", d, inv), mean, inv


@converter("InstanceNormalization")
def _instance_norm(ctx: NodeContext) -> Value:
    x, scale, bias = ctx.input(0), ctx.input(1), ctx.input(2)
    y, _, _ = normalize(ctx, x, tuple(range(2, x.rank)), ctx.attr("epsilon", 1e-5))
    y = ctx.emit("mul", y, channel_shaped(ctx, scale, x.rank))
    return ctx.emit("add", y, channel_shaped(ctx, bias, x.rank))


@converter("LayerNormalization")
def _layer_norm(ctx: NodeContext) -> list[Value]:
    x, scale = ctx.input(0), ctx.input(1)
    bias = ctx.input(2) if ctx.has(2) else None
    axis, eps = ctx.attr("axis", -1), ctx.attr("epsilon", 1e-5)
    if not (ctx.wants(1) or ctx.wants(2)):
        return [ctx.emit("layer_norm", x, scale, bias, axis=axis, epsilon=eps)]
    axis %= x.rank
    stash = "f32" if ctx.attr("stash_type", 1) == 1 and x.dtype == "f16" else x.dtype
    xs = ctx.cast(x, stash)
    y, mean, inv = normalize(ctx, xs, tuple(range(axis, x.rank)), eps)
    y = ctx.cast(y, x.dtype)
    y = ctx.emit("mul", y, scale)
    if bias is not None:
        y = ctx.emit("add", y, bias)
    return [y, mean, inv]


@converter("LpNormalization")
def _lp_normalization(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    axis, p = ctx.attr("axis", -1) % x.rank, ctx.attr("p", 2)
    if p == 1:
        norm = ctx.emit("sum", ctx.emit("abs", x), axes=(axis,), keepdims=True)
    else:
        norm = ctx.emit("sqrt", ctx.emit("sum", ctx.emit("mul", x, x), axes=(axis,),
                                         keepdims=True))
    zero = ctx.emit("equal", norm, ctx.scalar(0, norm))
    safe = ctx.emit("where", zero, ctx.scalar(1, norm), norm)
    return ctx.emit("where", zero, ctx.scalar(0, x), ctx.emit("div", x, safe))


@converter("LRN")
def _lrn(ctx: NodeContext) -> Value:
    return ctx.emit(
        "lrn",
        ctx.input(0),
        size=ctx.attr("size"),
        alpha=ctx.attr("alpha", 1e-4),
        beta=ctx.attr("beta", 0.75),
        bias=ctx.attr("bias", 1.0),
    )


def _softmax_family(ctx: NodeContext, apply) -> Value:
    """Opset 13+: along ``axis`` (default -1). Before: over the flattened 2-D view
    ``(prod(shape[:axis]), prod(shape[axis:]))``, axis default 1."""
    x = ctx.input(0)
    if ctx.opset >= 13:
        return apply(x, ctx.attr("axis", -1))
    axis = ctx.attr("axis", 1) % max(x.rank, 1)
    if axis == x.rank - 1:
        return apply(x, -1)
    shape = ctx.static_shape(x)
    flat = ctx.reshape(x, (math.prod(shape[:axis]), math.prod(shape[axis:])))
    return ctx.reshape(apply(flat, 1), shape)


@converter("Softmax")
def _softmax(ctx: NodeContext) -> Value:
    return _softmax_family(ctx, lambda x, a: ctx.emit("softmax", x, axis=a))


@converter("LogSoftmax")
def _log_softmax(ctx: NodeContext) -> Value:
    return _softmax_family(ctx, lambda x, a: ctx.emit("log_softmax", x, axis=a))


@converter("Hardmax")
def _hardmax(ctx: NodeContext) -> Value:
    def hardmax(x: Value, axis: int) -> Value:
        axis %= x.rank
        n = ctx.static_shape(x)[axis]
        idx = ctx.emit("argmax", x, axis=axis, keepdims=True)
        shape = [1] * x.rank
        shape[axis] = n
        hit = ctx.emit("equal", idx, ctx.constant(np.arange(n, dtype=np.int64).reshape(shape)))
        return ctx.cast(hit, x.dtype)

    return _softmax_family(ctx, hardmax)


@converter("Gemm")
def _gemm(ctx: NodeContext) -> Value:
    a, b = ctx.input(0), ctx.input(1)
    c = ctx.input(2) if ctx.has(2) else None
    alpha, beta = ctx.attr("alpha", 1.0), ctx.attr("beta", 1.0)
    ta, tb = bool(ctx.attr("transA", 0)), bool(ctx.attr("transB", 0))
    if a.dtype in FLOAT_DTYPES:
        return ctx.emit("gemm", a, b, c, alpha=alpha, beta=beta, trans_a=ta, trans_b=tb)
    a = ctx.emit("transpose", a) if ta else a
    b = ctx.emit("transpose", b) if tb else b
    y = ctx.emit("matmul", a, b)
    if alpha != 1.0:
        y = ctx.emit("mul", y, ctx.scalar(alpha, y))
    if c is not None:
        y = ctx.emit("add", y, c if beta == 1.0 else ctx.emit("mul", c, ctx.scalar(beta, c)))
    return y


@converter("MatMul")
def _matmul(ctx: NodeContext) -> Value:
    return ctx.emit("matmul", ctx.input(0), ctx.input(1))


@converter("Einsum")
def _einsum(ctx: NodeContext) -> Value:
    xs = [v for v in ctx.inputs if v is not None]
    return ctx.emit("einsum", *xs, equation=ctx.attr("equation").replace(" ", ""))
