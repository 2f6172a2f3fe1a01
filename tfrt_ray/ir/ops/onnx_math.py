"""Math ops ONNX needs beyond the core set: more elementwise functions, integer division
that truncates, fmod, bitwise ops and shifts, cumulative sums and products, einsum,
determinants, and bitcast.

Semantics follow ONNX: ``trunc_div`` rounds toward zero (ONNX Div on integers);
``bit_shift`` of an amount outside ``[0, bits)`` gives 0 (or -1 for a negative value
shifted right); ``cumsum``/``cumprod`` keep the input dtype.
"""

from __future__ import annotations

import re

from tfrt_ray.errors import OpAttributeError, ShapeError
from tfrt_ray.ir.ops.spec import (
    Attr,
    Cost,
    broadcast_shapes,
    normalize_axis,
    op,
    require_dtype,
    require_same_dtype,
    result_dtype,
)
from tfrt_ray.ir.types import FLOAT_DTYPES, INT_DTYPES, TensorType, numpy_dtype

NUMERIC = FLOAT_DTYPES + INT_DTYPES
BITS = INT_DTYPES + ("i1",)


def _per_element(flops: float):
    def cost(ins, outs, attrs, moved):
        return Cost(flops * sum(t.numel for t in outs), float(moved))

    return cost


def _unary(name: str, allowed: tuple[str, ...], flops: float, doc: str) -> None:
    def infer(x: TensorType) -> TensorType:
        require_dtype(x, allowed)
        return x

    infer.__doc__ = doc
    op(name, ("x",), family="onnx_math", cost=_per_element(flops))(infer)


for _name in ("tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh"):
    _unary(_name, FLOAT_DTYPES, 8.0, f"Elementwise {_name}.")
_unary("bitwise_not", INT_DTYPES, 1.0, "Elementwise bitwise NOT (integers).")


def _binary(name: str, allowed: tuple[str, ...], doc: str) -> None:
    def infer(a: TensorType, b: TensorType) -> TensorType:
        require_dtype(a, allowed, "first input")
        require_dtype(b, allowed, "second input")
        return TensorType(result_dtype(a, b), broadcast_shapes(a.shape, b.shape))

    infer.__doc__ = doc
    op(name, ("a", "b"), family="onnx_math", cost=_per_element(1.0))(infer)


_binary("trunc_div", INT_DTYPES, "Integer division rounding toward zero (ONNX Div on ints).")
_binary("fmod", NUMERIC, "Remainder with the sign of the dividend (C fmod).")
for _name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
    _binary(_name, BITS, f"Elementwise {_name.replace('_', ' ')} with broadcasting.")


@op("bit_shift", ("x", "amount"), {"direction": Attr("str")}, family="onnx_math",
    cost=_per_element(1.0))
def _bit_shift(x: TensorType, amount: TensorType, *, direction: str) -> TensorType:
    """Shifts integers ``left`` or ``right`` by ``amount`` bits (broadcast; both inputs of
    one dtype). A shift outside [0, bits) gives 0, or -1 for a negative value shifted
    right (arithmetic shift)."""
    if direction not in ("left", "right"):
        raise OpAttributeError(
            f"direction must be 'left' or 'right', got {direction!r}",
            hint="pass direction='left' or 'right'",
        )
    require_dtype(x, INT_DTYPES, "x")
    dtype = require_same_dtype(x, amount)
    return TensorType(dtype, broadcast_shapes(x.shape, amount.shape))


def _cumulative(name: str, what: str) -> None:
    def infer(x: TensorType, *, axis: int, exclusive: bool, reverse: bool) -> TensorType:
        require_dtype(x, NUMERIC)
        if x.rank == 0:
            raise ShapeError(f"{name} needs a tensor of rank >= 1", hint="reshape it to (1,)")
        normalize_axis(axis, x.rank)
        return x

    infer.__doc__ = (
        f"Cumulative {what} along ``axis`` in the input dtype (ONNX Cum{what.title()}): "
        "``exclusive`` leaves out the element itself, ``reverse`` runs from the end."
    )
    op(
        name,
        ("x",),
        {"axis": Attr("int"), "exclusive": Attr("bool", False), "reverse": Attr("bool", False)},
        family="onnx_math",
        cost=_per_element(1.0),
    )(infer)


