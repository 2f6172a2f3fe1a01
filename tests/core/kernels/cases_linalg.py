"""Cases for the linalg family: batch dims and broadcasting, 1-D operands, int and mixed
dtypes, transposed and non-contiguous inputs, empty tensors.

``expected`` comes from a naive product (multiply, then sum over K) in float64, never from
``np.matmul``.
"""

from __future__ import annotations

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand

F32 = dict(rtol=1e-5, atol=1e-5)


def naive_matmul(a, b, dtype=None):
    """numpy matmul semantics, spelled out: promote 1-D operands, broadcast the batch
    dims, sum the elementwise product over K."""
    dtype = dtype or np.result_type(a, b)
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    a2 = a64[None, :] if a64.ndim == 1 else a64
    b2 = b64[:, None] if b64.ndim == 1 else b64
    y = (a2[..., :, :, None] * b2[..., None, :, :]).sum(axis=-2)
    if a64.ndim == 1:
        y = y[..., 0, :]
    if b64.ndim == 1:
        y = y[..., 0]
    if np.dtype(dtype).kind in "iu":
        y = np.rint(y)
    return np.asarray(y).astype(dtype)


def naive_gemm(a, b, c=None, alpha=1.0, beta=1.0, trans_a=False, trans_b=False):
    dtype = np.result_type(a, b) if c is None else np.result_type(a, b, c)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    m, n = a.shape[0], b.shape[1]
    y = np.zeros((m, n), np.float64)
    for i in range(m):
        for j in range(n):
            y[i, j] = alpha * sum(float(a[i, k]) * float(b[k, j]) for k in range(a.shape[1]))
    if c is not None:
        y += beta * np.broadcast_to(np.asarray(c, np.float64), (m, n))
    return y.astype(dtype)


A = rand(3, 4, seed=11)
B = rand(4, 5, seed=12)
V4 = rand(4, seed=13)
BA = rand(2, 1, 3, 4, seed=14)
BB = rand(5, 4, 2, seed=15)
A64 = rand(3, 4, dtype="float64", seed=16)
B64 = rand(4, 5, dtype="float64", seed=17)
I32 = rand(3, 4, dtype="int32", seed=18, low=-5, high=5)
I64 = rand(4, 2, dtype="int64", seed=19, low=-5, high=5)
EMPTY_BATCH = np.zeros((0, 3, 4), np.float32)
C35 = rand(3, 5, seed=20)
C5 = rand(5, seed=21)
C31 = rand(3, 1, seed=22)
AT = rand(4, 3, seed=23)  # stored transposed
BT = rand(5, 4, seed=24)

CASES = [
    Case("matmul", [A, B], naive_matmul(A, B), name="2d", **F32),
    Case("matmul", [A64, B64], naive_matmul(A64, B64), name="f64", rtol=1e-12, atol=1e-12),
    Case("matmul", [BA, BB], naive_matmul(BA, BB), name="batch-broadcast", **F32),
    Case(
        "matmul",
        [rand(2, 3, 4, seed=25), B],
        naive_matmul(rand(2, 3, 4, seed=25), B),
        name="batch-vs-2d",
        **F32,
    ),
    Case("matmul", [V4, B], naive_matmul(V4, B), name="vec-mat", **F32),
    Case("matmul", [A, V4], naive_matmul(A, V4), name="mat-vec", **F32),
    Case("matmul", [V4, V4], naive_matmul(V4, V4), name="vec-vec-scalar", **F32),
    Case("matmul", [V4, BB], naive_matmul(V4, BB), name="vec-batched", **F32),
    Case("matmul", [I32, I64], naive_matmul(I32, I64), name="int-promote"),
    Case("matmul", [A, B64], naive_matmul(A, B64), name="f32-f64-promote", **F32),
    Case(
        "matmul", [non_contiguous(A), non_contiguous(B)], naive_matmul(A, B), name="strided", **F32
    ),
    Case("matmul", [AT.T, BT.T], naive_matmul(AT.T, BT.T), name="transposed-views", **F32),
    Case("matmul", [EMPTY_BATCH, B], np.zeros((0, 3, 5), np.float32), name="empty-batch"),
    Case(
        "matmul",
        [np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32)],
        np.zeros((3, 4), np.float32),
        name="empty-k",
    ),
    Case("gemm", [A, B], naive_gemm(A, B), name="no-c", **F32),
    Case("gemm", [A, B, None], naive_gemm(A, B), name="c-none", **F32),
    Case("gemm", [A, B, C35], naive_gemm(A, B, C35), name="c-full", **F32),
    Case(
        "gemm",
        [A, B, C5],
        naive_gemm(A, B, C5, alpha=0.5, beta=2.0),
        {"alpha": 0.5, "beta": 2.0},
        name="c-row-alpha-beta",
        **F32,
    ),
    Case(
        "gemm", [A, B, C31], naive_gemm(A, B, C31, beta=-1.0), {"beta": -1.0}, name="c-col", **F32
    ),
    Case(
        "gemm",
        [A, B, np.array(1.5, np.float32)],
        naive_gemm(A, B, np.float32(1.5)),
        name="c-scalar",
        **F32,
    ),
    Case(
        "gemm",
        [AT, B, C35],
        naive_gemm(AT, B, C35, trans_a=True),
        {"trans_a": True},
        name="trans-a",
        **F32,
    ),
    Case(
        "gemm",
        [AT, BT, C35],
        naive_gemm(AT, BT, C35, 2.0, 0.5, True, True),
        {"alpha": 2.0, "beta": 0.5, "trans_a": True, "trans_b": True},
        name="trans-both",
        **F32,
    ),
    Case(
        "gemm",
        [A64, B64, C5.astype(np.float64)],
        naive_gemm(A64, B64, C5.astype(np.float64)),
        name="f64",
        rtol=1e-12,
        atol=1e-12,
    ),
    Case(
        "gemm",
        [non_contiguous(A), non_contiguous(B), non_contiguous(C35)],
        naive_gemm(A, B, C35),
        name="strided",
        **F32,
    ),
    Case(
        "gemm", [np.zeros((0, 4), np.float32), B, C5], np.zeros((0, 5), np.float32), name="empty-m"
    ),
]
