"""Cases for the shapes family: views and copies, negative axes, int/bool/float dtypes,
empty tensors, non-contiguous inputs, ONNX Slice clamping and negative steps, Gather with
negative and multi-dim indices, Pad in each mode (and cropping), the generators."""

from __future__ import annotations

import numpy as np

from tests.core.kernels.case import Case, non_contiguous, rand
from tfrt_ray.ir.graph import ConstTensor

BIG = 2**63 - 1  # INT64_MAX, ONNX's "to the end"
SMALL = -(2**63)  # INT64_MIN, ONNX's "past the start" for negative steps

A = rand(2, 3, 4, seed=21)
M = rand(3, 4, seed=22)
I = rand(3, 4, dtype="int64", seed=23, low=-50, high=50)
I32 = rand(2, 5, dtype="int32", seed=24, low=-9, high=9)
BOOL = rand(2, 3, dtype="bool", seed=25)
V = rand(6, seed=26)
COL = rand(3, 1, seed=27)
ONES = rand(1, 3, 1, 2, seed=28)
EMPTY = np.zeros((0, 3), np.float32)
SCALAR = np.array(7.5, np.float32)


def _take(a, rows=None, cols=None):
    """a[rows][:, cols] by explicit Python loops (2-D)."""
    rows = range(a.shape[0]) if rows is None else rows
    cols = range(a.shape[1]) if cols is None else cols
    return np.array([[a[r, c] for c in cols] for r in rows], a.dtype).reshape(len(rows), len(cols))


def _reflect(n, b, e):
    out = []
    for i in range(-b, n + e):
        j = -i if i < 0 else i
        out.append(2 * (n - 1) - j if j >= n else j)
    return out


def _edge(n, b, e):
    return [min(max(i, 0), n - 1) for i in range(-b, n + e)]


def _const_pad(a, pads, value):
    """Constant pad (non-negative pads) by writing ``a`` into a filled array."""
    r = a.ndim
    shape = tuple(d + pads[i] + pads[i + r] for i, d in enumerate(a.shape))
    out = np.full(shape, value, a.dtype)
    out[tuple(slice(pads[i], pads[i] + d) for i, d in enumerate(a.shape))] = a
    return out


def _tiled(a, reps):
    for axis, r in enumerate(reps):
        a = np.concatenate([a] * r, axis=axis)
    return a


