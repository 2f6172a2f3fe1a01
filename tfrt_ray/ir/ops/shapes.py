"""Shape ops: the views reshape, squeeze, unsqueeze and flatten, shape, and the generators
constant, constant_of_shape and range; the copies (transpose, concat, split, slice,
gather, expand, pad, tile) are in `shape_copies`, with the helpers here.

Semantics follow ONNX (Reshape with allowzero=0, Slice, Gather, Expand, Flatten, Pad).
Shape rules accept symbolic dims; an output dim that depends on an unknown is ``"?"``
(or the symbol itself where it passes through unchanged). As in `broadcast_shapes`, a
symbolic dim is assumed not to be 1 (``squeeze`` with ``axes=None`` keeps it).

Choices beyond ONNX: ``concat`` needs one dtype; ``pad`` crops (negative pads) before it
pads, and ``reflect`` needs each pad to be at most the (cropped) dim minus 1; ``expand``
returns a fresh copy; ``range`` computes ``start + i * delta`` in f64, then casts.
"""

from __future__ import annotations

import math
from collections import Counter

from tfrt_ray.errors import DTypeError, OpAttributeError, ShapeError
from tfrt_ray.ir.ops.batch_rules import BatchView, batch_rule
from tfrt_ray.ir.ops.spec import (
    Attr,
    Cost,
    normalize_axis,
    op,
)
from tfrt_ray.ir.types import TensorType

INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
PAD_MODES = ("constant", "reflect", "edge")


def _view_cost(ins, outs, attrs, moved) -> Cost:
    return Cost(0.0, 0.0)


def _copy_cost(ins, outs, attrs, moved) -> Cost:
    return Cost(0.0, float(sum(t.nbytes for t in outs)))


def _shapes_op(name: str, inputs: tuple[str, ...], attrs=None, view: bool = False):
    return op(name, inputs, attrs, family="shapes", cost=_view_cost if view else _copy_cost)


# ---- helpers -------------------------------------------------------------------------


def _axes(axes, rank: int) -> list[int]:
    """Normalized axes; raises ShapeError when one is out of range or repeated."""
    if axes and rank == 0:
        raise ShapeError(f"axes {list(axes)} given for a tensor of rank 0", hint="pass no axes")
    norm = [normalize_axis(a, rank) for a in axes]
    if len(set(norm)) != len(norm):
        raise ShapeError(f"axes {list(axes)} name an axis more than once", hint="list it once")
    return norm


def _need_rank(x: TensorType, name: str) -> None:
    if x.rank == 0:
        raise ShapeError(f"{name} needs a tensor of rank >= 1", hint="reshape it to (1,) first")


def _dims_nonneg(shape, what: str) -> None:
    if any(d < 0 for d in shape):
        raise ShapeError(f"{what} {list(shape)} has a negative size", hint="sizes must be >= 0")


def _factor(dims) -> tuple[int, Counter, int]:
    """(product of static dims, named symbols, number of "?")."""
    n, syms, anon = 1, Counter(), 0
    for d in dims:
        if type(d) is int:
            n *= d
        elif d == "?":
            anon += 1
        else:
            syms[d] += 1
    return n, syms, anon


def product(dims) -> int | str:
    """The product of dims: an int, a lone symbol, or "?"."""
    n, syms, anon = _factor(dims)
    if n == 0 or not (syms or anon):
        return n
    return next(iter(syms)) if n == 1 and sum(syms.values()) == 1 and not anon else "?"


def _merge(a, b, what: str):
    """Two dims that must be equal: the static one wins; a static conflict is an error."""
    if a == b or b == "?":
        return a
    if type(a) is int and type(b) is int:
        raise ShapeError(f"{what}: {a} vs {b}", hint="make those dims equal")
    return a if type(a) is int or (type(b) is not int and a != "?") else b


