"""nn ops: conv2d, pooling, normalization, softmax, dropout and LRN (ONNX semantics,
NCHW layout)."""

from __future__ import annotations

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.batch_rules import BatchView, batch_rule, rows_of_first
from tfrt_ray.ir.ops.spec import (
    Attr,
    Cost,
    normalize_axis,
    op,
    require_dtype,
    require_same_dtype,
)
from tfrt_ray.ir.types import FLOAT_DTYPES, INT_DTYPES, Shape, TensorType

FLOATS = FLOAT_DTYPES
ORDERED = FLOAT_DTYPES + INT_DTYPES  # dtypes max pooling accepts


def _n(d: object) -> int:
    """A dim's size for cost estimates: a symbolic dim counts as 1."""
    return d if type(d) is int else 1


def _prod(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= _n(d)
    return n


def _known(*dims: object) -> bool:
    return all(type(d) is int for d in dims)


def _per_element(flops: float):
    def cost(ins, outs, attrs, moved):
        return Cost(flops * sum(t.numel for t in outs), float(moved))

    return cost


def _per_input_element(ins, outs, attrs, moved):
    return Cost(float(ins[0].numel), float(moved))


def _require_rank(x: TensorType, rank: int, what: str, layout: str, exact: bool = True) -> None:
    if (x.rank != rank) if exact else (x.rank < rank):
        need = f"rank {rank}" if exact else f"rank >= {rank}"
        raise ShapeError(
            f"{what} must have {need} ({layout}), got shape {tuple(x.shape)}",
            hint=f"reshape {what} to {layout}",
        )


def _check_ints(name: str, values: tuple, length: int, minimum: int) -> None:
    if len(values) != length or any(v < minimum for v in values):
        raise OpAttributeError(
            f"attribute '{name}' must be {length} ints >= {minimum}, got {values}",
            hint=f"pass {name} as a tuple of {length} ints >= {minimum}",
        )


def _same_dim(a: object, b: object) -> bool:
    """False only when both dims are static and differ (a symbol matches anything)."""
    return not _known(a, b) or a == b


def window_out(size, k, stride, dil, pad_begin, pad_end, ceil_mode, what: str = ""):
    """Output length of a sliding window along one spatial dim ("?" if not static)."""
    if not _known(size, k):
        return "?"
    eff = (k - 1) * dil + 1
    span = size + pad_begin + pad_end - eff
    if span < 0:
        raise ShapeError(
            f"the {what + ' ' if what else ''}window ({eff} with dilation) is larger than the "
            f"padded input "
            f"({size} + pads {pad_begin}, {pad_end})",
            hint="use a smaller kernel or dilation, or pad the input more",
        )
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    # ONNX / PyTorch: the last window must start inside the input or the begin padding.
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1
    return out


# ---- convolution ---------------------------------------------------------------------


def _conv_cost(ins, outs, attrs, moved):
    w = ins[1]
    n, cout, ho, wo = outs[0].shape
    flops = 2.0 * _n(n) * _n(cout) * _n(ho) * _n(wo) * _prod(w.shape[1:])
    return Cost(flops, float(moved))


@op(
    "conv2d",
    ("x", "w", "b?"),
    {
        "strides": Attr("ints", (1, 1)),
        "pads": Attr("ints", (0, 0, 0, 0)),
        "dilations": Attr("ints", (1, 1)),
        "group": Attr("int", 1),
    },
    family="nn",
    cost=_conv_cost,
)
def _conv2d(x, w, b=None, *, strides, pads, dilations, group) -> TensorType:
    """2-D convolution (cross-correlation), NCHW. ``w`` is (Cout, Cin/group, kh, kw) and
    ``b`` is (Cout,). ``pads`` is (top, left, bottom, right), ONNX order. Groups split the
    channels; group == Cin with Cin/group == 1 is depthwise. Float dtypes; inputs must
    share one dtype."""
    require_dtype(x, FLOATS, "x")
    require_dtype(w, FLOATS, "w")
    dtype = require_same_dtype(x, w, b)
    _require_rank(x, 4, "x", "N, C, H, W")
    _require_rank(w, 4, "w", "Cout, Cin/group, kh, kw")
    _check_ints("strides", strides, 2, 1)
    _check_ints("pads", pads, 4, 0)
    _check_ints("dilations", dilations, 2, 1)
    if group < 1:
        raise OpAttributeError(f"group must be >= 1, got {group}", hint="pass group >= 1")
    n, c, h, wd = x.shape
    cout, cin_g, kh, kw = w.shape
    if _known(c) and c % group:
        raise ShapeError(
            f"x has {c} channels, which is not divisible by group={group}",
            hint="use a group count that divides the input channels",
        )
    if _known(cout) and cout % group:
        raise ShapeError(
            f"w has {cout} output channels, which is not divisible by group={group}",
            hint="use a group count that divides the output channels",
        )
    if _known(c, cin_g) and cin_g * group != c:
        raise ShapeError(
            f"w expects {cin_g * group} input channels ({cin_g} per group x group={group}), "
            f"but x has {c}",
            hint="w's second dim must be Cin / group",
        )
    if b is not None and (b.rank != 1 or not _same_dim(b.shape[0], cout)):
        raise ShapeError(
            f"bias has shape {tuple(b.shape)}, expected ({cout},) (one per output channel)",
            hint="give b shape (Cout,)",
        )
    ho = window_out(h, kh, strides[0], dilations[0], pads[0], pads[2], False, "conv")
    wo = window_out(wd, kw, strides[1], dilations[1], pads[1], pads[3], False, "conv")
    return TensorType(dtype, (n, cout, ho, wo))


# ---- pooling -------------------------------------------------------------------------


def _pool_cost(ins, outs, attrs, moved):
    return Cost(float(outs[0].numel * _prod(attrs["kernel_shape"])), float(moved))


def _pool_shape(x, kernel_shape, strides, pads, dilations, ceil_mode, what) -> Shape:
    _require_rank(x, 4, "x", "N, C, H, W")
    _check_ints("kernel_shape", kernel_shape, 2, 1)
    _check_ints("strides", strides, 2, 1)
    _check_ints("pads", pads, 4, 0)
    _check_ints("dilations", dilations, 2, 1)
    for i in range(2):
        eff = (kernel_shape[i] - 1) * dilations[i] + 1
        if pads[i] >= eff or pads[i + 2] >= eff:
            raise ShapeError(
                f"pads {pads} are not smaller than the {what} window {kernel_shape} "
                "(a window could lie entirely in the padding)",
                hint="use pads smaller than the kernel size",
            )
    n, c, h, w = x.shape
    ho = window_out(
        h, kernel_shape[0], strides[0], dilations[0], pads[0], pads[2], ceil_mode, what
    )
    wo = window_out(
        w, kernel_shape[1], strides[1], dilations[1], pads[1], pads[3], ceil_mode, what
    )
    return (n, c, ho, wo)


@op(
    "max_pool2d",
    ("x",),
    {
        "kernel_shape": Attr("ints"),
        "strides": Attr("ints", None),
        "pads": Attr("ints", (0, 0, 0, 0)),
        "dilations": Attr("ints", (1, 1)),
        "ceil_mode": Attr("bool", False),
    },
    family="nn",
    cost=_pool_cost,
)
def _max_pool2d(x, *, kernel_shape, strides, pads, dilations, ceil_mode) -> TensorType:
    """2-D max pooling, NCHW (ONNX MaxPool, single output). Padding never wins the max
    (it is -inf, or the dtype's minimum for ints). ``strides`` defaults to 1s. With
    ``ceil_mode`` the last window may overhang the end, but must start inside the input
    or the begin padding."""
    require_dtype(x, ORDERED)
    strides = (1, 1) if strides is None else strides
    return TensorType(
        x.dtype, _pool_shape(x, kernel_shape, strides, pads, dilations, ceil_mode, "pool")
    )


@op(
    "avg_pool2d",
    ("x",),
    {
        "kernel_shape": Attr("ints"),
        "strides": Attr("ints", None),
        "pads": Attr("ints", (0, 0, 0, 0)),
        "ceil_mode": Attr("bool", False),
        "count_include_pad": Attr("bool", False),
    },
    family="nn",
    cost=_pool_cost,
)
def _avg_pool2d(x, *, kernel_shape, strides, pads, ceil_mode, count_include_pad) -> TensorType:
    """2-D average pooling, NCHW (ONNX AveragePool). The divisor counts the window's
    elements inside the input, plus those in the explicit padding when
    ``count_include_pad``; the ceil_mode overhang past the padding never counts."""
    require_dtype(x, FLOATS)
    strides = (1, 1) if strides is None else strides
    return TensorType(
        x.dtype, _pool_shape(x, kernel_shape, strides, pads, (1, 1), ceil_mode, "pool")
    )


def _global_pool(name: str, allowed: tuple[str, ...]) -> None:
    def infer(x: TensorType) -> TensorType:
        require_dtype(x, allowed)
        _require_rank(x, 3, "x", "N, C, spatial...", exact=False)
        if name == "global_max_pool" and any(d == 0 for d in x.shape[2:]):
            raise ShapeError(
                f"cannot take the max over empty spatial dims (shape {tuple(x.shape)})",
                hint="give x at least one element per (N, C) pair",
            )
        return TensorType(x.dtype, tuple(x.shape[:2]) + (1,) * (x.rank - 2))

    how = "mean" if name == "global_avg_pool" else "max"
    infer.__doc__ = f"The {how} over all spatial dims (2..): (N, C, H, W) -> (N, C, 1, 1)."
    op(name, ("x",), family="nn", cost=_per_input_element)(infer)


_global_pool("global_avg_pool", FLOATS)
_global_pool("global_max_pool", ORDERED)


# ---- normalization -------------------------------------------------------------------


@op(
    "batch_norm",
    ("x", "scale", "bias", "mean", "var"),
    {"epsilon": Attr("float", 1e-5)},
    family="nn",
    cost=_per_element(2.0),
)
def _batch_norm(x, scale, bias, mean, var, *, epsilon) -> TensorType:
    """Inference-mode batch normalization over channel axis 1:
    ``(x - mean) / sqrt(var + epsilon) * scale + bias``, each parameter of shape (C,).
    The result has x's dtype; the parameters may be any float dtype."""
    require_dtype(x, FLOATS, "x")
    _require_rank(x, 2, "x", "N, C, ...", exact=False)
    c = x.shape[1]
    for name, p in (("scale", scale), ("bias", bias), ("mean", mean), ("var", var)):
        require_dtype(p, FLOATS, name)
        if p.rank != 1 or not _same_dim(p.shape[0], c):
            raise ShapeError(
                f"{name} has shape {tuple(p.shape)}, but x has {c} channels (axis 1)",
                hint=f"give {name} shape ({c},), one value per channel",
            )
    return x


@op(
    "layer_norm",
    ("x", "scale", "bias?"),
    {"axis": Attr("int", -1), "epsilon": Attr("float", 1e-5)},
    family="nn",
    cost=_per_element(8.0),
)
def _layer_norm(x, scale, bias=None, *, axis, epsilon) -> TensorType:
    """ONNX LayerNormalization (single output): normalizes over dims ``axis..`` to mean 0
    and variance 1 (``epsilon`` added to the variance), then ``* scale + bias``; scale and
    bias broadcast to ``x.shape[axis:]``. The result has x's dtype."""
    require_dtype(x, FLOATS, "x")
    axis = normalize_axis(axis, x.rank)
    norm = tuple(x.shape[axis:])
    for name, p in (("scale", scale), ("bias", bias)):
        if p is None:
            continue
        require_dtype(p, FLOATS, name)
        tail = norm[len(norm) - p.rank :] if p.rank <= len(norm) else None
        if tail is None or not all(
            d == 1 or _same_dim(d, t) for d, t in zip(p.shape, tail, strict=True)
        ):
            raise ShapeError(
                f"{name} has shape {tuple(p.shape)}, which does not broadcast to the "
                f"normalized shape {norm} (x.shape[{axis}:])",
                hint=f"give {name} shape {norm}, or change axis",
            )
    return x


# ---- softmax, dropout, lrn -----------------------------------------------------------


def _softmax_like(name: str, what: str) -> None:
    def infer(x: TensorType, *, axis: int) -> TensorType:
        require_dtype(x, FLOATS)
        normalize_axis(axis, x.rank)
        return x

    infer.__doc__ = (
        f"{what} along one axis (ONNX opset 13 semantics), numerically stable: the "
        "maximum is subtracted first."
    )
    op(name, ("x",), {"axis": Attr("int", -1)}, family="nn", cost=_per_element(10.0))(infer)


_softmax_like("softmax", "softmax")
_softmax_like("log_softmax", "log(softmax)")


@op(
    "dropout",
    ("x",),
    {"ratio": Attr("float", 0.5)},
    family="nn",
    cost=lambda ins, outs, attrs, moved: Cost(0.0, 0.0),
)
def _dropout(x, *, ratio) -> TensorType:
    """Dropout at inference: the identity (x is returned unchanged; ``ratio`` is only
    checked). There is no training mode and no mask output."""
    require_dtype(x, FLOATS)
    if not 0.0 <= ratio < 1.0:
        raise OpAttributeError(
            f"ratio must be in [0, 1), got {ratio}", hint="pass a ratio in [0, 1)"
        )
    return x


@op(
    "lrn",
    ("x",),
    {
        "size": Attr("int"),
        "alpha": Attr("float", 1e-4),
        "beta": Attr("float", 0.75),
        "bias": Attr("float", 1.0),
    },
    family="nn",
    cost=lambda ins, outs, attrs, moved: Cost(
        float(outs[0].numel * (attrs["size"] + 10)), float(moved)
    ),
)
def _lrn(x, *, size, alpha, beta, bias) -> TensorType:
    """ONNX LRN across channels (axis 1): ``x / (bias + alpha / size * sum(x^2))^beta``,
    summing over channels ``[c - (size-1)//2, c + ceil((size-1)/2)]`` clipped to the
    channel range."""
    require_dtype(x, FLOATS)
    _require_rank(x, 3, "x", "N, C, D1, ...", exact=False)
    if size < 1:
        raise OpAttributeError(f"size must be >= 1, got {size}", hint="pass size >= 1")
    return x


# ---- batch-axis rules (`tfrt_ray.ir.ops.batch_rules`) ---------------------------------

batch_rule("conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "global_max_pool",
           "batch_norm", "lrn", "dropout")(rows_of_first)


@batch_rule("softmax", "log_softmax", only_first=True)
def _softmax_batch(v: BatchView) -> int | None:
    return v.a0 if v.attr("axis") % v.ranks[0] != v.a0 else None


@batch_rule("layer_norm", only_first=True)
def _layer_norm_batch(v: BatchView) -> int | None:
    return v.a0 if v.a0 < v.attr("axis") % v.ranks[0] else None
