"""Cases for the onnx_math family: more elementwise functions, integer division that
truncates, fmod, bitwise ops and shifts, cumulative sums/products, einsum, det, bitcast,
dft and to_format. ``expected`` comes from Python's math/struct/cmath, element by
element, or from the formula written out; never from the kernels under test."""

from __future__ import annotations

import cmath
import math
import struct

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand

X = rand(2, 3, seed=41, low=-0.9, high=0.9)
POS = rand(2, 3, seed=42, low=1.1, high=3.0)
A_INT = np.array([[7, -7, 7, -7, 0], [9, -9, 1, -1, 5]], np.int32)
B_INT = np.array([[2, 2, -2, -2, 3], [4, 4, 4, 4, -5]], np.int32)
F32 = dict(rtol=1e-5, atol=1e-6)


def _map(fn, x, dtype=None):
    return np.array([fn(float(v)) for v in np.asarray(x).reshape(-1)],
                    dtype or x.dtype).reshape(np.shape(x))


def _pairs(fn, a, b, dtype):
    a, b = np.broadcast_arrays(a, b)
    pairs = zip(a.reshape(-1), b.reshape(-1), strict=True)
    return np.array([fn(int(p), int(q)) for p, q in pairs], dtype).reshape(a.shape)


def _shift(x: int, n: int, bits: int, left: bool, signed: bool) -> int:
    if not 0 <= n < bits:
        return -1 if (not left and signed and x < 0) else 0
    y = (x << n) if left else (x >> n)
    y &= (1 << bits) - 1
    if signed and y >= 1 << (bits - 1):
        y -= 1 << bits
    return y


def _cum(x, axis, op, start, exclusive=False, reverse=False):
    x = np.moveaxis(np.asarray(x), axis, -1)
    out = np.empty_like(x)
    n = x.shape[-1]
    for idx in np.ndindex(*x.shape[:-1]):
        order = range(n - 1, -1, -1) if reverse else range(n)
        acc = start
        for i in order:
            if exclusive:
                out[idx + (i,)] = acc
                acc = op(acc, x[idx + (i,)])
            else:
                acc = op(acc, x[idx + (i,)])
                out[idx + (i,)] = acc
    return np.moveaxis(out, -1, axis)


def _bf16(v: float) -> float:
    """Round-to-nearest-even of a float32 to bfloat16, on its bits."""
    bits = struct.unpack("<I", struct.pack("<f", v))[0]
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return struct.unpack("<f", struct.pack("<I", bits))[0]


def _naive_dft(signal, inverse=False):
    n = len(signal)
    sign = 1 if inverse else -1
    out = [sum(signal[t] * cmath.exp(sign * 2j * math.pi * k * t / n) for t in range(n))
           for k in range(n)]
    return [v / n for v in out] if inverse else out


_SIG = rand(5, 1, seed=43)
_DFT = _naive_dft([complex(v) for v in _SIG[:, 0]])
_CPLX = rand(4, 2, seed=44, dtype="float64")
_IDFT = _naive_dft([complex(r, i) for r, i in _CPLX], inverse=True)

