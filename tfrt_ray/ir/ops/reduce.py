"""Reductions: sum, mean, max, min, prod over a set of axes, and argmax/argmin along one.

Result dtypes (the kernels pass them to numpy explicitly, so they hold on every platform):

- ``sum``/``prod``: numpy's accumulator rule on 64-bit Linux: bool and signed ints give
  i64, unsigned ints give ui64, floats keep their dtype.
- ``mean``: bool and ints give f64 (as numpy); floats keep their dtype.
- ``max``/``min``: the input dtype.
- ``argmax``/``argmin``: i64.

``axes=None`` reduces every axis; ``axes=()`` reduces none (numpy's ``axis=()``). Axes may
be negative; naming one twice is an error. max/min/argmax/argmin of an axis that is
statically of size 0 is a ShapeError (sum/mean/prod of it give 0/nan/1).
"""

from __future__ import annotations

from tfrt_ray.errors import ShapeError
from tfrt_ray.ir.ops.batch_rules import BatchView, batch_rule
from tfrt_ray.ir.ops.spec import Attr, Cost, normalize_axis, op, require_dtype
from tfrt_ray.ir.types import DTYPES, FLOAT_DTYPES, TensorType

_UNSIGNED = ("ui8", "ui16", "ui32", "ui64")


def _reduce_cost(ins, outs, attrs, moved) -> Cost:
    return Cost(float(sum(t.numel for t in ins)), float(moved))


def reduced_axes(axes: tuple[int, ...] | None, rank: int) -> tuple[int, ...]:
    """Axes to reduce, non-negative and sorted; raises ShapeError for bad or repeated ones."""
    if axes is None:
        return tuple(range(rank))
    if axes and rank == 0:
        raise ShapeError(
            f"axes {list(axes)} given for a tensor of rank 0",
            hint="pass axes=None (or ()) to reduce a scalar",
        )
    norm = [normalize_axis(a, rank, "axis") for a in axes]
    if len(set(norm)) != len(norm):
        raise ShapeError(
            f"axes {list(axes)} name the same axis more than once",
            hint="list each axis once",
        )
    return tuple(sorted(norm))


def reduced_shape(shape: tuple, axes: tuple[int, ...], keepdims: bool) -> tuple:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _require_nonempty(shape: tuple, axes: tuple[int, ...], name: str) -> None:
    for a in axes:
        if shape[a] == 0:
            raise ShapeError(
                f"{name} over axis {a}, which has size 0, has no identity",
                hint=f"make axis {a} non-empty"
                + ("" if name.startswith("arg") else ", or use sum/mean/prod"),
            )


def sum_dtype(dtype: str) -> str:
    """The dtype numpy's sum and prod give (64-bit Linux accumulator rule)."""
    if dtype in FLOAT_DTYPES:
        return dtype
    if dtype in _UNSIGNED:
        return "ui64"
    return "i64"


def mean_dtype(dtype: str) -> str:
    return dtype if dtype in FLOAT_DTYPES else "f64"


def _make_reduce(name: str, out_dtype, nonempty: bool, doc: str) -> None:
    def infer(x: TensorType, *, axes: tuple[int, ...] | None, keepdims: bool) -> TensorType:
        require_dtype(x, DTYPES)
        ax = reduced_axes(axes, x.rank)
        if nonempty:
            _require_nonempty(x.shape, ax, name)
        return TensorType(out_dtype(x.dtype), reduced_shape(x.shape, ax, keepdims))

    infer.__doc__ = doc
    op(
        name,
        ("x",),
        {"axes": Attr("ints", None, optional=True), "keepdims": Attr("bool", False)},
        family="reduce",
        cost=_reduce_cost,
    )(infer)


_make_reduce("sum", sum_dtype, False, "Sum over ``axes`` (None: all); ints accumulate in 64 bits.")
_make_reduce("prod", sum_dtype, False, "Product over ``axes``; ints accumulate in 64 bits.")
_make_reduce("mean", mean_dtype, False, "Arithmetic mean over ``axes``; ints give f64.")
_make_reduce("max", str, True, "Maximum over ``axes``, which must be non-empty.")
_make_reduce("min", str, True, "Minimum over ``axes``, which must be non-empty.")


def _make_arg(name: str) -> None:
    def infer(x: TensorType, *, axis: int, keepdims: bool) -> TensorType:
        if x.rank == 0:
            raise ShapeError(
                f"{name} needs a tensor of rank >= 1",
                hint="reshape the scalar to shape (1,) first",
            )
        a = normalize_axis(axis, x.rank)
        _require_nonempty(x.shape, (a,), name)
        return TensorType("i64", reduced_shape(x.shape, (a,), keepdims))

    infer.__doc__ = f"Index (i64) of the first {name[3:]}imum along ``axis``."
    op(
        name,
        ("x",),
        {"axis": Attr("int", 0), "keepdims": Attr("bool", False)},
        family="reduce",
        cost=_reduce_cost,
    )(infer)


_make_arg("argmax")
_make_arg("argmin")


# ---- batch-axis rules (`tfrt_ray.ir.ops.batch_rules`) ---------------------------------


@batch_rule("sum", "mean", "max", "min", "prod", only_first=True)
def _reduce_batch(v: BatchView) -> int | None:
    axes = v.attr("axes")
    if axes is None:
        return None
    axes = {x % v.ranks[0] for x in axes}
    if v.a0 in axes:
        return None
    return v.a0 if v.attr("keepdims") else v.a0 - sum(1 for x in axes if x < v.a0)


@batch_rule("argmax", "argmin", only_first=True)
def _arg_reduce_batch(v: BatchView) -> int | None:
    ax = v.attr("axis") % v.ranks[0]
    if ax == v.a0:
        return None
    return v.a0 if v.attr("keepdims") or ax > v.a0 else v.a0 - 1
