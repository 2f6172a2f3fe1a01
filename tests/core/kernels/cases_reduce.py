"""Cases for the reduce family: all axes, negative and several axes, keepdims, int, bool
and float dtypes, empty tensors, non-contiguous inputs.

Dtypes expected (the spec's rule): sum/prod of bools and signed ints give int64, of
unsigned ints uint64; mean of ints gives float64; max/min keep the dtype; arg* give int64.
"""

from __future__ import annotations

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand

X = rand(3, 4, 5, seed=11)
X64 = rand(2, 3, seed=12).astype(np.float64)
H = rand(4, 6, seed=13).astype(np.float16)
I32 = rand(3, 4, dtype="int32", seed=14, low=-9, high=9)
I8 = rand(5, 6, dtype="int8", seed=15, low=-100, high=100)
U8 = rand(4, 5, dtype="uint8", seed=16, low=0, high=250)
B = rand(3, 5, dtype="bool", seed=17)
SMALL = rand(2, 3, seed=18, low=0.5, high=1.5)
EMPTY = np.zeros((0, 4), np.float32)
EMPTY_I = np.zeros((2, 0), np.int32)
SCALAR = np.array(2.5, np.float32)
TIES = np.array([[1, 3, 3, 0], [2, 2, -1, -1]], np.int64)


def _f32(v):
    return np.asarray(v, np.float32)


def _i64(v):
    return np.asarray(v, np.int64)


def _mean(a, axis=None):
    """Mean written as sum / count in float64."""
    a = a.astype(np.float64)
    n = a.size if axis is None else np.prod([a.shape[i] for i in np.atleast_1d(axis)])
    return np.asarray(a.sum(axis=axis) / n)


