"""The "gpu" device type (CuPy). Its kernels' logic is checked everywhere, with NumPy as the
array module; on the GPU itself only where CuPy imports and a GPU answers (else skipped)."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import pytest
import scipy.special

from device_actors.gpu import device as cupy_device
from tests.plugins import models
from tests.plugins.helpers import run_reference
from tfrt_ray.core import device_types as plugins
from tfrt_ray.core.kernels import get_kernel
from tfrt_ray.errors import OpExecutionError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

NUMPY_KERNELS = cupy_device.make_kernels(np, scipy.special)
# The kernel test cases (tests/core/kernels/cases_<family>.py) the sweeps below run.
FAMILIES = ("elementwise", "linalg", "nn", "reduce", "shapes", "fused", "onnx_math", "onnx_nn",
            "onnx_index")


def _cases(ops):
    cases = []
    for family in FAMILIES:
        try:
            module = importlib.import_module(f"tests.core.kernels.cases_{family}")
        except ImportError:
            continue
        cases += [c for c in module.CASES if c.op in ops]
    return cases


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _compare(got, want, rtol=1e-4, atol=1e-5):
    got, want = _as_tuple(got), _as_tuple(want)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def test_discover_never_raises():
    found = cupy_device._discover()
    assert isinstance(found, list)
    assert all(d.mem_bytes > 0 for d in found)


def test_gpu_type_declares_resources_and_kernels():
    dt = plugins.get_device_type("gpu")
    assert dt.resources["num_gpus"] == 1 and dt.to_host and dt.from_host
    core = {"add", "mul", "matmul", "gemm", "softmax", "layer_norm", "sum", "mean", "reshape",
            "transpose", "conv2d", "max_pool2d", "gelu", "gather", "constant"}
    assert core <= dt.ops()
    assert all(plugins.supports(op, "gpu") for op in core)


@pytest.mark.parametrize("case", _cases(NUMPY_KERNELS), ids=lambda c: c.id)
def test_kernel_logic_matches_the_reference(case):
    """The GPU kernels, written against an array module, run here on NumPy."""
    present = [x for x in case.inputs if x is not None]
    attrs, _ = get_op(case.op).check(tuple(TensorType.of(np.asarray(x)) for x in present),
                                     case.attrs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing
        got = NUMPY_KERNELS[case.op](*present, **attrs)
        want = get_kernel(case.op, "cpu")(*present, **attrs)
    _compare(got, want, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5))


def test_kernel_failure_is_an_op_error_describing_inputs():
    matmul = cupy_device._checked("matmul", NUMPY_KERNELS["matmul"])
    with pytest.raises(OpExecutionError) as info:
        matmul(np.ones((2, 3), "f4"), np.ones((4, 5), "f4"))
    assert info.value.op == "matmul"
    assert info.value.inputs == ("tensor<2x3xf32>", "tensor<4x5xf32>")


# ---- on a GPU ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cupy():
    cp = pytest.importorskip("cupy")
    if not cupy_device._discover():
        pytest.skip("no GPU: CuPy imports but finds no device")
    return cp


@pytest.mark.parametrize("case", _cases(cupy_device.make_kernels(np, scipy.special)),
                         ids=lambda c: c.id)
def test_gpu_kernel_matches_the_reference(cupy, case):
    inputs = [np.asarray(x) for x in case.inputs if x is not None]
    attrs, _ = get_op(case.op).check(tuple(TensorType.of(x) for x in inputs), case.attrs)
    b = GraphBuilder(case.op)
    g = b.build(b.add_node(case.op, [b.add_input(TensorType.of(x)) for x in inputs], attrs))
    stage = plugins.compile_stage(g.nodes, g.types, g.inputs, g.outputs, "gpu", "gpu:0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = run_reference(g, inputs)
    _compare(stage.run(inputs), want, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5))


@pytest.mark.parametrize("build", [models.mlp, models.conv_block, models.attention_block])
def test_gpu_model_matches_the_reference(cupy, build):
    graph, feeds = build()
    stage = plugins.compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs, "gpu",
                                  "gpu:0")
    assert any(isinstance(v, cupy.ndarray) for v in stage.template)  # weights on the GPU
    outs = stage.run(feeds)
    assert all(type(o) is np.ndarray for o in outs)
    _compare(outs, run_reference(graph, feeds))
    eager = plugins.eager_kernel("matmul", "gpu")(feeds[0], feeds[0].T)
    _compare(eager, feeds[0] @ feeds[0].T)
