"""The CPU device's oneDNN lowering (`device_actors.cpu.onednn_lowering`): convolutions, pooling
and the elementwise ops between them run through oneDNN on NHWC values, products by
constant weights through oneDNN's matmul, and every result equals the NumPy kernels' (the
stage's checked path runs those, on the same stage)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from device_actors.cpu import onednn
from device_actors.cpu.onednn_lowering import MIN_FLOPS
from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.errors import KernelLibraryError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType
from tfrt_ray.passes import optimize

pytestmark = pytest.mark.skipif(not onednn.available(), reason="oneDNN is not installed")

RNG = np.random.default_rng(11)


def _const(b, shape, scale=0.1):
    value = (RNG.standard_normal(shape) * scale).astype(np.float32)
    return b.add_node("constant", [], {"value": value})[0]


def _conv(b, x, cin, cout, k, stride=1, pad=None, bias=True, **attrs):
    pad = k // 2 if pad is None else pad
    ins = [x, _const(b, (cout, cin, k, k))] + ([_const(b, (cout,))] if bias else [])
    return b.add_node("conv2d", ins, {"strides": (stride, stride), "pads": (pad,) * 4,
                                      **attrs})[0]


def _resnet_block(b, x):
    """conv-relu, max pool, a bottleneck with a residual add, then global pooling."""
    (y,) = b.add_node("relu", [_conv(b, x, 3, 32, 7, stride=2)])
    (y,) = b.add_node("max_pool2d", [y], {"kernel_shape": (3, 3), "strides": (2, 2),
                                         "pads": (1, 1, 1, 1)})
    (h,) = b.add_node("relu", [_conv(b, y, 32, 16, 1)])
    (h,) = b.add_node("relu", [_conv(b, h, 16, 16, 3)])
    h = _conv(b, h, 16, 32, 1, bias=False)
    (s,) = b.add_node("add", [h, y])
    (s,) = b.add_node("relu", [s])
    (p,) = b.add_node("global_avg_pool", [s])
    return [p, s]


def _stage(build, shape=(2, 3, 96, 96), level=2, cores=1):
    b = GraphBuilder("g")
    x = b.add_input(TensorType("f32", shape), "x")
    g = optimize(b.build(build(b, x)), level)
    return g, compile_stage(g.nodes, g.types, g.inputs, g.outputs, cores=cores)


def _x(shape=(2, 3, 96, 96)):
    return RNG.standard_normal(shape).astype(np.float32)


def _same(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.flags.c_contiguous
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("level", [0, 2])
def test_a_resnet_block_runs_on_onednn_and_matches_numpy(level):
    g, stage = _stage(_resnet_block, level=level)
    assert stage.onednn_ops == 5
    moved = [type(s.fn).__name__ for s in stage.steps]
    assert moved.count("Conv") == 4 and moved.count("Pool") == 1, moved
    x = _x()
    _same(stage.run([x]), stage.run_checked([x]))


def test_values_between_convolutions_stay_channels_last():
    _, stage = _stage(_resnet_block)
    reorders = [s for s in stage.steps if isinstance(s.fn, onednn.Reorder)]
    # one NCHW copy of the block's output, for global pooling and for the second output
    assert len(reorders) == 1


@pytest.mark.parametrize("activation", ["none", "relu", "sigmoid", "tanh", "gelu"])
@pytest.mark.parametrize("k,stride,pad,dil", [(3, 1, 1, 1), (3, 2, 1, 1), (1, 2, 0, 1),
                                              (5, 1, 0, 2), (3, 1, (0, 1, 2, 1), 1)])
def test_fused_convolutions_match_numpy(activation, k, stride, pad, dil):
    pads = pad if isinstance(pad, tuple) else (pad,) * 4

    def build(b, x):
        y = _conv(b, x, 16, 32, k, stride=stride, pad=0, dilations=(dil, dil))
        w = _const(b, (32, 16, k, k))
        (y,) = b.add_node("fused_conv2d", [x, w, _const(b, (32,))],
                          {"strides": (stride, stride), "pads": pads,
                           "dilations": (dil, dil), "activation": activation})
        return [y]

    _, stage = _stage(build, shape=(1, 16, 64, 64))
    assert any(isinstance(s.fn, onednn.Conv) for s in stage.steps)
    x = _x((1, 16, 64, 64))
    _same(stage.run([x]), stage.run_checked([x]))


@pytest.mark.parametrize("cin,cout,group", [(32, 64, 4), (32, 32, 32), (32, 64, 32)])
def test_grouped_and_depthwise_convolutions_match_numpy(cin, cout, group):
    def build(b, x):
        (y,) = b.add_node("relu", [_conv(b, x, cin, 32, 1)])
        w = _const(b, (cout, 32 // group, 3, 3))
        (z,) = b.add_node("conv2d", [y, w, _const(b, (cout,))],
                          {"pads": (1, 1, 1, 1), "group": group})
        return [z]

    _, stage = _stage(build, shape=(1, cin, 64, 64))
    assert sum(isinstance(s.fn, onednn.Conv) for s in stage.steps) == 2
    x = _x((1, cin, 64, 64))
    _same(stage.run([x]), stage.run_checked([x]))


@pytest.mark.parametrize("ceil_mode,pads", [(0, (0, 0, 0, 0)), (1, (0, 0, 0, 0)),
                                            (1, (1, 1, 0, 0))])
def test_max_pooling_of_a_channels_last_value_matches_numpy(ceil_mode, pads):
    def build(b, x):
        (y,) = b.add_node("relu", [_conv(b, x, 8, 16, 3)])
        (p,) = b.add_node("max_pool2d", [y], {"kernel_shape": (3, 3), "strides": (2, 2),
                                              "pads": pads, "ceil_mode": ceil_mode})
        return [p]

    _, stage = _stage(build, shape=(1, 8, 33, 30))
    assert any(isinstance(s.fn, onednn.Pool) for s in stage.steps)
    x = _x((1, 8, 33, 30))
    _same(stage.run([x]), stage.run_checked([x]))


def test_small_convolutions_and_runtime_weights_stay_on_numpy():
    def tiny(b, x):
        return [_conv(b, x, 3, 4, 3)]

    _, stage = _stage(tiny, shape=(1, 3, 8, 8))
    assert 2 * 4 * 3 * 9 * 64 < MIN_FLOPS and stage.onednn_ops == 0

    b = GraphBuilder("g")
    x = b.add_input(TensorType("f32", (1, 16, 32, 32)), "x")
    w = b.add_input(TensorType("f32", (32, 16, 3, 3)), "w")  # weights arrive per step
    (y,) = b.add_node("conv2d", [x, w], {"pads": (1, 1, 1, 1)})
    g = b.build([y])
    stage = compile_stage(g.nodes, g.types, g.inputs, g.outputs)
    assert stage.onednn_ops == 0


def test_outputs_can_be_written_into_a_given_buffer():
    _, stage = _stage(_resnet_block)
    x = _x()
    want = stage.run([x])
    writable = [i for i in range(len(want)) if stage.writes_into(i)]
    assert writable == [1]  # the NHWC -> NCHW copy writes into a given buffer
    into = {1: np.empty(stage.out_types[1].shape, np.float32)}
    got = stage.run([x], into)
    for i in writable:
        assert got[i] is into[i]
    _same(got, want)


def test_one_stage_runs_on_several_threads_at_once():
    """Four threads in one stage at once get the values one thread gets. oneDNN's default
    (library) scratchpad is one buffer for every primitive, so two threads in the block's
    brgconv convolutions wrote into each other's partial sums (about 1 in 5 results was
    wrong here); each primitive now gets a scratchpad per thread."""
    _, stage = _stage(_resnet_block)
    assert any(getattr(s.fn, "prim", None) is not None and s.fn.prim.scratch_bytes
               for s in stage.steps), "no primitive here uses a scratchpad: test another"
    xs = [_x() for _ in range(4)]
    want = [stage.run_checked([x]) for x in xs]
    got: dict[int, list] = {}
    meet = threading.Barrier(4)  # all four enter the stage together, however slow the machine

    def run(i):
        meet.wait()
        got[i] = [stage.run([xs[i]]) for _ in range(12)]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        for out in got[i]:
            _same(out, want[i])


def test_an_input_of_another_shape_never_reaches_a_primitive():
    """A primitive reads raw memory: one made for 96x96 refuses 96x90 (no read past the
    end), and the stage falls back to the NumPy kernels, which take any shape."""
    _, stage = _stage(_resnet_block)
    conv = next(s.fn for s in stage.steps if isinstance(s.fn, onednn.Conv))
    x = _x((2, 3, 96, 90))
    with pytest.raises(KernelLibraryError, match="made for shape"):
        conv(x)
    _same(stage.run([x]), stage.run_checked([x]))


def test_the_switch_in_the_environment_turns_onednn_off():
    code = ("from device_actors.cpu import onednn; print(onednn.available())")
    env = {**os.environ, "TFRT_RAY_ONEDNN": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_profiled_run_times_the_onednn_steps():
    g, stage = _stage(_resnet_block)
    timings: dict = {}
    timeline: list = []
    x = _x()
    _same(stage.run_profiled([x], timings, timeline), stage.run_checked([x]))
    ops = [op for _name, op, _t0, _t1 in timeline]
    assert ops.count("fused_conv2d") + ops.count("conv2d") == 4 and "reorder" in ops
    assert set(timings) >= {n.name for n in g.nodes if n.inputs}


@pytest.mark.parametrize("activation", ["none", "relu", "gelu"])
@pytest.mark.parametrize("a_shape", [(256, 96), (2, 64, 96)])
def test_products_by_constant_weights_match_numpy(activation, a_shape, monkeypatch):
    monkeypatch.setenv("TFRT_RAY_KERNELS", "rule")  # oneDNN's matmul, whatever this CPU is

    def build(b, x):
        (y,) = b.add_node("fused_matmul", [x, _const(b, (96, 128)), _const(b, (128,))],
                          {"activation": activation})
        (z,) = b.add_node("matmul", [y, _const(b, (128, 64))])
        (r,) = b.add_node("matmul", [z, b.add_node("transpose", [z], {"perm": (
            *range(len(a_shape) - 2), len(a_shape) - 1, len(a_shape) - 2)})[0]])
        return [z, r]

    _, stage = _stage(build, shape=a_shape)
    kinds = [type(s.fn).__name__ for s in stage.steps]
    assert kinds.count("MatMul") == 2  # the product of two runtime values stays on NumPy
    x = _x(a_shape)
    _same(stage.run([x]), stage.run_checked([x]))
    into = {0: np.empty(stage.out_types[0].shape, np.float32)}
    assert stage.writes_into(0) and stage.run([x], into)[0] is into[0]
