"""N-d convolution and pooling with ONNX semantics (any number of spatial dims): conv,
conv_transpose, max_pool_nd, max_pool_argmax (with ONNX's flat Indices) and avg_pool_nd
(with dilations). Layout (N, C, D1, D2, ...); ``pads`` are all begins, then all ends.

Window output size: ``floor((size + pads - ((k - 1) * dilation + 1)) / stride) + 1``; with
``ceil_mode`` the ceiling, minus one when the last window would start past the input and
its begin padding (ONNX / PyTorch).
"""

from __future__ import annotations

import math

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.nn import window_out
from tfrt_ray.ir.ops.spec import Attr, Cost, op, require_dtype, require_same_dtype
from tfrt_ray.ir.types import FLOAT_DTYPES, INT_DTYPES, TensorType

ORDERED = FLOAT_DTYPES + INT_DTYPES


def _n(d: object) -> int:
    return d if type(d) is int else 1


def _check(x: TensorType, n: int, kernel, strides, pads, dilations, min_pad: int = 0) -> None:
    if x.rank != n + 2:
        raise ShapeError(
            f"x has shape {tuple(x.shape)}, but the window has {n} spatial dims",
            hint=f"give x rank {n + 2} (N, C, {n} spatial dims)",
        )
    for name, values, length, low in (
        ("kernel_shape", kernel, n, 1),
        ("strides", strides, n, 1),
        ("pads", pads, 2 * n, min_pad),
        ("dilations", dilations, n, 1),
    ):
        if len(values) != length or any(v < low for v in values):
            raise OpAttributeError(
                f"attribute '{name}' must be {length} ints >= {low}, got {tuple(values)}",
                hint=f"pass {name} as {length} ints >= {low}",
            )


def _spatial(x, kernel, strides, pads, dilations, ceil_mode) -> tuple:
    n = len(kernel)
    return tuple(
        window_out(x.shape[2 + i], kernel[i], strides[i], dilations[i], pads[i], pads[i + n],
                   ceil_mode)
        for i in range(n)
    )


def _conv_cost(ins, outs, attrs, moved):
    w = ins[1]
    return Cost(2.0 * outs[0].numel * math.prod(_n(d) for d in w.shape[1:]), float(moved))


_WINDOW = {
    "strides": Attr("ints"),
    "pads": Attr("ints"),
    "dilations": Attr("ints"),
}


@op("conv", ("x", "w", "b?"), {**_WINDOW, "group": Attr("int", 1)}, family="onnx_nn",
    cost=_conv_cost)
def _conv(x, w, b=None, *, strides, pads, dilations, group) -> TensorType:
    """N-d convolution (ONNX Conv): ``w`` is (Cout, Cin/group, k1, ..., kn), ``b`` (Cout,).
    Float dtypes, one dtype for all inputs."""
    require_dtype(x, FLOAT_DTYPES, "x")
    dtype = require_same_dtype(x, w, b)
    n = w.rank - 2
    _check(x, n, w.shape[2:] if all(type(d) is int for d in w.shape[2:]) else (1,) * n,
           strides, pads, dilations)
    if group < 1:
        raise OpAttributeError(f"group must be >= 1, got {group}", hint="pass group >= 1")
    c, cout, cin_g = x.shape[1], w.shape[0], w.shape[1]
    if all(type(d) is int for d in (c, cin_g)) and cin_g * group != c:
        raise ShapeError(
            f"w expects {cin_g * group} input channels ({cin_g} x group={group}), x has {c}",
            hint="w's second dim must be Cin / group",
        )
    if type(cout) is int and cout % group:
        raise ShapeError(f"{cout} output channels do not split into {group} groups",
                         hint="use a group count that divides Cout")
    return TensorType(dtype, (x.shape[0], cout) + _spatial(x, w.shape[2:], strides, pads,
                                                           dilations, False))


