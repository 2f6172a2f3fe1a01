"""Elementwise fusion skips tensors too small to gain from it."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tfrt_ray.passes import optimize


@pytest.mark.keep_fusion_threshold
@pytest.mark.parametrize("shape, fused", [((4, 4), False), ((64, 128), True)])
def test_fusion_applies_to_large_tensors_only(shape, fused):
    def chain(x, y):
        return tr.tanh(x * y + 1.0) - y

    args = [np.ones(shape, np.float32)] * 2
    graph = optimize(tr.function(chain, opt_level=0).lower(*args), level=2)
    assert ("fused_elementwise" in graph.op_counts()) == fused