_cumulative("cumsum", "sum")
_cumulative("cumprod", "product")

_EINSUM_TERM = re.compile(r"[A-Za-z]*(\.\.\.)?[A-Za-z]*\Z")


def _einsum_terms(equation: str, n: int) -> tuple[list[str], str]:
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != n or not all(_EINSUM_TERM.match(t) for t in terms):
        raise OpAttributeError(
            f"equation {equation!r} does not have one term per input ({n} inputs)",
            hint="write it as numpy.einsum does, e.g. 'ij,jk->ik'",
        )
    if not arrow:  # implicit output: letters used once, in alphabetical order
        letters = "".join(terms).replace(".", "")
        rhs = ("..." if "..." in lhs else "") + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1)
        )
    return terms, rhs


@op("einsum", ("*xs",), {"equation": Attr("str")}, family="onnx_math")
def _einsum(*xs: TensorType, equation: str) -> TensorType:
    """Einstein summation (numpy.einsum semantics, ``...`` broadcasting); one dtype."""
    dtype = require_same_dtype(*xs)
    require_dtype(xs[0], NUMERIC)
    terms, rhs = _einsum_terms(equation, len(xs))
    sizes: dict[str, object] = {}
    ellipsis: tuple = ()
    for term, x in zip(terms, xs, strict=True):
        letters = term.replace("...", "")
        if len(letters) > x.rank or ("..." not in term and len(letters) != x.rank):
            raise ShapeError(
                f"term '{term}' does not match an input of rank {x.rank}",
                hint="give one letter per dim",
            )
        head, _, tail = term.partition("...")
        n_ell = x.rank - len(letters)
        dims = list(x.shape)
        ell = tuple(dims[len(head): len(head) + n_ell])
        if "..." in term:
            ellipsis = broadcast_shapes(ellipsis, ell)
        for c, d in zip(head + "." * n_ell + tail, dims, strict=True):
            if c == ".":
                continue
            prev = sizes.get(c)
            if prev is None or prev == 1 or not isinstance(prev, int):
                sizes[c] = d
            elif d != 1 and isinstance(d, int) and d != prev:
                raise ShapeError(f"letter '{c}' has sizes {prev} and {d}", hint="make them equal")
    head, _, tail = rhs.partition("...")
    shape = tuple(sizes[c] for c in head) + (ellipsis if "..." in rhs else ()) + tuple(
        sizes[c] for c in tail
    )
    return TensorType(dtype, shape)


@op("det", ("x",), family="onnx_math")
def _det(x: TensorType) -> TensorType:
    """Determinant of the square matrices in the last two dims."""
    require_dtype(x, FLOAT_DTYPES)
    if x.rank < 2 or (isinstance(x.shape[-1], int) and isinstance(x.shape[-2], int)
                      and x.shape[-1] != x.shape[-2]):
        raise ShapeError(f"det needs (..., M, M), got {x.shape}", hint="pass square matrices")
    return TensorType(x.dtype, x.shape[:-2])


@op("bitcast", ("x",), {"dtype": Attr("dtype")}, family="onnx_math",
    cost=lambda ins, outs, attrs, moved: Cost(0.0, 0.0))
