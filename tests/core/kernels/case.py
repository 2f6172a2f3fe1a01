"""Op test cases as data, shared by every device and execution mode (ONNX-style).

Each family's cases live in ``cases_<family>.py`` as a list named ``CASES``. ``expected`` is
computed independently with plain numpy (or Python), never by calling the kernel under test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Case:
    op: str
    inputs: list[Any]  # np.ndarray, or None for an omitted optional input
    expected: Any  # np.ndarray, or a tuple of them for multi-output ops
    attrs: dict = field(default_factory=dict)
    name: str = ""
    rtol: float = 1e-6
    atol: float = 1e-6

    @property
    def id(self) -> str:
        return f"{self.op}-{self.name}" if self.name else self.op


def rand(*shape: int, dtype: str = "float32", seed: int = 0, low: float = -2.0, high: float = 2.0):
    """Seeded random data; ints are drawn in [low, high)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(int(low), int(high), size=shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    return rng.uniform(low, high, size=shape).astype(dtype)


def non_contiguous(a: np.ndarray) -> np.ndarray:
    """The same values as ``a`` in a strided (non-contiguous) view."""
    big = np.empty(a.shape + (2,), dtype=a.dtype)
    big[..., 0] = a
    view = big[..., 0]
    assert not view.flags.c_contiguous or a.size <= 1
    return view