@op(
    "conv_transpose",
    ("x", "w", "b?"),
    {**_WINDOW, "group": Attr("int", 1), "output_padding": Attr("ints")},
    family="onnx_nn",
    cost=_conv_cost,
)
def _conv_transpose(x, w, b=None, *, strides, pads, dilations, group, output_padding):
    """N-d transposed convolution (ONNX ConvTranspose with explicit pads): ``w`` is
    (Cin, Cout/group, k1, ..., kn); each output dim is
    ``stride * (in - 1) + output_padding + (k - 1) * dilation + 1 - pad_begin - pad_end``
    (a negative pad adds zeros, plus the bias, on that side)."""
    require_dtype(x, FLOAT_DTYPES, "x")
    dtype = require_same_dtype(x, w, b)
    n = w.rank - 2
    _check(x, n, (1,) * n, strides, pads, dilations, min_pad=-(2**62))
    if len(output_padding) != n:
        raise OpAttributeError(f"output_padding needs {n} ints, got {output_padding}",
                               hint=f"pass {n} ints")
    if type(x.shape[1]) is int and type(w.shape[0]) is int and x.shape[1] != w.shape[0]:
        raise ShapeError(f"x has {x.shape[1]} channels, w expects {w.shape[0]}",
                         hint="w's first dim must be Cin")
    out = []
    for i in range(n):
        size, k = x.shape[2 + i], w.shape[2 + i]
        if type(size) is not int or type(k) is not int:
            out.append("?")
            continue
        d = strides[i] * (size - 1) + output_padding[i] + (k - 1) * dilations[i] + 1
        d -= pads[i] + pads[i + n]
        if d < 0:
            raise ShapeError(f"pads {pads} leave a negative output size", hint="pad less")
        out.append(d)
    cout = w.shape[1] * group if type(w.shape[1]) is int else "?"
    return TensorType(dtype, (x.shape[0], cout) + tuple(out))


_POOL = {
    "kernel_shape": Attr("ints"),
    **_WINDOW,
    "ceil_mode": Attr("bool", False),
}


def _pool_cost(ins, outs, attrs, moved):
    return Cost(float(outs[0].numel * math.prod(attrs["kernel_shape"])), float(moved))


def _pool_type(x, kernel_shape, strides, pads, dilations, ceil_mode) -> TensorType:
    _check(x, len(kernel_shape), kernel_shape, strides, pads, dilations)
    return TensorType(x.dtype, tuple(x.shape[:2]) + _spatial(
        x, kernel_shape, strides, pads, dilations, ceil_mode))


@op("max_pool_nd", ("x",), _POOL, family="onnx_nn", cost=_pool_cost)
def _max_pool_nd(x, *, kernel_shape, strides, pads, dilations, ceil_mode) -> TensorType:
    """N-d max pooling (ONNX MaxPool); padding never wins the max."""
    require_dtype(x, ORDERED)
    return _pool_type(x, kernel_shape, strides, pads, dilations, ceil_mode)


@op("max_pool_argmax", ("x",), {**_POOL, "storage_order": Attr("int", 0)}, family="onnx_nn",
    cost=_pool_cost)
def _max_pool_argmax(x, *, kernel_shape, strides, pads, dilations, ceil_mode, storage_order):
    """N-d max pooling that also returns where each max came from (ONNX MaxPool's
    Indices, i64): the index into the whole input flattened, row-major
    (``storage_order=0``) or column-major over the spatial dims (1). Ties: the first."""
    require_dtype(x, ORDERED)
    y = _pool_type(x, kernel_shape, strides, pads, dilations, ceil_mode)
    return y, TensorType("i64", y.shape)


@op("avg_pool_nd", ("x",), {**_POOL, "count_include_pad": Attr("bool", False)},
    family="onnx_nn", cost=_pool_cost)
def _avg_pool_nd(x, *, kernel_shape, strides, pads, dilations, ceil_mode, count_include_pad):
    """N-d average pooling (ONNX AveragePool): the divisor counts the window's elements in
    the input, plus those in the explicit pads with ``count_include_pad``; the ceil_mode
    overhang never counts."""
    require_dtype(x, FLOAT_DTYPES)
    return _pool_type(x, kernel_shape, strides, pads, dilations, ceil_mode)