def slice_bounds(dim: int, start: int, end: int, step: int) -> tuple[int, int, int]:
    """ONNX Slice clamping: (start, end, length) for a static dim."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        n = (end - start + step - 1) // step
    else:
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
        n = (start - end - step - 1) // -step
    return start, end, max(n, 0)


def range_length(start: float, limit: float, delta: float) -> int:
    if delta == 0 or not all(math.isfinite(v) for v in (start, limit, delta)):
        raise OpAttributeError(
            f"range(start={start}, limit={limit}, delta={delta}) is not a finite sequence",
            hint="pass finite values and a non-zero delta",
        )
    return max(math.ceil((limit - start) / delta), 0)


# ---- views ---------------------------------------------------------------------------


@_shapes_op("reshape", ("x",), {"shape": Attr("ints")}, view=True)
def _reshape(x: TensorType, *, shape: tuple[int, ...]) -> TensorType:
    """Reshape; one -1 is inferred, a 0 copies the input dim at that index."""
    out: list = []
    infer_at = None
    for i, s in enumerate(shape):
        if s == -1:
            if infer_at is not None:
                raise ShapeError(f"shape {list(shape)} has more than one -1", hint="use one -1")
            infer_at = i
            out.append(None)
        elif s == 0:
            if i >= x.rank:
                raise ShapeError(
                    f"shape {list(shape)} copies dim {i} (a 0), but the input has rank {x.rank}",
                    hint="give that dim's size explicitly",
                )
            out.append(x.shape[i])
        elif s < 0:
            raise ShapeError(f"shape {list(shape)} has a negative size {s}", hint="use -1 or >= 0")
        else:
            out.append(s)
    in_n, in_syms, in_anon = _factor(x.shape)
    out_n, out_syms, out_anon = _factor([d for d in out if d is not None])
    rem_in = sum((in_syms - out_syms).values()) + in_anon
    rem_out = sum((out_syms - in_syms).values()) + out_anon
    bad = ShapeError(
        f"cannot reshape {x.shape} to {list(shape)}: the element counts differ",
        hint="keep the number of elements the same (one -1 may infer a dim)",
    )
    if infer_at is None:
        if in_n == 0 or out_n == 0:
            if (in_n == 0) != (out_n == 0) and not (in_syms or in_anon or out_syms or out_anon):
                raise bad
        elif not rem_in and not rem_out and in_n != out_n:
            raise bad
        return TensorType(x.dtype, tuple(out))
    if out_n == 0:
        raise ShapeError(
            f"shape {list(shape)}: -1 is ambiguous when the other dims multiply to 0",
            hint="give every dim explicitly",
        )
    if in_n == 0:
        inferred = 0
    elif rem_out:
        inferred = "?"
    elif not rem_in:
        if in_n % out_n:
            raise bad
        inferred = in_n // out_n
    elif rem_in == 1 and in_n == out_n and not in_anon:
        inferred = next(iter((in_syms - out_syms).elements()))
    else:
        inferred = "?"
    out[infer_at] = inferred
    return TensorType(x.dtype, tuple(out))


@_shapes_op("squeeze", ("x",), {"axes": Attr("ints", None, optional=True)}, view=True)
def _squeeze(x: TensorType, *, axes: tuple[int, ...] | None) -> TensorType:
    """Removes size-1 dims: the listed ones, or every static 1 when axes is None."""
    if axes is None:
        return TensorType(x.dtype, tuple(d for d in x.shape if d != 1))
    ax = _axes(axes, x.rank)
    for a in ax:
        if type(x.shape[a]) is int and x.shape[a] != 1:
            raise ShapeError(f"axis {a} has size {x.shape[a]}, not 1", hint="squeeze size-1 axes")
    return TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in ax))


@_shapes_op("unsqueeze", ("x",), {"axes": Attr("ints")}, view=True)
def _unsqueeze(x: TensorType, *, axes: tuple[int, ...]) -> TensorType:
    """Inserts size-1 dims at ``axes`` (positions in the output)."""
    rank = x.rank + len(axes)
    ax = set(_axes(axes, rank))
    dims = iter(x.shape)
    return TensorType(x.dtype, tuple(1 if i in ax else next(dims) for i in range(rank)))


@_shapes_op("flatten", ("x",), {"axis": Attr("int", 1)}, view=True)
def _flatten(x: TensorType, *, axis: int) -> TensorType:
    """To 2-D: (prod(shape[:axis]), prod(shape[axis:])); axis is in [-rank, rank]."""
    if not -x.rank <= axis <= x.rank:
        raise ShapeError(
            f"axis {axis} is out of range for a tensor of rank {x.rank}",
            hint=f"use an axis in [{-x.rank}, {x.rank}]",
        )
    a = axis + x.rank if axis < 0 else axis
    return TensorType(x.dtype, (product(x.shape[:a]), product(x.shape[a:])))


@_shapes_op("shape", ("x",))
def _shape(x: TensorType) -> TensorType:
    """The input's shape as a 1-D i64 tensor."""
    return TensorType("i64", (x.rank,))


# ---- generators ----------------------------------------------------------------------


@_shapes_op("constant", (), {"value": Attr("tensor")})
def _constant(*, value) -> TensorType:
    """The tensor held in ``value``."""
    return value.type


@_shapes_op(
    "constant_of_shape",
    (),
    {"shape": Attr("ints"), "value": Attr("float", 0.0), "dtype": Attr("dtype", "f32")},
)
def _constant_of_shape(*, shape: tuple[int, ...], value: float, dtype: str) -> TensorType:
    """A tensor of ``shape`` filled with ``value`` (cast to ``dtype``)."""
    _dims_nonneg(shape, "shape")
    return TensorType(dtype, tuple(shape))


@_shapes_op(
    "range",
    (),
    {
        "start": Attr("float"),
        "limit": Attr("float"),
        "delta": Attr("float"),
        "dtype": Attr("dtype", "i64"),
    },
)
def _range(*, start: float, limit: float, delta: float, dtype: str) -> TensorType:
    """start, start + delta, ... up to (not including) limit; max(ceil((l-s)/d), 0) long."""
    if dtype == "i1":
        raise DTypeError("range of dtype i1 is not defined", hint="use an int or float dtype")
    return TensorType(dtype, (range_length(start, limit, delta),))


# ---- batch-axis rules (`tfrt_ray.ir.ops.batch_rules`) ---------------------------------


@batch_rule("reshape", only_first=True)
def _reshape_batch(v: BatchView) -> int | None:
    return 0 if v.a0 == 0 and v.out_shape[:1] == v.shapes[0][:1] else None


@batch_rule("flatten", only_first=True)
def _flatten_batch(v: BatchView) -> int | None:
    return 0 if v.a0 == 0 and v.attr("axis") >= 1 else None


@batch_rule("unsqueeze", only_first=True)
def _unsqueeze_batch(v: BatchView) -> int | None:
    axes = sorted(x % v.out_rank for x in v.attr("axes"))
    return [i for i in range(v.out_rank) if i not in axes][v.a0]


@batch_rule("squeeze", only_first=True)
def _squeeze_batch(v: BatchView) -> int | None:
    axes = v.attr("axes")
    if axes is None:
        axes = [i for i, d in enumerate(v.shapes[0]) if d == 1]
    axes = {x % v.ranks[0] for x in axes}
    return None if v.a0 in axes else v.a0 - sum(1 for x in axes if x < v.a0)