CASES = [
    # sum
    Case("sum", [X], _f32(X.astype(np.float64).sum()), name="all", rtol=1e-5, atol=1e-5),
    Case(
        "sum",
        [X],
        X[:, 0, :] + X[:, 1, :] + X[:, 2, :] + X[:, 3, :],
        {"axes": [1]},
        name="axis1",
        rtol=1e-5,
        atol=1e-6,
    ),
    Case(
        "sum",
        [X],
        (X[:, :, :].astype(np.float64).sum(axis=(0, 2))).astype(np.float32)[None, :, None],
        {"axes": [-1, 0], "keepdims": True},
        name="neg-axes-keepdims",
        rtol=1e-5,
    ),
    Case(
        "sum",
        [non_contiguous(X)],
        (X.astype(np.float64).sum(axis=2)).astype(np.float32),
        {"axes": [2]},
        name="strided",
        rtol=1e-5,
    ),
    Case("sum", [I32], _i64(I32.astype(np.int64).sum(axis=0)), {"axes": [0]}, name="int32"),
    Case("sum", [I8], _i64(sum(int(v) for v in I8.ravel())), name="int8-no-overflow"),
    Case(
        "sum",
        [U8],
        np.array([sum(int(v) for v in row) for row in U8], np.uint64),
        {"axes": [1]},
        name="uint8",
    ),
    Case("sum", [B], _i64([int(col.sum()) for col in B.T]), {"axes": [0]}, name="bool"),
    Case("sum", [EMPTY], np.zeros(4, np.float32), {"axes": [0]}, name="empty"),
    Case("sum", [EMPTY_I], _i64([[0], [0]]), {"axes": [1], "keepdims": True}, name="empty-int"),
    Case("sum", [SCALAR], _f32(2.5), name="scalar"),
    Case("sum", [X], X.copy(), {"axes": []}, name="no-axes"),
    Case(
        "sum",
        [H],
        (H.astype(np.float64).sum(axis=1)).astype(np.float16),
        {"axes": [1]},
        name="f16",
        rtol=1e-2,
        atol=1e-2,
    ),
    # prod
    Case("prod", [SMALL], _f32(np.multiply.reduce(SMALL.astype(np.float64).ravel())), name="all"),
    Case("prod", [SMALL], SMALL[:, 0] * SMALL[:, 1] * SMALL[:, 2], {"axes": [-1]}, name="axis"),
    Case(
        "prod", [I32], _i64(I32[0].astype(np.int64) * I32[1] * I32[2]), {"axes": [0]}, name="int32"
    ),
    Case(
        "prod", [EMPTY], np.ones((1, 4), np.float32), {"axes": [0], "keepdims": True}, name="empty"
    ),
    # mean
    Case("mean", [X], _f32(_mean(X)), name="all", rtol=1e-5),
    Case("mean", [X], _f32(_mean(X, (0, 1))), {"axes": [0, 1]}, name="axes01", rtol=1e-5),
    Case(
        "mean", [X64], _mean(X64, 1)[:, None], {"axes": [-1], "keepdims": True}, name="f64-keepdims"
    ),
    Case("mean", [I32], _mean(I32, 1), {"axes": [1]}, name="int-to-f64"),
    Case("mean", [B], _mean(B, 0), {"axes": [0]}, name="bool"),
    Case("mean", [non_contiguous(X)], _f32(_mean(X, 2)), {"axes": [2]}, name="strided", rtol=1e-5),
    Case("mean", [EMPTY], np.full(4, np.nan, np.float32), {"axes": [0]}, name="empty-nan"),
    Case(
        "mean", [H], _mean(H, 0).astype(np.float16), {"axes": [0]}, name="f16", rtol=1e-3, atol=1e-3
    ),
    # max / min
    Case("max", [X], _f32(sorted(X.ravel())[-1]), name="all"),
    Case("max", [X], np.maximum(np.maximum(X[0], X[1]), X[2]), {"axes": [0]}, name="axis0"),
    Case(
        "max",
        [I32],
        np.array([[max(r)] for r in I32.tolist()], np.int32),
        {"axes": [-1], "keepdims": True},
        name="int-keepdims",
    ),
    Case("max", [B], np.array([any(r) for r in B.tolist()]), {"axes": [1]}, name="bool"),
    Case("max", [non_contiguous(X)], np.maximum.reduce(X, axis=2), {"axes": [2]}, name="strided"),
    Case("max", [EMPTY], np.zeros((0,), np.float32), {"axes": [1]}, name="empty-other-axis"),
    Case("min", [X], _f32(sorted(X.ravel())[0]), name="all"),
    Case(
        "min",
        [U8],
        np.array([min(c) for c in U8.T.tolist()], np.uint8),
        {"axes": [0]},
        name="uint8",
    ),
    Case(
        "min",
        [X64],
        np.minimum(X64[:, 0], np.minimum(X64[:, 1], X64[:, 2]))[:, None],
        {"axes": [1], "keepdims": True},
        name="f64-keepdims",
    ),
    Case(
        "min",
        [X],
        np.minimum.reduce(np.minimum.reduce(X, axis=2), axis=0),
        {"axes": [-1, -3]},
        name="two-neg-axes",
    ),
    # argmax / argmin: the first index of the extreme value
    Case("argmax", [TIES], _i64([1, 0, 0, 0]), name="ties-axis0"),
    Case("argmax", [TIES], _i64([1, 0]), {"axis": 1}, name="ties-axis1"),
    Case("argmax", [TIES], _i64([[1], [0]]), {"axis": -1, "keepdims": True}, name="keepdims"),
    Case(
        "argmax",
        [X],
        _i64([[list(v).index(max(v)) for v in row] for row in X.tolist()]),
        {"axis": 2},
        name="f32",
    ),
    Case(
        "argmax",
        [non_contiguous(X)],
        _i64([[list(c).index(max(c)) for c in zip(*plane, strict=True)] for plane in X.tolist()]),
        {"axis": 1},
        name="strided",
    ),
    Case("argmin", [TIES], _i64([3, 2]), {"axis": 1}, name="ties"),
    Case(
        "argmin",
        [X64],
        _i64([[list(c).index(min(c)) for c in zip(*X64.tolist(), strict=True)]]),
        {"axis": 0, "keepdims": True},
        name="f64-keepdims",
    ),
    Case(
        "argmin",
        [U8],
        _i64([list(r).index(min(r)) for r in U8.tolist()]),
        {"axis": -1},
        name="uint8",
    ),
    Case("argmin", [EMPTY], np.zeros((0,), np.int64), {"axis": 1}, name="empty-other-axis"),
]
