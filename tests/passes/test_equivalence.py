"""Property: on random graphs, the optimized graph (level 1 and level 2) computes the same
values as the original, keeps its signature, and passes the verifier after every pass."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings

from tests.passes.graphs import run
from tests.passes.random_graphs import random_graphs
from tfrt_ray.passes import optimize


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_graphs())
def test_optimized_graphs_compute_the_same_values(example):
    graph, feeds = example
    want = run(graph, *feeds)
    for level in (1, 2):
        optimized = optimize(graph, level, verify_each=True)
        assert optimized.output_names == graph.output_names
        got = run(optimized, *feeds)
        for g, w in zip(got, want, strict=True):
            assert (g.dtype, g.shape) == (w.dtype, w.shape)
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)
        assert len(optimized.nodes) <= len(graph.nodes)
