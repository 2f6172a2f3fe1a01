"""linalg ops: matmul (numpy semantics, batched and broadcast) and gemm (ONNX Gemm)."""

from __future__ import annotations

from tfrt_ray.errors import ShapeError
from tfrt_ray.ir.ops.batch_rules import BatchView, batch_rule
from tfrt_ray.ir.ops.spec import (
    Attr,
    Cost,
    broadcast_shapes,
    op,
    require_dtype,
    result_dtype,
)
from tfrt_ray.ir.types import FLOAT_DTYPES, INT_DTYPES, Shape, TensorType

NUMERIC = FLOAT_DTYPES + INT_DTYPES


def _n(d: object) -> int:
    """A dim's size for cost estimates: a symbolic dim counts as 1."""
    return d if type(d) is int else 1


def _prod(shape: Shape) -> int:
    n = 1
    for d in shape:
        n *= _n(d)
    return n


def _same_dim(a: object, b: object) -> bool:
    """False only when both dims are static and differ (a symbol matches anything)."""
    return type(a) is not int or type(b) is not int or a == b


def _matmul_parts(a: Shape, b: Shape) -> tuple[Shape, object, object, object]:
    """(batch shape, M, K, N) of ``a @ b``; 1-D operands are promoted as numpy does."""
    if len(a) == 0 or len(b) == 0:
        raise ShapeError(
            f"matmul needs operands of rank >= 1, got ranks {len(a)} and {len(b)}",
            hint="use mul for scalars, or reshape the operand to a vector",
        )
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    k_a, k_b = a2[-1], b2[-2]
    if not _same_dim(k_a, k_b):
        raise ShapeError(
            f"inner dimensions do not match: a has {k_a} columns (shape {tuple(a)}), "
            f"b has {k_b} rows (shape {tuple(b)})",
            hint="the last dim of a must equal the second-to-last dim of b "
            "(transpose an operand if needed)",
        )
    try:
        batch = broadcast_shapes(a2[:-2], b2[:-2])
    except ShapeError as err:
        raise ShapeError(
            f"batch dims {a2[:-2]} and {b2[:-2]} cannot be broadcast together",
            hint="make the leading (batch) dims equal, or 1",
        ) from err
    k = k_a if type(k_a) is int else k_b
    return batch, a2[-2], k, b2[-1]


def _matmul_cost(ins, outs, attrs, moved):
    batch, m, k, n = _matmul_parts(ins[0].shape, ins[1].shape)
    return Cost(2.0 * _n(m) * _n(n) * _n(k) * _prod(batch), float(moved))


@op("matmul", ("a", "b"), family="linalg", cost=_matmul_cost)
def _matmul(a: TensorType, b: TensorType) -> TensorType:
    """Matrix product with numpy ``matmul`` semantics: leading dims are batch dims and
    broadcast; a 1-D ``a`` is a row vector and a 1-D ``b`` a column vector, and the
    added dim is removed from the result. Dtypes promote as in numpy."""
    require_dtype(a, NUMERIC, "first input")
    require_dtype(b, NUMERIC, "second input")
    batch, m, _, n = _matmul_parts(a.shape, b.shape)
    shape = batch + ((m,) if a.rank > 1 else ()) + ((n,) if b.rank > 1 else ())
    return TensorType(result_dtype(a, b), shape)


def _gemm_parts(a: Shape, b: Shape, trans_a: bool, trans_b: bool):
    for name, s in (("a", a), ("b", b)):
        if len(s) != 2:
            raise ShapeError(
                f"gemm needs 2-D operands, but {name} has shape {tuple(s)}",
                hint="reshape it to 2-D, or use matmul for batched or vector products",
            )
    m, k_a = (a[1], a[0]) if trans_a else (a[0], a[1])
    k_b, n = (b[1], b[0]) if trans_b else (b[0], b[1])
    if not _same_dim(k_a, k_b):
        raise ShapeError(
            f"inner dimensions do not match: op(a) is {m}x{k_a} and op(b) is {k_b}x{n} "
            f"(trans_a={trans_a}, trans_b={trans_b})",
            hint="make the inner dims equal, or set trans_a / trans_b",
        )
    return m, (k_a if type(k_a) is int else k_b), n


def _gemm_cost(ins, outs, attrs, moved):
    m, k, n = _gemm_parts(ins[0].shape, ins[1].shape, attrs["trans_a"], attrs["trans_b"])
    extra = 2.0 * _n(m) * _n(n) if len(ins) > 2 and ins[2] is not None else 0.0
    return Cost(2.0 * _n(m) * _n(n) * _n(k) + extra, float(moved))


@op(
    "gemm",
    ("a", "b", "c?"),
    {
        "alpha": Attr("float", 1.0),
        "beta": Attr("float", 1.0),
        "trans_a": Attr("bool", False),
        "trans_b": Attr("bool", False),
    },
    family="linalg",
    cost=_gemm_cost,
)
def _gemm(
    a: TensorType,
    b: TensorType,
    c: TensorType | None = None,
    *,
    alpha: float,
    beta: float,
    trans_a: bool,
    trans_b: bool,
) -> TensorType:
    """ONNX Gemm: ``alpha * op(a) @ op(b) + beta * c`` with 2-D ``a``, ``b`` (``op`` is an
    optional transpose) and ``c`` broadcastable to (M, N). Float dtypes only; mixed float
    dtypes promote as in numpy."""
    require_dtype(a, FLOAT_DTYPES, "a")
    require_dtype(b, FLOAT_DTYPES, "b")
    m, _, n = _gemm_parts(a.shape, b.shape, trans_a, trans_b)
    if c is None:
        return TensorType(result_dtype(a, b), (m, n))
    require_dtype(c, FLOAT_DTYPES, "c")
    ok = c.rank <= 2 and all(
        d == 1 or _same_dim(d, t) for d, t in zip(c.shape, (m, n)[2 - c.rank :], strict=True)
    )
    if not ok:
        raise ShapeError(
            f"c has shape {tuple(c.shape)}, which does not broadcast to the result ({m}, {n})",
            hint="give c shape (M, N), (N,), (M, 1), (1, N) or ()",
        )
    return TensorType(result_dtype(a, b, c), (m, n))


# ---- batch-axis rules (`tfrt_ray.ir.ops.batch_rules`) ---------------------------------


@batch_rule("matmul")
def matmul_batch(v: BatchView) -> int | None:
    """The batch on a row axis of ``a`` only (``b`` unbatched); a bias (fused_matmul's
    third input) is added to the output elementwise."""
    ranks, out_rank, a0 = v.ranks, v.out_rank, v.a0
    if a0 is None or v.in_axes[1] is not None or ranks[0] < 2 or a0 >= ranks[0] - 1:
        return None
    if ranks[0] < ranks[1]:
        return None
    out = a0 + out_rank - ranks[0]
    if len(ranks) > 2:
        axis = v.in_axes[2]
        if axis is not None and axis + out_rank - ranks[2] != out:
            return None
        j = out - (out_rank - ranks[2])
        if axis is None and j >= 0 and v.shapes[2][j] != 1:
            return None  # an unbatched bias that spans the rows
    return out


@batch_rule("gemm")
def _gemm_batch(v: BatchView) -> int | None:
    ok = v.a0 == 0 and not v.attr("trans_a") and v.only_first
    c_ok = len(v.shapes) < 3 or v.ranks[2] < 2 or v.shapes[2][0] == 1
    return 0 if ok and c_ok else None