CASES = [
    # reshape (views)
    Case("reshape", [A], np.array(A.ravel().tolist(), np.float32).reshape(6, 4), {"shape": [6, 4]}),
    Case("reshape", [A], A.reshape(2, 12), {"shape": [0, -1]}, name="copy-dim-infer"),
    Case("reshape", [A], A.reshape(4, 3, 2), {"shape": [4, 0, 2]}, name="copy-middle"),
    Case("reshape", [A], A.ravel(), {"shape": [-1]}, name="flat"),
    Case("reshape", [non_contiguous(M)], M.reshape(2, 6), {"shape": [2, -1]}, name="strided"),
    Case("reshape", [I], I.reshape(4, 3), {"shape": [4, 3]}, name="int"),
    Case("reshape", [EMPTY], np.zeros((0, 3), np.float32), {"shape": [-1, 3]}, name="empty"),
    Case(
        "reshape",
        [EMPTY],
        np.zeros((0, 1, 3), np.float32),
        {"shape": [0, 1, 3]},
        name="empty-copy-zero",
    ),
    Case("reshape", [SCALAR], np.full((1, 1), 7.5, np.float32), {"shape": [1, -1]}, name="scalar"),
    # transpose
    Case("transpose", [A], np.einsum("ijk->kji", A), name="reverse"),
    Case("transpose", [A], np.einsum("ijk->jik", A), {"perm": [1, 0, 2]}),
    Case("transpose", [A], np.einsum("ijk->kij", A), {"perm": [-1, 0, 1]}, name="neg-perm"),
    Case(
        "transpose",
        [non_contiguous(I)],
        np.einsum("ij->ji", I),
        {"perm": [1, 0]},
        name="strided-int",
    ),
    Case("transpose", [EMPTY], np.zeros((3, 0), np.float32), name="empty"),
    # concat
    Case("concat", [M, COL], np.hstack([M, COL]), {"axis": 1}),
    Case(
        "concat",
        [A, A[:, :1], A[:, 1:]],
        np.hstack([A, A[:, :1], A[:, 1:]]),
        {"axis": -2},
        name="three-neg-axis",
    ),
    Case("concat", [I32, I32[:, :2]], np.hstack([I32, I32[:, :2]]), {"axis": 1}, name="int"),
    Case("concat", [EMPTY, M[:, :3]], M[:, :3].copy(), {"axis": 0}, name="empty"),
    Case("concat", [non_contiguous(M)], M.copy(), {"axis": 0}, name="single-strided"),
    Case("concat", [BOOL, ~BOOL], np.vstack([BOOL, ~BOOL]), {"axis": 0}, name="bool"),
    # split
    Case("split", [A], (A[:, :1], A[:, 1:]), {"axis": 1, "sizes": [1, 2]}),
    Case(
        "split",
        [A],
        (A[..., :1], A[..., 1:2], A[..., 2:]),
        {"axis": -1, "sizes": [1, 1, 2]},
        name="neg-axis",
    ),
    Case("split", [V], (V[:0], V[:4], V[4:]), {"sizes": [0, 4, 2]}, name="zero-size"),
    Case("split", [non_contiguous(I)], (I[:2], I[2:]), {"sizes": [2, 1]}, name="strided-int"),
    # slice (ONNX semantics)
    Case("slice", [M], M[0:2, 1:3], {"starts": [0, 1], "ends": [2, 3]}),
    Case(
        "slice",
        [M],
        M[:, -3:],
        {"starts": [-3], "ends": [BIG], "axes": [1]},
        name="neg-start-to-end",
    ),
    Case("slice", [V], V[::-1], {"starts": [-1], "ends": [SMALL], "steps": [-1]}, name="reverse"),
    Case(
        "slice",
        [V],
        np.array([V[5], V[3], V[1]], np.float32),
        {"starts": [100], "ends": [-100], "steps": [-2]},
        name="neg-step-clamped",
    ),
    Case(
        "slice",
        [V],
        np.array([V[4], V[3]], np.float32),
        {"starts": [4], "ends": [2], "steps": [-1]},
        name="neg-step",
    ),
    Case(
        "slice",
        [A],
        A[:, :, 0:4:2][:, 1:],
        {"starts": [0, 1], "ends": [10, 3], "axes": [-1, 1], "steps": [2, 1]},
        name="axes-steps",
    ),
    Case("slice", [I], np.zeros((0, 4), np.int64), {"starts": [2], "ends": [1]}, name="empty"),
    Case(
        "slice",
        [non_contiguous(M)],
        M[:, ::3],
        {"starts": [-100, 0], "ends": [BIG, BIG], "steps": [1, 3]},
        name="strided-clamped",
    ),
    # gather (ONNX)
    Case("gather", [I, np.array([2, 0, -1])], _take(I, rows=[2, 0, 2]), name="neg-indices"),
    Case(
        "gather",
        [I, np.array([[0, -1], [1, 2]], np.int32)],
        np.stack([_take(I, cols=c) for c in ([0, 3], [1, 2])], axis=1),
        {"axis": 1},
        name="2d-indices-axis1",
    ),
    Case("gather", [A, np.array(1)], np.array(A.tolist()[1], np.float32), name="scalar-index"),
    Case("gather", [M, np.zeros((0,), np.int64)], np.zeros((0, 4), np.float32), name="empty"),
    Case(
        "gather",
        [non_contiguous(A), np.array([[3], [-4]], np.int64)],
        np.stack([A[:, :, 3:4], A[:, :, 0:1]], axis=2),
        {"axis": -1},
        name="strided-neg-axis",
    ),
    # expand (bidirectional broadcast)
    Case("expand", [COL], COL + np.zeros((3, 4), np.float32), {"shape": [3, 4]}),
    Case(
        "expand",
        [COL],
        COL + np.zeros((2, 1, 4), np.float32),
        {"shape": [2, 1, 4]},
        name="bidirectional",
    ),
    Case("expand", [I32], I32.copy(), {"shape": [1, 1]}, name="smaller-shape"),
    Case("expand", [BOOL[:, :1]], np.hstack([BOOL[:, :1]] * 3), {"shape": [3]}, name="bool"),
    # squeeze / unsqueeze / flatten (views)
    Case("squeeze", [ONES], ONES[0, :, 0, :], name="all"),
    Case("squeeze", [ONES], ONES[0], {"axes": [0]}),
    Case("squeeze", [ONES], ONES[:, :, 0], {"axes": [-2]}, name="neg-axis"),
    Case("squeeze", [non_contiguous(COL)], COL[:, 0], {"axes": [1]}, name="strided"),
    Case("unsqueeze", [M], M[None], {"axes": [0]}),
    Case("unsqueeze", [M], M[:, :, None], {"axes": [-1]}, name="neg-axis"),
    Case("unsqueeze", [I], I[:, None, :, None], {"axes": [3, 1]}, name="two-int"),
    Case("unsqueeze", [SCALAR], np.array([7.5], np.float32), {"axes": [0]}, name="scalar"),
    Case("flatten", [A], A.reshape(2, 12)),
    Case("flatten", [A], A.reshape(1, 24), {"axis": 0}, name="axis0"),
    Case("flatten", [A], A.reshape(24, 1), {"axis": 3}, name="axis-rank"),
    Case("flatten", [non_contiguous(A)], A.reshape(6, 4), {"axis": -1}, name="strided-neg"),
    Case("flatten", [np.zeros((2, 0, 3), np.int32)], np.zeros((2, 0), np.int32), name="empty"),
    # pad
    Case("pad", [M], _const_pad(M, [1, 0, 0, 2], 1.5), {"pads": [1, 0, 0, 2], "value": 1.5}),
    Case(
        "pad",
        [I32],
        _const_pad(I32, [0, 2, 1, 0], 7),
        {"pads": [0, 2, 1, 0], "value": 7.0},
        name="int",
    ),
    Case(
        "pad",
        [M],
        M[np.ix_(_reflect(3, 1, 2), _reflect(4, 2, 1))],
        {"pads": [1, 2, 2, 1], "mode": "reflect"},
        name="reflect",
    ),
    Case(
        "pad",
        [non_contiguous(M)],
        M[np.ix_(_edge(3, 2, 0), _edge(4, 1, 3))],
        {"pads": [2, 1, 0, 3], "mode": "edge"},
        name="edge-strided",
    ),
    Case(
        "pad",
        [M],
        np.hstack([np.zeros((2, 1), np.float32), M[1:, :2]]),
        {"pads": [-1, 1, 0, -2]},
        name="crop",
    ),
    Case(
        "pad",
        [M],
        M[1:][np.ix_(_edge(2, 0, 1), _edge(4, 0, 0))],
        {"pads": [-1, 0, 1, 0], "mode": "edge"},
        name="crop-edge",
    ),
    Case(
        "pad",
        [A],
        A[np.ix_(range(2), range(3), _reflect(4, 3, 0))],
        {"pads": [0, 0, 3, 0, 0, 0], "mode": "reflect"},
        name="3d-last-axis",
    ),
    Case(
        "pad",
        [EMPTY],
        np.full((0, 5), 2.0, np.float32),
        {"pads": [0, 1, 0, 1], "value": 2.0},
        name="empty",
    ),
    # tile
    Case("tile", [M], np.vstack([M, M]), {"repeats": [2, 1]}),
    Case("tile", [I32], np.hstack([I32, I32, I32]), {"repeats": [1, 3]}, name="int"),
    Case(
        "tile", [non_contiguous(A)], _tiled(A, [2, 1, 2]), {"repeats": [2, 1, 2]}, name="strided-3d"
    ),
    Case("tile", [M], np.zeros((0, 8), np.float32), {"repeats": [0, 2]}, name="zero"),
    # shape
    Case("shape", [A], np.array([2, 3, 4], np.int64)),
    Case("shape", [SCALAR], np.zeros((0,), np.int64), name="scalar"),
    Case("shape", [EMPTY], np.array([0, 3], np.int64), name="empty"),
    # generators
    Case(
        "constant",
        [],
        np.arange(6, dtype=np.float32).reshape(2, 3),
        {"value": ConstTensor(np.arange(6, dtype=np.float32).reshape(2, 3))},
    ),
    Case("constant", [], np.array(2.5, np.float64), {"value": np.array(2.5)}, name="scalar"),
    Case(
        "constant",
        [],
        np.array([3, -1], np.int32),
        {"value": np.array([3, -1], np.int32)},
        name="int",
    ),
    Case(
        "constant_of_shape", [], np.full((2, 3), 1.5, np.float32), {"shape": [2, 3], "value": 1.5}
    ),
    Case(
        "constant_of_shape",
        [],
        np.full((4,), 7, np.int32),
        {"shape": [4], "value": 7, "dtype": "i32"},
        name="int",
    ),
    Case("constant_of_shape", [], np.zeros((), np.float32), {"shape": []}, name="scalar"),
    Case(
        "constant_of_shape",
        [],
        np.zeros((0, 4), np.float64),
        {"shape": [0, 4], "dtype": np.float64},
        name="empty",
    ),
    Case("range", [], np.array([0, 1, 2, 3, 4], np.int64), {"start": 0, "limit": 5, "delta": 1}),
    Case(
        "range",
        [],
        np.array([10, 7, 4, 1], np.int64),
        {"start": 10, "limit": 0, "delta": -3},
        name="negative-delta",
    ),
    Case(
        "range",
        [],
        np.array([1.0, 1.25, 1.5, 1.75], np.float32),
        {"start": 1, "limit": 2, "delta": 0.25, "dtype": "f32"},
        name="f32",
    ),
    Case(
        "range",
        [],
        np.array([i / 10 for i in range(10)]),
        {"start": 0, "limit": 1, "delta": 0.1, "dtype": "f64"},
        name="f64",
        atol=1e-12,
    ),
    Case("range", [], np.zeros((0,), np.int64), {"start": 5, "limit": 0, "delta": 1}, name="empty"),
]
