"""Memory planning (`device_actors.cpu.memory_plan`): an elementwise step whose input dies there
writes into that input's buffer, a step that takes ``out=`` writes into the buffer of a
value that died earlier, and never where anyone else can see the buffer: the caller's
inputs, constants, stage outputs and views all keep their values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings

from device_actors.cpu import memory_plan
from tests.passes.random_graphs import random_graphs
from tfrt_ray.core import executor
from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType

SHAPE = (256, 128)  # 128 KiB of float32: above the planning threshold


def _stage(build, shape=SHAPE):
    b = GraphBuilder("g")
    x = b.add_input(TensorType("f32", shape), "x")
    g = b.build(build(b, x))
    return compile_stage(g.nodes, g.types, g.inputs, g.outputs)


def _x(shape=SHAPE):
    return np.random.default_rng(1).standard_normal(shape).astype(np.float32)


def _check(stage, x):
    before = x.copy()
    want = stage.run_checked([x])
    for _ in range(2):  # a second run sees the same constants
        got = stage.run([x])
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-6)
    np.testing.assert_array_equal(x, before)  # the caller's array is untouched


def test_a_chain_updates_its_temporaries_in_place():
    def chain(b, x):
        (c,) = b.add_node("constant", [], {"value": np.full(SHAPE, 0.5, np.float32)})
        (y,) = b.add_node("exp", [x])  # x is the caller's: a new buffer
        (y,) = b.add_node("add", [y, c])  # y dies here: in place (c is a constant: kept)
        (y,) = b.add_node("relu", [y])  # in place
        (z,) = b.add_node("mul", [y, y])  # in place, both operands the same buffer
        (w,) = b.add_node("sub", [z, c])  # the stage's output: a buffer of its own
        return [w]

    stage = _stage(chain)
    assert stage.in_place_steps == 3
    _check(stage, _x())


def test_a_value_with_a_view_or_a_later_reader_keeps_its_buffer():
    def views(b, x):
        (y,) = b.add_node("exp", [x])
        (r,) = b.add_node("reshape", [y], {"shape": (128, 256)})  # a view of y
        (n,) = b.add_node("neg", [y])  # y's last use, but r still shows y's buffer
        (m,) = b.add_node("tanh", [n])  # n is its own: in place
        (k,) = b.add_node("abs", [m])  # a stage output: a buffer of its own
        (e,) = b.add_node("exp", [k])  # k is an output: never written over
        (f,) = b.add_node("neg", [e])
        return [r, k, f]

    stage = _stage(views)
    assert stage.in_place_steps == 1
    _check(stage, _x())


def test_small_values_are_not_planned():
    def chain(b, x):
        (y,) = b.add_node("exp", [x])
        return [b.add_node("neg", [y])[0]]

    assert _stage(chain, (4, 4)).in_place_steps == 0


def test_a_later_step_writes_into_the_buffer_of_a_value_that_died():
    def chain(b, x):
        (w,) = b.add_node("constant", [], {"value": np.eye(128, dtype=np.float32)})
        (y,) = b.add_node("exp", [x])
        (s,) = b.add_node("sum", [y], {"axes": (1,), "keepdims": True})  # y dies here
        (z,) = b.add_node("matmul", [x, w])  # takes out=: y's buffer
        (m,) = b.add_node("sub", [z, s])  # z dies here: in place
        (n,) = b.add_node("neg", [m])  # the stage's output: a buffer of its own
        return [n]

    stage = _stage(chain)
    assert (stage.in_place_steps, stage.reused_buffers) == (1, 1)
    _check(stage, _x())


@pytest.fixture
def plan_everything(monkeypatch):
    """Values of any size are freed after their last use and planned."""
    monkeypatch.setattr(executor, "FREE_BYTES", 1)
    monkeypatch.setattr(memory_plan, "FREE_BYTES", 1)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(random_graphs())
def test_random_graphs_compute_the_same_values_with_planning(plan_everything, example):
    graph, feeds = example
    stage = compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs)
    event(f"planned: in place {min(stage.in_place_steps, 1)}, reuse {min(stage.reused_buffers, 1)}")
    before = [np.array(f, copy=True) for f in feeds]
    want = stage.run_checked(list(feeds))
    for _ in range(2):
        got = stage.run(list(feeds))
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    for f, b in zip(feeds, before):
        np.testing.assert_array_equal(f, b)
