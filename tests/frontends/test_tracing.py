"""@tr.function: tracing per signature, compiled runs, errors as values."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tfrt_ray.errors import IRError, OpExecutionError, ShapeError
from tfrt_ray.ir import parse_graph


def _mlp_arrays(batch=8):
    rng = np.random.default_rng(1)
    return (
        rng.standard_normal((batch, 16)).astype(np.float32),
        rng.standard_normal((16, 32)).astype(np.float32),
        rng.standard_normal((32, 4)).astype(np.float32),
    )


def test_traces_once_per_signature_and_matches_numpy():
    calls = []

    @tr.function
    def mlp(x, w1, w2):
        calls.append(1)
        return tr.relu(x @ w1) @ w2

    x, w1, w2 = _mlp_arrays()
    want = np.maximum(x @ w1, 0) @ w2
    for _ in range(3):
        np.testing.assert_allclose(mlp(x, w1, w2).numpy(), want, rtol=1e-5)
    assert len(calls) == 1 and mlp.trace_count == 1
    x16 = _mlp_arrays(batch=16)[0]
    assert mlp(x16, w1, w2).shape == (16, 4)
    assert mlp.trace_count == 2  # a new shape is a new signature
    mlp(x.astype(np.float64), w1, w2)
    assert mlp.trace_count == 3  # so is a new dtype


def test_python_values_are_part_of_the_signature_and_control_flow_runs_at_trace_time():
    @tr.function
    def f(x, n, mode):
        for _ in range(int(n)):
            x = x * 2.0
        return tr.relu(x) if mode == "relu" else tr.tanh(x)

    x = np.linspace(-1, 1, 5).astype(np.float32)
    np.testing.assert_allclose(f(x, 3, "relu").numpy(), np.maximum(x * 8, 0))
    np.testing.assert_allclose(f(x, 1, "tanh").numpy(), np.tanh(x * 2), rtol=1e-6)
    f(x, 3, "relu")
    assert f.trace_count == 2
    assert f(x, 1.0, "tanh").dtype == np.float32
    assert f.trace_count == 3  # 1 and 1.0 are different signatures


def test_structures_in_and_out_and_keyword_arguments():
    @tr.function
    def f(pair, scale=1.0):
        a, b = pair
        return {"sum": (a + b) * scale, "diff": a - b}

    a, b = np.ones(3, np.float32), np.arange(3, dtype=np.float32)
    out = f((a, b), scale=2.0)
    np.testing.assert_allclose(out["sum"].numpy(), (a + b) * 2)
    np.testing.assert_allclose(out["diff"].numpy(), a - b)


def test_lower_gives_ir_text_that_parses_back():
    @tr.function
    def mlp(x, w1, w2):
        return tr.relu(x @ w1) @ w2

    graph = mlp.lower(*_mlp_arrays())
    text = graph.as_text()
    assert '"tr.matmul"' in text and "test_tracing.py" in text
    assert parse_graph(text) == graph
    assert graph.input_names == ("x", "w1", "w2")


def test_captured_eager_tensors_become_constants():
    w = tr.tensor(np.full((3,), 2.0, np.float32))

    @tr.function
    def f(x):
        return x * w

    np.testing.assert_allclose(f(np.ones(3, np.float32)).numpy(), [2, 2, 2])
    assert "constant" in f.lower(np.ones(3, np.float32)).op_counts()


def test_shape_errors_are_caught_at_trace_time_with_the_users_line():
    @tr.function
    def bad(x, y):
        return x @ y  # mismatched on purpose

    with pytest.raises(ShapeError) as info:
        bad(np.ones((2, 3), np.float32), np.ones((4, 5), np.float32))
    assert info.value.op == "matmul"
    assert "test_tracing.py" in info.value.loc


def test_failed_branch_skips_only_its_dependents():
    @tr.function
    def two_branches(x, e):
        good = tr.exp(x) + 1.0
        bad = tr.pow(e, tr.tensor(np.array([-1], np.int64))) * 2  # ints to a negative power
        return good, bad

    x = np.zeros(3, np.float32)
    good, bad = two_branches(x, np.array([2], np.int64))
    np.testing.assert_allclose(good.numpy(), np.exp(x) + 1)  # the sibling is delivered
    with pytest.raises(OpExecutionError) as info:
        bad.numpy()
    assert info.value.op == "pow" and "test_tracing.py" in info.value.loc
    assert info.value.node and info.value.device == "host:0"


def test_branching_on_a_traced_value_says_how_to_fix_it():
    @tr.function
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(IRError, match="tr.where"):
        f(np.ones(2, np.float32))


def test_traced_tensor_cannot_escape():
    leaked = []

    @tr.function
    def f(x):
        leaked.append(x + 1)
        return x

    f(np.ones(2, np.float32))
    with pytest.raises(IRError, match="outside"):
        leaked[0].numpy()


def test_independent_heavy_branches_run_concurrently_with_same_result():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((256, 256)).astype(np.float32)

    @tr.function
    def f(x):
        outs = [tr.tanh((x + float(i)) @ x) for i in range(4)]  # distinct: CSE keeps all
        return outs[0] + outs[1] + outs[2] + outs[3]

    want = sum(np.tanh((a + i) @ a) for i in range(4))
    np.testing.assert_allclose(f(a).numpy(), want, rtol=1e-4, atol=1e-4)
    import os

    traced = next(iter(f._cache.values()))
    if (os.cpu_count() or 1) > 1:
        assert traced.stage.concurrent is not None