CASES = [
    *[
        Case(name, [x], _map(fn, x), rtol=1e-5, atol=1e-6)
        for name, fn, x in (
            ("tan", math.tan, X),
            ("asin", math.asin, X),
            ("acos", math.acos, X),
            ("atan", math.atan, X),
            ("sinh", math.sinh, X),
            ("cosh", math.cosh, X),
            ("asinh", math.asinh, X),
            ("acosh", math.acosh, POS),
            ("atanh", math.atanh, X),
        )
    ],
    Case("tan", [non_contiguous(X)], _map(math.tan, X), name="strided", **F32),
    Case("trunc_div", [A_INT, B_INT], _pairs(lambda a, b: math.trunc(a / b), A_INT, B_INT,
                                             np.int32)),
    Case("trunc_div", [A_INT.astype(np.int64), np.array(3, np.int64)],
         _pairs(lambda a, b: math.trunc(a / b), A_INT, 3, np.int64), name="scalar"),
    Case("fmod", [A_INT, B_INT], _pairs(lambda a, b: int(math.fmod(a, b)), A_INT, B_INT,
                                        np.int32)),
    Case("fmod", [np.array([5.5, -5.5, 5.5], np.float64), np.array([2.0, 2.0, -2.0])],
         np.array([math.fmod(5.5, 2), math.fmod(-5.5, 2), math.fmod(5.5, -2)]), name="f64"),
    Case("bitwise_and", [A_INT, B_INT], _pairs(lambda a, b: a & b, A_INT, B_INT, np.int32)),
    Case("bitwise_or", [A_INT, B_INT], _pairs(lambda a, b: a | b, A_INT, B_INT, np.int32)),
    Case("bitwise_xor", [np.array([3, 5, 255], np.uint8), np.array([6], np.uint8)],
         np.array([3 ^ 6, 5 ^ 6, 255 ^ 6], np.uint8)),
    Case("bitwise_not", [np.array([0, 5, 255], np.uint8)], np.array([255, 250, 0], np.uint8)),
    Case("bitwise_not", [A_INT], _pairs(lambda a, b: ~a, A_INT, A_INT, np.int32), name="i32"),
    Case(
        "bit_shift",
        [np.array([1, -8, 64, 3, -1], np.int8), np.array([3, 1, 2, 8, -1], np.int8)],
        _pairs(lambda a, n: _shift(a, n, 8, False, True), np.array([1, -8, 64, 3, -1]),
               np.array([3, 1, 2, 8, -1]), np.int8),
        {"direction": "right"},
    ),
    Case(
        "bit_shift",
        [np.array([1, 3, 64, 200], np.uint8), np.array([1, 2, 2, 9], np.uint8)],
        _pairs(lambda a, n: _shift(a, n, 8, True, False), np.array([1, 3, 64, 200]),
               np.array([1, 2, 2, 9]), np.uint8),
        {"direction": "left"},
        name="left-overflow",
    ),
    Case("cumsum", [X], _cum(X, 1, lambda a, b: a + b, 0.0), {"axis": 1}, **F32),
    Case("cumsum", [A_INT], _cum(A_INT, 0, lambda a, b: a + b, 0, exclusive=True,
                                 reverse=True),
         {"axis": 0, "exclusive": True, "reverse": True}, name="exclusive-reverse"),
    Case("cumprod", [POS], _cum(POS, -1, lambda a, b: a * b, 1.0, exclusive=True),
         {"axis": -1, "exclusive": True}, **F32),
    Case(
        "einsum",
        [rand(2, 3, seed=45), rand(3, 4, seed=46)],
        np.array([[sum(rand(2, 3, seed=45)[i, k] * rand(3, 4, seed=46)[k, j] for k in range(3))
                   for j in range(4)] for i in range(2)], np.float32),
        {"equation": "ij,jk->ik"},
        **F32,
    ),
    Case("einsum", [POS[:, :2]], np.array(POS[0, 0] + POS[1, 1], np.float32),
         {"equation": "ii"}, name="trace", **F32),
    Case(
        "det",
        [np.array([[[2.0, 1.0], [1.0, 3.0]], [[0.5, -1.0], [4.0, 2.0]]])],
        np.array([2.0 * 3.0 - 1.0 * 1.0, 0.5 * 2.0 + 1.0 * 4.0]),
        rtol=1e-12,
        atol=1e-12,
    ),
    Case("bitcast", [np.array([1.0, -2.5], np.float32)],
         np.array([struct.unpack("<i", struct.pack("<f", v))[0] for v in (1.0, -2.5)],
                  np.int32), {"dtype": "i32"}),
    Case("bitcast", [np.array([[1, 2]], np.int32)],
         np.array([[1, 0, 0, 0, 2, 0, 0, 0]], np.uint8), {"dtype": "ui8"}, name="narrower"),
    Case(
        "dft",
        [_SIG],
        np.array([[v.real, v.imag] for v in _DFT], np.float32),
        {"axis": 0},
        rtol=1e-4,
        atol=1e-5,
    ),
    Case(
        "dft",
        [_CPLX],
        np.array([[v.real, v.imag] for v in _IDFT]),
        {"axis": 0, "inverse": True},
        name="inverse-complex",
        rtol=1e-10,
        atol=1e-12,
    ),
    Case(
        "dft",
        [_SIG],
        np.array([[v.real, v.imag] for v in _DFT[:3]], np.float32),
        {"axis": 0, "onesided": True},
        name="onesided",
        rtol=1e-4,
        atol=1e-5,
    ),
    Case("to_format", [X], _map(_bf16, X), {"format": "bf16"}),
    Case("to_format", [np.array([3, 9, -9, 300], np.int32)],
         np.array([3, 9 - 16, -9 + 16, 300 % 16 - 16], np.int8),  # the low 4 bits, signed
         {"format": "i4"}, name="int4-wraps"),
    Case("to_format", [np.array([1.0, 1e6, -1e6, 0.3], np.float32)],
         np.array([1.0, 448.0, -448.0, 0.3125], np.float32),
         {"format": "f8e4m3fn", "saturate": True}, name="float8-saturates"),
]
