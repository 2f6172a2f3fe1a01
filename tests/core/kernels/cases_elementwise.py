"""Cases for the elementwise family: broadcasting, empty tensors, int and float dtypes,
non-contiguous inputs."""

from __future__ import annotations

import math

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand

A = rand(3, 4, seed=1)
B = rand(4, seed=2)
POS = rand(3, 4, seed=3, low=0.1, high=3.0)
I32 = rand(3, 4, dtype="int32", seed=4, low=-5, high=5)
I64 = rand(4, dtype="int64", seed=5, low=1, high=4)
EMPTY = np.zeros((0, 4), np.float32)
BOOL_A = rand(3, 4, dtype="bool", seed=6)
BOOL_B = rand(4, dtype="bool", seed=7)
_erf = np.vectorize(math.erf)

CASES = [
    Case("add", [A, B], A + B, name="broadcast"),
    Case("add", [I32, I64], I32 + I64, name="int-promote"),
    Case("add", [EMPTY, B], EMPTY + B, name="empty"),
    Case("add", [non_contiguous(A), A], A + A, name="strided"),
    Case("add", [A[:, :1], B[None, :]], A[:, :1] + B[None, :], name="both-broadcast"),
    Case("sub", [A, B], A - B),
    Case("mul", [A, I32], A * I32, name="float-int"),
    Case("div", [A, POS], A / POS),
    Case("div", [I32, I64], I32 / I64, name="int-true-div"),
    Case("floor_div", [I32, I64], I32 // I64),
    Case("mod", [I32, I64], I32 % I64),
    Case("pow", [POS, B], POS**B, rtol=1e-5),
    Case("maximum", [A, B], np.maximum(A, B)),
    Case("minimum", [I32, I64], np.minimum(I32, I64)),
    Case("neg", [A], -A),
    Case("neg", [I32], -I32, name="int"),
    Case("abs", [I32], np.abs(I32)),
    Case("sign", [A], np.sign(A)),
    Case("exp", [A], np.exp(A), rtol=1e-6),
    Case("log", [POS], np.log(POS)),
    Case("sqrt", [POS], np.sqrt(POS)),
    Case("sqrt", [EMPTY], EMPTY, name="empty"),
    Case("tanh", [A], np.tanh(A)),
    Case("sin", [A], np.sin(A)),
    Case("cos", [A], np.cos(A)),
    Case("reciprocal", [POS], 1 / POS),
    Case("floor", [A], np.floor(A)),
    Case("ceil", [A], np.ceil(A)),
    Case("round", [A], np.round(A)),
    Case("sigmoid", [A], (1 / (1 + np.exp(-A.astype(np.float64)))).astype(np.float32)),
    Case("erf", [A], _erf(A.astype(np.float64)).astype(np.float32), rtol=1e-6, atol=1e-7),
    Case("erf", [A.astype(np.float64)], _erf(A.astype(np.float64)), name="f64"),
    Case("relu", [A], np.where(A > 0, A, 0).astype(np.float32)),
    Case("relu", [non_contiguous(A)], np.where(A > 0, A, 0).astype(np.float32), name="strided"),
    Case("relu", [I32], np.where(I32 > 0, I32, 0).astype(np.int32), name="int"),
    Case("leaky_relu", [A], np.where(A >= 0, A, 0.1 * A).astype(np.float32), {"alpha": 0.1}),
    Case(
        "gelu",
        [A],
        (0.5 * A * (1 + _erf(A.astype(np.float64) / math.sqrt(2)))).astype(np.float32),
        rtol=1e-5,
        atol=1e-6,
    ),
    Case(
        "gelu",
        [A],
        (
            0.5
            * A
            * (1 + np.tanh(math.sqrt(2 / math.pi) * (A + 0.044715 * A.astype(np.float64) ** 3)))
        ).astype(np.float32),
        {"approximate": "tanh"},
        name="tanh",
        rtol=1e-5,
        atol=1e-6,
    ),
    Case("equal", [I32, I64], I32 == I64),
    Case("not_equal", [A, A], np.zeros(A.shape, bool)),
    Case("less", [A, B], A < B),
    Case("less_equal", [A, B], A <= B),
    Case("greater", [A, B], A > B),
    Case("greater_equal", [I32, I64], I32 >= I64),
    Case("logical_and", [BOOL_A, BOOL_B], BOOL_A & BOOL_B),
    Case("logical_or", [BOOL_A, BOOL_B], BOOL_A | BOOL_B),
    Case("logical_xor", [BOOL_A, BOOL_B], BOOL_A ^ BOOL_B),
    Case("logical_not", [BOOL_A], ~BOOL_A),
    Case("where", [BOOL_A, A, B], np.where(BOOL_A, A, B)),
    Case("where", [BOOL_B, I32, A], np.where(BOOL_B, I32, A), name="promote"),
    Case("clip", [A], np.clip(A, -0.5, 0.5), {"min": -0.5, "max": 0.5}),
    Case("clip", [A], np.maximum(A, 0.0).astype(np.float32), {"min": 0.0}, name="min-only"),
    Case("clip", [I32], np.clip(I32, -2, 2), {"min": -2, "max": 2}, name="int"),
    Case("cast", [A], A.astype(np.int32), {"dtype": "i32"}),
    Case("cast", [I32], I32.astype(np.float16), {"dtype": np.float16}, name="to-f16"),
    Case("cast", [BOOL_A], BOOL_A.astype(np.float32), {"dtype": "f32"}, name="from-bool"),
    Case("identity", [A], A),
]
