"""Shape ONNX ops. Shape-like inputs (Reshape's shape, Slice's starts, axes, pads, sizes)
must be known at import time and become attributes; Shape/Size of a static tensor are
constants."""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter
from tfrt_ray.frontends.onnx.tensors import dtype_of
from tfrt_ray.ir.types import dtype_token, numpy_dtype

INT64_MAX = 2**63 - 1


@converter("Constant")
def _constant(ctx: NodeContext) -> Value:
    for key, cast in (
        ("value", None),
        ("sparse_value", None),
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if ctx.has_attr(key):
            value = ctx.attr(key)
            return ctx.constant(value if cast is None else np.asarray(value, cast))
    if ctx.has_attr("value_string") or ctx.has_attr("value_strings"):
        raise ctx.error("string constants are not supported", hint="tfrt-ray holds no strings")
    raise ctx.error("Constant has no value attribute")


@converter("Reshape")
def _reshape(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    shape = ctx.attr("shape") if ctx.opset < 5 else ctx.ints(1, "shape")
    if ctx.attr("allowzero", 0) and 0 in shape:
        if -1 in shape:
            raise ctx.error("allowzero with both 0 and -1 in the shape is invalid", ShapeError)
        return ctx.emit("constant_of_shape", shape=tuple(shape), value=0.0, dtype=x.dtype)
    return ctx.reshape(x, shape)


@converter("Flatten")
def _flatten(ctx: NodeContext) -> Value:
    return ctx.emit("flatten", ctx.input(0), axis=ctx.attr("axis", 1))


@converter("Transpose")
def _transpose(ctx: NodeContext) -> Value:
    perm = ctx.attr("perm")
    return ctx.emit("transpose", ctx.input(0), perm=None if perm is None else tuple(perm))


@converter("Concat")
def _concat(ctx: NodeContext) -> Value:
    xs = [v for v in ctx.inputs if v is not None]
    return ctx.emit("concat", *xs, axis=ctx.attr("axis", 1))


@converter("Split")
def _split(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    axis = ctx.attr("axis", 0)
    sizes = ctx.attr("split") if ctx.opset < 13 else ctx.ints(1, "split")
    n = ctx.attr("num_outputs") or ctx.n_outputs
    if not sizes:
        dim = ctx.static_shape(x)[axis]
        chunk = -(-dim // n)
        sizes = [min(chunk, max(dim - i * chunk, 0)) for i in range(n)]
    outs = ctx.emit("split", x, axis=axis, sizes=tuple(sizes))
    return list(outs) if isinstance(outs, tuple) else [outs]


@converter("Slice")
def _slice(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    if ctx.opset < 10:
        starts, ends, axes, steps = ctx.attr("starts"), ctx.attr("ends"), ctx.attr("axes"), None
    else:
        starts, ends = ctx.ints(1, "starts"), ctx.ints(2, "ends")
        axes, steps = ctx.ints(3, "axes"), ctx.ints(4, "steps")
    clamp = [max(min(v, INT64_MAX), -(2**63)) for v in ends]
    return ctx.emit(
        "slice",
        x,
        starts=tuple(starts),
        ends=tuple(clamp),
        axes=None if axes is None else tuple(axes),
        steps=None if steps is None else tuple(steps),
    )


@converter("Gather")
def _gather(ctx: NodeContext) -> Value:
    return ctx.emit("gather", ctx.input(0), ctx.input(1), axis=ctx.attr("axis", 0))


@converter("Expand")
def _expand(ctx: NodeContext) -> Value:
    return ctx.emit("expand", ctx.input(0), shape=tuple(ctx.ints(1, "shape")))


def _axes(ctx: NodeContext, since: int) -> list[int] | None:
    return ctx.attr("axes") if ctx.opset < since else ctx.ints(1, "axes")


@converter("Squeeze")
def _squeeze(ctx: NodeContext) -> Value:
    axes = _axes(ctx, 13)
    x = ctx.input(0)
    if axes is None and not x.type.is_static:
        ctx.static_shape(x)
    return ctx.emit("squeeze", x, axes=None if axes is None else tuple(axes))


@converter("Unsqueeze")
def _unsqueeze(ctx: NodeContext) -> Value:
    return ctx.emit("unsqueeze", ctx.input(0), axes=tuple(_axes(ctx, 13)))


@converter("Tile")
def _tile(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    if ctx.opset < 6:
        tiles, axis = ctx.ints(1, "tiles")[0], ctx.ints(2, "axis")[0]
        repeats = [1] * x.rank
        repeats[axis] = tiles
    else:
        repeats = ctx.ints(1, "repeats")
    return ctx.emit("tile", x, repeats=tuple(repeats))


@converter("Pad")
def _pad(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    mode = ctx.attr("mode", "constant")
    if ctx.opset < 11:
        pads = ctx.attr("pads") if ctx.opset >= 2 else ctx.attr("paddings")
        value = ctx.attr("value", 0.0)
    else:
        pads = ctx.ints(1, "pads")
        cv = ctx.const(2, "constant_value")
        value = 0.0 if cv is None or cv.size == 0 else cv.reshape(-1)[0].item()
        axes = ctx.ints(3, "axes")
        if axes is not None:
            full = [0] * (2 * x.rank)
            for i, a in enumerate(axes):
                a %= x.rank
                full[a], full[a + x.rank] = pads[i], pads[i + len(axes)]
            pads = full
    if mode == "wrap":
        return _wrap_pad(ctx, x, list(pads))
    return ctx.emit("pad", x, pads=tuple(pads), mode=mode, value=float(value))


def _wrap_pad(ctx: NodeContext, x: Value, pads: list[int]) -> Value:
    r = x.rank
    crop = [min(p, 0) for p in pads]
    if any(crop):
        x = ctx.emit("pad", x, pads=tuple(crop), mode="constant", value=0.0)
    shape = ctx.static_shape(x)
    for axis in range(r):
        b, e = max(pads[axis], 0), max(pads[axis + r], 0)
        if not (b or e):
            continue
        d = shape[axis]
        idx = np.arange(-b, d + e) % d
        x = ctx.emit("gather", x, ctx.constant(idx.astype(np.int64)), axis=axis)
    return x


@converter("Shape")
def _shape(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    r = x.rank
    start, end = ctx.attr("start", 0), ctx.attr("end", r)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    dims = x.shape[start:end]
    if all(type(d) is int for d in dims):
        return ctx.constant(np.array(dims, np.int64).reshape(-1))
    s = ctx.emit("shape", x)
    if (start, end) == (0, r):
        return s
    return ctx.emit("slice", s, starts=(start,), ends=(max(end, start),))


@converter("Size")
def _size(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    if x.type.is_static:
        return ctx.constant(np.array(int(np.prod(x.shape)), np.int64))
    return ctx.emit("prod", ctx.emit("shape", x), axes=None, keepdims=False)


@converter("ConstantOfShape")
def _constant_of_shape(ctx: NodeContext) -> Value:
    shape = tuple(ctx.ints(0, "shape"))
    value = ctx.attr("value")
    if value is None:
        value = np.zeros((1,), np.float32)
    dtype = dtype_token(value.dtype)
    v = value.reshape(-1)[0]
    if float(v) == v or np.isnan(v):
        return ctx.emit("constant_of_shape", shape=shape, value=float(v), dtype=dtype)
    return ctx.constant(np.full(shape, v, value.dtype))


@converter("Range")
def _range(ctx: NodeContext) -> Value:
    start, limit, delta = (ctx.item(i, w) for i, w in enumerate(("start", "limit", "delta")))
    dtype = ctx.input(0).dtype
    return ctx.emit(
        "range",
        start=float(start),
        limit=float(limit),
        delta=float(delta),
        dtype=dtype,
    )


@converter("Dropout")
def _dropout(ctx: NodeContext) -> list[Value]:
    x = ctx.input(0)
    ratio = ctx.const(1, "ratio") if ctx.opset >= 12 else None
    training = ctx.const(2, "training_mode") if ctx.opset >= 12 else None
    ratio = ctx.attr("ratio", 0.5) if ctx.opset < 12 else (0.5 if ratio is None else float(ratio))
    if training is not None and bool(training) and ratio > 0:
        raise ctx.error(
            "Dropout in training mode (random masks) is not supported",
            OpAttributeError,
            hint="export the model in eval mode (training_mode=False)",
        )
    outs: list = [x]
    if ctx.wants(1):
        shape = ctx.static_shape(x)
        outs.append(ctx.emit("constant_of_shape", shape=shape, value=1.0, dtype="i1"))
    return outs


@converter("EyeLike")
def _eye_like(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    rows, cols = ctx.static_shape(x)
    dt = ctx.attr("dtype")
    dtype = x.dtype if dt is None else dtype_of(dt, f"EyeLike's dtype of node '{ctx.name}'")
    return ctx.constant(np.eye(rows, cols, ctx.attr("k", 0), dtype=numpy_dtype(dtype)))


@converter("Trilu")
def _trilu(ctx: NodeContext) -> Value:
    x = ctx.input(0)
    k = ctx.ints(1, "k")
    k = 0 if k is None else k[0]
    rows, cols = ctx.static_shape(x)[-2:]
    upper = ctx.attr("upper", 1)
    keep = np.triu(np.ones((rows, cols), bool), k) if upper else np.tril(
        np.ones((rows, cols), bool), k
    )
    return ctx.emit("where", ctx.constant(keep), x, ctx.scalar(0, x))


def _space_depth(ctx: NodeContext, to_depth: bool) -> Value:
    x = ctx.input(0)
    n, c, h, w = ctx.static_shape(x)
    b = ctx.attr("blocksize")
    mode = ctx.attr("mode", "DCR")
    if to_depth:
        y = ctx.reshape(x, (n, c, h // b, b, w // b, b))
        perm = (0, 1, 3, 5, 2, 4) if mode == "CRD" else (0, 3, 5, 1, 2, 4)
        y = ctx.emit("transpose", y, perm=perm)
        return ctx.reshape(y, (n, c * b * b, h // b, w // b))
    if mode == "DCR":
        y = ctx.reshape(x, (n, b, b, c // (b * b), h, w))
        y = ctx.emit("transpose", y, perm=(0, 3, 4, 1, 5, 2))
    else:
        y = ctx.reshape(x, (n, c // (b * b), b, b, h, w))
        y = ctx.emit("transpose", y, perm=(0, 1, 4, 2, 5, 3))
    return ctx.reshape(y, (n, c // (b * b), h * b, w * b))


@converter("DepthToSpace")
def _depth_to_space(ctx: NodeContext) -> Value:
    return _space_depth(ctx, False)


@converter("SpaceToDepth")
def _space_to_depth(ctx: NodeContext) -> Value:
    return _space_depth(ctx, True)


@converter("OneHot")
def _one_hot(ctx: NodeContext) -> Value:
    indices, values = ctx.input(0), ctx.input(2)
    depth = int(np.asarray(ctx.const(1, "depth")).reshape(-1)[0])
    axis = ctx.attr("axis", -1)
    rank = indices.rank + 1
    axis = axis + rank if axis < 0 else axis
    idx = ctx.cast(indices, "i64")
    neg = ctx.emit("less", idx, ctx.scalar(0, idx))
    idx = ctx.emit("where", neg, ctx.emit("add", idx, ctx.scalar(depth, idx)), idx)
    idx = ctx.emit("unsqueeze", idx, axes=(axis,))
    shape = [1] * rank
    shape[axis] = depth
    positions = ctx.constant(np.arange(depth, dtype=np.int64).reshape(shape))
    hit = ctx.emit("equal", idx, positions)
    off = ctx.reshape(ctx.emit("slice", values, starts=(0,), ends=(1,)), ())
    on = ctx.reshape(ctx.emit("slice", values, starts=(1,), ends=(2,)), ())
    return ctx.emit("where", hit, on, off)