def _bitcast(x: TensorType, *, dtype: str) -> TensorType:
    """Reinterprets the bytes as ``dtype``: the same itemsize keeps the shape; a different
    one scales the last dim (numpy ``view`` semantics)."""
    a, b = x.np_dtype.itemsize, numpy_dtype(dtype).itemsize
    if a == b:
        return TensorType(dtype, x.shape)
    last = x.shape[-1] if x.rank else 1
    if x.rank == 0 or not isinstance(last, int) or (last * a) % b:
        raise ShapeError(
            f"cannot view {x} as {dtype}: the last dim's bytes do not divide evenly",
            hint="bitcast between dtypes of one size, or make the last dim fit",
        )
    return TensorType(dtype, x.shape[:-1] + (last * a // b,))


@op(
    "dft",
    ("x",),
    {"axis": Attr("int"), "inverse": Attr("bool", False), "onesided": Attr("bool", False),
     "length": Attr("int", None, optional=True)},
    family="onnx_math",
)
def _dft(x: TensorType, *, axis: int, inverse: bool, onesided: bool, length) -> TensorType:
    """ONNX DFT along ``axis`` of a real (..., 1) or complex (..., 2) signal, computed
    in the input's precision (complex64 for f32 and f16). ``length`` pads or trims the
    signal (default: its length). ``onesided``: forward keeps the ``n//2 + 1`` first bins;
    inverse reads them as a Hermitian spectrum and returns the real (..., 1) signal of
    length ``length`` (default ``2 * (bins - 1)``)."""
    require_dtype(x, FLOAT_DTYPES)
    if x.rank < 2 or x.shape[-1] not in (1, 2):
        raise ShapeError(f"x {x} must end in a dim of 1 (real) or 2 (complex)",
                         hint="append a real/imaginary dim")
    a = normalize_axis(axis, x.rank)
    if a == x.rank - 1:
        raise ShapeError("axis cannot be the last (real/imaginary) dim",
                         hint="pick a signal axis")
    m = x.shape[a]
    if inverse and onesided:
        n = length if length is not None else (2 * (m - 1) if isinstance(m, int) else "?")
        return TensorType(x.dtype, x.shape[:a] + (n,) + x.shape[a + 1:-1] + (1,))
    n = length if length is not None else m
    if onesided:
        n = n // 2 + 1 if isinstance(n, int) else "?"
    return TensorType(x.dtype, x.shape[:a] + (n,) + x.shape[a + 1:-1] + (2,))


# Narrow number formats ONNX has and tfrt-ray's dtypes do not, and the dtype that carries
# each one exactly.
FORMAT_CARRIERS = {
    "bf16": "f32",
    "f8e4m3fn": "f32",
    "f8e4m3fnuz": "f32",
    "f8e5m2": "f32",
    "f8e5m2fnuz": "f32",
    "f4e2m1": "f32",
    "i4": "i8",
    "ui4": "ui8",
    "i2": "i8",
    "ui2": "ui8",
}
# Each format's numpy dtype: its name in ml_dtypes (imported only where a format is used).
FORMAT_ML_DTYPES = {
    "bf16": "bfloat16", "f8e4m3fn": "float8_e4m3fn", "f8e4m3fnuz": "float8_e4m3fnuz",
    "f8e5m2": "float8_e5m2", "f8e5m2fnuz": "float8_e5m2fnuz", "f4e2m1": "float4_e2m1fn",
    "i4": "int4", "ui4": "uint4", "i2": "int2", "ui2": "uint2",
}


@op("to_format", ("x",), {"format": Attr("str"), "saturate": Attr("bool", True)},
    family="onnx_math", cost=_per_element(1.0))
def _to_format(x: TensorType, *, format: str, saturate: bool) -> TensorType:
    """Rounds to a narrow number format (bfloat16, the float8 and float4 formats, 4- and
    2-bit ints), returned in the dtype that holds every value of it exactly (f32 for the
    floats, i8/ui8 for the ints). Conversion is numpy's ``astype`` to that format
    (ml_dtypes); ``saturate`` first clamps to the largest finite float8 value (ONNX Cast's
    saturate=1)."""
    if format not in FORMAT_CARRIERS:
        raise OpAttributeError(f"format {format!r} is unknown",
                               hint=f"use one of {sorted(FORMAT_CARRIERS)}")
    require_dtype(x, NUMERIC + ("i1",))
    return TensorType(FORMAT_CARRIERS[format], x.shape)
