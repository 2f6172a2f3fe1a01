"""Index expressions shared by the eager, traced and actor indexing tests."""

from __future__ import annotations

import numpy as np

_ = slice(None)
CASES = [
    0, -1, 2, (1, 2), (-1, -3, 0), (_, 1), (_, _, -1), slice(1, 3), slice(None, None, -1),
    slice(None, None, 2), slice(3, 0, -1), slice(-1, None, -2), slice(5, 1), slice(-100, 100),
    (Ellipsis, 1), (Ellipsis, None), (None,), (None, 0, Ellipsis, 2), (_, None, slice(1, 3)),
    (1, slice(None, None, -2), slice(3, 0, -1)), (Ellipsis,), (0, Ellipsis, 0, 0),
    (_, [2, 0]), ([1, 0, 1],), (_, _, np.array([3, -1, 0])), (slice(0, 2), [True, False, True]),
    (np.array([True, False, True]),),
]
X = np.arange(3 * 3 * 4, dtype=np.float32).reshape(3, 3, 4)
