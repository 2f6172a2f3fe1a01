"""Cases for the onnx_index family: gather_elements, gather_nd (with batch dims),
scatter_elements and scatter_nd (each reduction, duplicates), top_k (ties, smallest,
unsigned) and reverse_sequence. ``expected`` comes from Python loops."""

from __future__ import annotations

import numpy as np

from tests.core.kernels.case import Case, rand

D = rand(3, 4, seed=61)
IDX = np.array([[0, 3, -1], [2, 1, 0], [3, 3, 0]], np.int64)


def _gather_elements(data, idx, axis):
    out = np.empty(idx.shape, data.dtype)
    for pos in np.ndindex(*idx.shape):
        src = list(pos)
        src[axis] = idx[pos] % data.shape[axis]
        out[pos] = data[tuple(src)]
    return out


def _scatter_elements(data, idx, upd, axis, combine=None):
    out = data.copy()
    for pos in np.ndindex(*idx.shape):
        dst = list(pos)
        dst[axis] = idx[pos] % data.shape[axis]
        dst = tuple(dst)
        out[dst] = upd[pos] if combine is None else combine(out[dst], upd[pos])
    return out


def _top_k(x, k, largest):
    rows = []
    for row in x:
        def key(i, row=row):
            v = row[i].item()  # a Python number: no overflow negating a uint64
            return (-v if largest else v, i)

        order = sorted(range(len(row)), key=key)
        rows.append(order[:k])
    idx = np.array(rows, np.int64)
    return np.array([[x[r, i] for i in idx[r]] for r in range(len(x))], x.dtype), idx


TIES = np.array([[3.0, 1.0, 3.0, 2.0], [0.0, 5.0, 5.0, 5.0]], np.float32)
U64 = np.array([[2**63 + 5, 1, 2**63 + 5, 7]], np.uint64)

CASES = [
    Case("gather_elements", [D, IDX], _gather_elements(D, IDX, 1), {"axis": 1}),
    Case("gather_elements", [D, IDX[:2] % 3], _gather_elements(D, IDX[:2] % 3, 0),
         {"axis": 0}, name="axis0"),
    Case(
        "gather_nd",
        [D, np.array([[0, 1], [2, -1]], np.int64)],
        np.array([D[0, 1], D[2, 3]], np.float32),
    ),
    Case(
        "gather_nd",
        [rand(2, 3, 2, seed=62), np.array([[1], [2]], np.int64)],
        np.array([rand(2, 3, 2, seed=62)[0, 1], rand(2, 3, 2, seed=62)[1, 2]], np.float32),
        {"batch_dims": 1},
        name="batch-dims",
    ),
    Case("scatter_elements", [D, IDX, rand(3, 3, seed=63)],
         _scatter_elements(D, IDX, rand(3, 3, seed=63), 1), {"axis": 1}),
    *[
        Case("scatter_elements", [D, IDX, rand(3, 3, seed=64)],
             _scatter_elements(D, IDX, rand(3, 3, seed=64), 1, fn),
             {"axis": 1, "reduction": name}, name=name)
        for name, fn in (("add", np.add), ("mul", np.multiply), ("max", max), ("min", min))
    ],
    Case(
        "scatter_nd",
        [D, np.array([[1], [0]], np.int64), np.ones((2, 4), np.float32)],
        np.array([np.ones(4), np.ones(4), D[2]], np.float32),
    ),
    Case(
        "scatter_nd",
        [D, np.array([[0, 1], [0, 1], [2, -1]], np.int64), np.array([1.0, 2.0, 3.0], np.float32)],
        np.where(
            np.arange(12).reshape(3, 4) == 1, D + 3.0,
            np.where(np.arange(12).reshape(3, 4) == 11, D + 3.0, D)
        ).astype(np.float32),
        {"reduction": "add"},
        name="add-duplicates",
    ),
    Case("top_k", [TIES], _top_k(TIES, 3, True), {"k": 3}),
    Case("top_k", [TIES], _top_k(TIES, 2, False), {"k": 2, "largest": False}, name="smallest"),
    Case("top_k", [U64], _top_k(U64, 2, True), {"k": 2}, name="uint64"),
    Case(
        "reverse_sequence",
        [np.arange(12.0).reshape(4, 3), np.array([4, 2, 1], np.int64)],
        np.array([[9.0, 4.0, 2.0], [6.0, 1.0, 5.0], [3.0, 7.0, 8.0], [0.0, 10.0, 11.0]]),
        {"batch_axis": 1, "time_axis": 0},
    ),
]
