"""Shape ops that copy: transpose, concat, split, slice, gather, expand, pad, tile (the
family "shapes"; its views, generators and shared helpers are in `shapes`, whose module
docstring gives the semantics)."""

from __future__ import annotations

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.batch_rules import BatchView, batch_rule
from tfrt_ray.ir.ops.shapes import (
    INT64_MAX,
    INT64_MIN,
    PAD_MODES,
    _axes,
    _dims_nonneg,
    _merge,
    _need_rank,
    _shapes_op,
    product,
    slice_bounds,
)
from tfrt_ray.ir.ops.spec import (
    Attr,
    broadcast_shapes,
    normalize_axis,
    require_dtype,
    require_same_dtype,
)
from tfrt_ray.ir.types import INT_DTYPES, TensorType

# ---- copies --------------------------------------------------------------------------


@_shapes_op("transpose", ("x",), {"perm": Attr("ints", None, optional=True)})
def _transpose(x: TensorType, *, perm: tuple[int, ...] | None) -> TensorType:
    """Permutes dims (reverses them when perm is None)."""
    if perm is None:
        return TensorType(x.dtype, x.shape[::-1])
    r = x.rank
    if len(perm) != r or sorted(p % r for p in perm if -r <= p < r) != list(range(r)):
        raise ShapeError(
            f"perm {list(perm)} is not a permutation of the {x.rank} axes",
            hint=f"list each of 0..{x.rank - 1} once",
        )
    return TensorType(x.dtype, tuple(x.shape[p] for p in perm))


@_shapes_op("concat", ("*xs",), {"axis": Attr("int")})
def _concat(*xs: TensorType, axis: int) -> TensorType:
    """Joins inputs along ``axis``; the other dims and the dtypes must match."""
    dtype = require_same_dtype(*xs)
    rank = xs[0].rank
    _need_rank(xs[0], "concat")
    if any(x.rank != rank for x in xs):
        raise ShapeError(f"inputs have ranks {[x.rank for x in xs]}", hint="make the ranks equal")
    a = normalize_axis(axis, rank)
    out = list(xs[0].shape)
    for i in range(rank):
        if i != a:
            for x in xs[1:]:
                out[i] = _merge(out[i], x.shape[i], f"inputs differ in dim {i} (not the axis)")
    parts = [x.shape[a] for x in xs if x.shape[a] != 0]
    if len(parts) == 1:
        out[a] = parts[0]
    else:
        out[a] = sum(parts) if all(type(d) is int for d in parts) else "?"
    return TensorType(dtype, tuple(out))


@_shapes_op("split", ("x",), {"axis": Attr("int", 0), "sizes": Attr("ints")})
def _split(x: TensorType, *, axis: int, sizes: tuple[int, ...]) -> tuple[TensorType, ...]:
    """Splits along ``axis`` into pieces of ``sizes``, which sum to that dim."""
    _need_rank(x, "split")
    a = normalize_axis(axis, x.rank)
    if not sizes:
        raise ShapeError("sizes is empty", hint="give at least one size")
    _dims_nonneg(sizes, "sizes")
    d = x.shape[a]
    if type(d) is int and sum(sizes) != d:
        raise ShapeError(
            f"sizes {list(sizes)} sum to {sum(sizes)}, but axis {a} has size {d}",
            hint=f"make the sizes sum to {d}",
        )
    return tuple(TensorType(x.dtype, x.shape[:a] + (s,) + x.shape[a + 1 :]) for s in sizes)


@_shapes_op(
    "slice",
    ("x",),
    {
        "starts": Attr("ints"),
        "ends": Attr("ints"),
        "axes": Attr("ints", None, optional=True),
        "steps": Attr("ints", None, optional=True),
    },
)
def _slice(x: TensorType, *, starts, ends, axes, steps) -> TensorType:
    """ONNX Slice: per-axis start/end/step, negative indices, out-of-range ends clamped."""
    n = len(starts)
    axes = tuple(range(n)) if axes is None else axes
    steps = (1,) * n if steps is None else steps
    if not len(ends) == len(axes) == len(steps) == n:
        raise ShapeError(
            f"starts, ends, axes and steps have lengths {n}, {len(ends)}, {len(axes)}, "
            f"{len(steps)}",
            hint="give one start, end (and axis, step) per sliced axis",
        )
    out = list(x.shape)
    for a, s, e, st in zip(_axes(axes, x.rank), starts, ends, steps, strict=True):
        if st == 0:
            raise ShapeError(f"step 0 on axis {a}", hint="steps must be non-zero")
        d = x.shape[a]
        if type(d) is int:
            out[a] = slice_bounds(d, s, e, st)[2]
        elif (st == 1 and s == 0 and e >= INT64_MAX) or (
            st == -1 and s in (-1, INT64_MAX) and e <= INT64_MIN
        ):
            out[a] = d  # the whole axis, forwards or reversed
        else:
            out[a] = "?"
    return TensorType(x.dtype, tuple(out))


