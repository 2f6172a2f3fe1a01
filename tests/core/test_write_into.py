"""`CompiledStage.run(into=...)`: kernels that can write an output straight into a given
buffer (how a device actor produces a value in shared memory without a copy)."""

from __future__ import annotations

import numpy as np
import pytest

from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType
from tfrt_ray.passes import optimize


def _stage(build, level=0):
    b = GraphBuilder("g")
    x = b.add_input(TensorType("f32", (128, 64)), "x")
    w = b.add_input(TensorType("f32", (64, 64)), "w")
    g = optimize(b.build(build(b, x, w)), level)
    return g, compile_stage(g.nodes, g.types, g.inputs, g.outputs)


def _inputs():
    rng = np.random.default_rng(3)
    return [rng.standard_normal((128, 64)).astype(np.float32),
            rng.standard_normal((64, 64)).astype(np.float32)]


def _elementwise(b, x, w):
    (y,) = b.add_node("mul", [x, x])
    return [y]


def _matmul_then_transpose(b, x, w):
    (y,) = b.add_node("matmul", [x, w])
    (t,) = b.add_node("transpose", [y], attrs={"perm": (1, 0)})
    return [y, t]


def _fused(b, x, w):
    (y,) = b.add_node("matmul", [x, w])
    (r,) = b.add_node("relu", [y])
    (e,) = b.add_node("exp", [r])
    (s,) = b.add_node("add", [e, r])
    return [s]


@pytest.mark.parametrize("build,level", [(_elementwise, 0), (_matmul_then_transpose, 0),
                                         (_fused, 2), (_fused, 1)])
def test_outputs_written_into_buffers_equal_the_normal_run(build, level):
    g, stage = _stage(build, level)
    args = _inputs()
    want = stage.run(args)
    writable = [i for i in range(len(g.outputs)) if stage.writes_into(i)]
    assert writable, [n.op for n in g.nodes]
    if level == 2:  # the fused kernels take ``out=`` too
        assert {n.op for n in g.nodes} & {"fused_elementwise", "fused_matmul"}
    into = {i: np.empty(t.shape, np.float32) for i, t in enumerate(stage.out_types)
            if i in writable}
    got = stage.run(args, into)
    for i, (a, b) in enumerate(zip(got, want)):
        np.testing.assert_array_equal(a, b)
        if i in into:
            assert a is into[i]  # written in place: no copy needed afterwards


def test_outputs_of_kernels_without_out_are_not_offered():
    g, stage = _stage(_matmul_then_transpose)
    ops = {v: n.op for n in g.nodes for v in n.outputs}
    assert [stage.writes_into(i) for i in range(2)] == [True, False]
    assert ops[g.outputs[1]] == "transpose"


def test_a_failing_kernel_still_gives_every_result_and_error():
    b = GraphBuilder("g")
    x = b.add_input(TensorType("i64", (4,)), "x")
    (y,) = b.add_node("add", [x, x])
    (p,) = b.add_node("pow", [x, x])  # negative integer powers raise at run time
    g = b.build([y, p])
    stage = compile_stage(g.nodes, g.types, g.inputs, g.outputs)
    buffer = np.empty(4, np.int64)
    assert stage.writes_into(0)
    got = stage.run([np.array([1, 2, -1, 3])], {0: buffer})
    np.testing.assert_array_equal(got[0], [2, 4, -2, 6])
    assert isinstance(got[1], Exception)
