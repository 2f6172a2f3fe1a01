"""Indexing ops with ONNX semantics: gather_elements, gather_nd, scatter_elements,
scatter_nd, top_k, reverse_sequence. Indices may be negative (counted from the end).

(ONNX ops whose output size depends on the data, NonZero, Unique, Compress and
NonMaxSuppression, are evaluated when a model is imported; see
``tfrt_ray/frontends/onnx/converters/data_dependent.py``.)
"""

from __future__ import annotations

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.spec import Attr, normalize_axis, op, require_dtype
from tfrt_ray.ir.types import DTYPES, INT_DTYPES, TensorType

REDUCTIONS = ("none", "add", "mul", "max", "min")


def _reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise OpAttributeError(f"reduction {reduction!r} is unknown",
                               hint=f"use one of {REDUCTIONS}")


def _rank_at_least(x: TensorType, n: int, what: str) -> None:
    if x.rank < n:
        raise ShapeError(f"{what} needs rank >= {n}, got shape {tuple(x.shape)}",
                         hint=f"reshape {what} to rank {n} or more")


@op("gather_elements", ("data", "indices"), {"axis": Attr("int", 0)}, family="onnx_index")
def _gather_elements(data: TensorType, indices: TensorType, *, axis: int) -> TensorType:
    """ONNX GatherElements: ``out[i][j][k] = data[i][indices[i][j][k]][k]`` (axis 1); the
    result has the indices' shape."""
    require_dtype(indices, INT_DTYPES, "indices")
    _rank_at_least(data, 1, "data")
    normalize_axis(axis, data.rank)
    if indices.rank != data.rank:
        raise ShapeError(f"indices have rank {indices.rank}, data {data.rank}",
                         hint="give indices the rank of data")
    return TensorType(data.dtype, indices.shape)


@op("gather_nd", ("data", "indices"), {"batch_dims": Attr("int", 0)}, family="onnx_index")
def _gather_nd(data: TensorType, indices: TensorType, *, batch_dims: int) -> TensorType:
    """ONNX GatherND: the last dim of ``indices`` indexes the leading dims of ``data``
    (after ``batch_dims`` shared batch dims)."""
    require_dtype(indices, INT_DTYPES, "indices")
    _rank_at_least(indices, 1, "indices")
    q = indices.shape[-1]
    if type(q) is not int:
        raise ShapeError("the last dim of indices must be static", hint="give it a size")
    if batch_dims + q > data.rank:
        raise ShapeError(f"indices index {q} dims after {batch_dims} batch dims of a "
                         f"rank-{data.rank} tensor", hint="index fewer dims")
    return TensorType(data.dtype, tuple(indices.shape[:-1]) + tuple(data.shape[batch_dims + q:]))


@op(
    "scatter_elements",
    ("data", "indices", "updates"),
    {"axis": Attr("int", 0), "reduction": Attr("str", "none")},
    family="onnx_index",
)
def _scatter_elements(data, indices, updates, *, axis, reduction) -> TensorType:
    """ONNX ScatterElements: a copy of data with ``updates`` written (or combined by
    ``reduction``) at ``indices`` along ``axis``; later duplicates win for 'none'."""
    require_dtype(indices, INT_DTYPES, "indices")
    _reduction(reduction)
    normalize_axis(axis, max(data.rank, 1))
    if indices.rank != data.rank or tuple(indices.shape) != tuple(updates.shape):
        raise ShapeError(f"indices {indices.shape} and updates {updates.shape} must match, "
                         f"with data's rank {data.rank}", hint="give them one shape")
    return TensorType(data.dtype, data.shape)


@op("scatter_nd", ("data", "indices", "updates"), {"reduction": Attr("str", "none")},
    family="onnx_index")
def _scatter_nd(data, indices, updates, *, reduction) -> TensorType:
    """ONNX ScatterND: a copy of data with slices ``updates`` written at the index tuples
    in the last dim of ``indices`` (combined by ``reduction``)."""
    require_dtype(indices, INT_DTYPES, "indices")
    _reduction(reduction)
    _rank_at_least(indices, 1, "indices")
    return TensorType(data.dtype, data.shape)


@op(
    "top_k",
    ("x",),
    {"k": Attr("int"), "axis": Attr("int", -1), "largest": Attr("bool", True),
     "sorted": Attr("bool", True)},
    family="onnx_index",
)
def _top_k(x: TensorType, *, k: int, axis: int, largest: bool, sorted: bool):
    """The ``k`` largest (smallest) elements along ``axis`` and their i64 indices, ordered
    by value; equal values keep the lower index first."""
    require_dtype(x, DTYPES)
    _rank_at_least(x, 1, "x")
    a = normalize_axis(axis, x.rank)
    d = x.shape[a]
    if k < 0 or (type(d) is int and k > d):
        raise ShapeError(f"k={k} is not in [0, {d}] (axis {a})", hint="use a smaller k")
    shape = x.shape[:a] + (k,) + x.shape[a + 1:]
    return TensorType(x.dtype, shape), TensorType("i64", shape)


@op(
    "reverse_sequence",
    ("x", "lengths"),
    {"batch_axis": Attr("int", 1), "time_axis": Attr("int", 0)},
    family="onnx_index",
)
def _reverse_sequence(x, lengths, *, batch_axis, time_axis) -> TensorType:
    """ONNX ReverseSequence: reverses the first ``lengths[b]`` steps along ``time_axis``
    of each batch entry b."""
    require_dtype(lengths, INT_DTYPES, "lengths")
    if {batch_axis, time_axis} != {0, 1} or x.rank < 2:
        raise OpAttributeError("batch_axis and time_axis must be 0 and 1 (either way)",
                               hint="transpose the input first")
    return x