@_shapes_op("gather", ("data", "indices"), {"axis": Attr("int", 0)})
def _gather(data: TensorType, indices: TensorType, *, axis: int) -> TensorType:
    """ONNX Gather: takes ``indices`` (negative count from the end) along ``axis``."""
    require_dtype(indices, INT_DTYPES, "indices")
    _need_rank(data, "gather")
    a = normalize_axis(axis, data.rank)
    if data.shape[a] == 0 and indices.numel > 0 and indices.is_static:
        raise ShapeError(f"gather from axis {a}, which has size 0", hint="gather no indices")
    return TensorType(data.dtype, data.shape[:a] + indices.shape + data.shape[a + 1 :])


@_shapes_op("expand", ("x",), {"shape": Attr("ints")})
def _expand(x: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    """ONNX Expand: broadcasts ``x`` with ``shape`` (both ways)."""
    _dims_nonneg(shape, "shape")
    return TensorType(x.dtype, broadcast_shapes(x.shape, tuple(shape)))


@_shapes_op(
    "pad",
    ("x",),
    {"pads": Attr("ints"), "mode": Attr("str", "constant"), "value": Attr("float", 0.0)},
)
def _pad(x: TensorType, *, pads: tuple[int, ...], mode: str, value: float) -> TensorType:
    """ONNX Pad: ``pads`` = all begins then all ends; negative entries crop."""
    if mode not in PAD_MODES:
        raise OpAttributeError(f"mode {mode!r} is unknown", hint=f"use one of {PAD_MODES}")
    r = x.rank
    if len(pads) != 2 * r:
        raise ShapeError(
            f"pads has {len(pads)} entries for a tensor of rank {r}",
            hint=f"give {2 * r}: every begin, then every end",
        )
    out = list(x.shape)
    for i, d in enumerate(x.shape):
        b, e = pads[i], pads[i + r]
        if type(d) is not int:
            out[i] = d if b == e == 0 else "?"
            continue
        kept = d + min(b, 0) + min(e, 0)
        if kept < 0:
            raise ShapeError(
                f"pads crop {d - kept} from axis {i}, which has size {d}", hint="crop less"
            )
        grow = max(b, e, 0)
        if mode != "constant" and grow and kept == 0:
            raise ShapeError(f"{mode} padding of axis {i}, which is empty", hint="use constant")
        if mode == "reflect" and grow > kept - 1:
            raise ShapeError(
                f"reflect padding of {grow} on axis {i} of size {kept}",
                hint=f"pad axis {i} by at most {kept - 1}, or use mode 'edge'",
            )
        out[i] = d + b + e
    return TensorType(x.dtype, tuple(out))


@_shapes_op("tile", ("x",), {"repeats": Attr("ints")})
def _tile(x: TensorType, *, repeats: tuple[int, ...]) -> TensorType:
    """Repeats the tensor ``repeats[i]`` times along each axis i."""
    if len(repeats) != x.rank:
        raise ShapeError(
            f"repeats has {len(repeats)} entries for a tensor of rank {x.rank}",
            hint="give one repeat count per axis",
        )
    _dims_nonneg(repeats, "repeats")
    return TensorType(
        x.dtype, tuple(product((d, r)) for d, r in zip(x.shape, repeats, strict=True))
    )


# ---- batch-axis rules (`tfrt_ray.ir.ops.batch_rules`) ---------------------------------


@batch_rule("transpose", only_first=True)
def _transpose_batch(v: BatchView) -> int | None:
    perm = v.attr("perm") or tuple(reversed(range(v.ranks[0])))
    return [p % v.ranks[0] for p in perm].index(v.a0)


@batch_rule("concat", only_first=True)
def _concat_batch(v: BatchView) -> int | None:
    return v.a0 if v.attr("axis") % v.ranks[0] != v.a0 and len(set(v.in_axes)) == 1 else None


@batch_rule("split", only_first=True)
def _split_batch(v: BatchView) -> int | None:
    return v.a0 if v.attr("axis") % v.ranks[0] != v.a0 else None


@batch_rule("slice", only_first=True)
def _slice_batch(v: BatchView) -> int | None:
    axes = v.attr("axes") or tuple(range(len(v.attr("starts"))))
    return None if v.a0 in {x % v.ranks[0] for x in axes} else v.a0


@batch_rule("gather", only_first=True)
def _gather_batch(v: BatchView) -> int | None:
    ax = v.attr("axis") % v.ranks[0]
    if ax == v.a0:
        return None
    return v.a0 if v.a0 < ax else v.a0 + v.ranks[1] - 1


@batch_rule("pad", only_first=True)
def _pad_batch(v: BatchView) -> int | None:
    pads = v.attr("pads")
    return v.a0 if pads[v.a0] == 0 and pads[v.a0 + v.ranks[0]] == 0 else None


@batch_rule("tile", only_first=True)
def _tile_batch(v: BatchView) -> int | None:
    return v.a0 if v.attr("repeats")[v.a0] == 1 else None


@batch_rule("expand", only_first=True)
def _expand_batch(v: BatchView) -> int | None:
    return v.a0 + v.out_rank - v.ranks[0]
