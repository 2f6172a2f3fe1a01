"""The "ort" device type: stages exported to ONNX and run by ONNX Runtime, against the
reference kernels; errors as values; partitioning runs of supported ops into one stage."""

from __future__ import annotations

import importlib
import warnings

import numpy as np
import onnx
import pytest

import scheduler
from device_actors.ort.device import CompiledOrtStage
from device_actors.ort.onnx_export import SUPPORTED_OPS, export_stage
from scheduler import ClusterSpec, DeviceSpec
from tests.plugins import models
from tests.plugins.helpers import run_plan, run_reference
from tfrt_ray.core import device_types as plugins
from tfrt_ray.errors import OpExecutionError, TfrtRayError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

RTOL, ATOL = 1e-4, 1e-5
# The kernel test cases (tests/core/kernels/cases_<family>.py) the sweeps below run.
FAMILIES = ("elementwise", "linalg", "nn", "reduce", "shapes", "fused", "onnx_math", "onnx_nn",
            "onnx_index")


def _compare(got, want, rtol=RTOL, atol=ATOL):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert isinstance(g, np.ndarray), g
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _ort(graph, cores=1) -> CompiledOrtStage:
    stage = plugins.compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs, "ort",
                                  "ort:0", cores)
    assert isinstance(stage, CompiledOrtStage)
    assert stage.session is not None, stage.fallback_reason
    return stage


@pytest.mark.parametrize("build", [models.mlp, models.conv_block, models.attention_block])
def test_model_stage_matches_the_reference_kernels(build):
    graph, feeds = build()
    stage = _ort(graph, cores=2)
    onnx.checker.check_model(stage.model)
    assert stage.session.get_session_options().intra_op_num_threads == 2
    _compare(stage.run(feeds), run_reference(graph, feeds))
    # Weights are initializers, counted by the runtime's memory accounting.
    assert sum(w.nbytes for w in stage.template) > 0
    timings: dict = {}
    _compare(stage.run_checked(feeds, timings), run_reference(graph, feeds))
    assert list(timings) == [stage.label]


def test_exported_model_names_nodes_and_values_after_the_ir():
    graph, _ = models.mlp()
    model, ins, outs = export_stage(graph.nodes, graph.types, graph.inputs, graph.outputs)
    assert ins == [f"v{v}" for v in graph.inputs] and len(outs) == 1
    names = {n.name for n in model.graph.node}
    assert {n.name for n in graph.nodes if n.op != "constant"} <= names
    assert len(model.graph.initializer) == sum(n.op == "constant" for n in graph.nodes)
    assert model.opset_import[0].version == 17


def test_stage_boundaries_inputs_passed_through_and_repeated_outputs():
    b = GraphBuilder()
    x = b.add_input(TensorType("f32", (3, 4)))
    y = b.add_input(TensorType("f32", (3, 4)))
    c = b.add_node("constant", [], {"value": np.full((3, 4), 2.0, "f4")})[0]
    s = b.add_node("add", [x, y])[0]
    g = b.build([s, x, s, c, b.add_node("mul", [s, c])[0]])
    feeds = [np.ones((3, 4), "f4"), np.arange(12, dtype="f4").reshape(3, 4)]
    _compare(_ort(g).run(feeds), run_reference(g, feeds))


def _cases():
    cases = []
    for family in FAMILIES:
        module = importlib.import_module(f"tests.core.kernels.cases_{family}")
        cases += [c for c in module.CASES if c.op in SUPPORTED_OPS]
    return cases


# Cases ONNX Runtime's CPU provider cannot run as such (the stage then runs on the reference
# kernels, with a warning): LRN of even size, the mean of nothing (ONNX says 0, numpy nan),
# numpy's floored mod inside a fused body, average pooling with dilations (opset 19).
KNOWN_FALLBACKS = {"lrn-even-size", "mean-empty-nan", "fused_elementwise-mod", "avg_pool_nd"}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c.id)
def test_every_supported_op_matches_the_reference(case):
    inputs = [np.asarray(x) for x in case.inputs if x is not None]
    attrs, _ = get_op(case.op).check(tuple(TensorType.of(x) for x in inputs), case.attrs)
    b = GraphBuilder(case.op)
    g = b.build(b.add_node(case.op, [b.add_input(TensorType.of(x)) for x in inputs], attrs))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        stage = CompiledOrtStage(g.nodes, g.types, g.inputs, g.outputs)
        got = stage.run(inputs)
    if stage.session is None:
        # Only where ORT lacks the op for this dtype; float32 runs on ORT.
        assert case.id in KNOWN_FALLBACKS or inputs[0].dtype != np.float32, stage.fallback_reason
    half = any(x.dtype == np.float16 for x in inputs)
    rtol = 1e-2 if half else max(case.rtol, RTOL)
    _compare(got, run_reference(g, inputs), rtol=rtol, atol=max(case.atol, ATOL))


def test_failed_op_is_an_error_value_naming_op_node_and_device():
    b = GraphBuilder()
    table = b.add_input(TensorType("f32", (5, 3)))
    idx = b.add_input(TensorType("i64", (2,)))
    bad = b.add_node("gather", [table, idx], {"axis": 0})[0]
    fine = b.add_node("relu", [table])[0]
    g = b.build([b.add_node("tanh", [bad])[0], fine])
    stage = _ort(g)
    tbl = np.arange(15, dtype="f4").reshape(5, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the reference path found the failure: no warning
        err, ok = stage.run([tbl, np.array([1, 99])])
    assert isinstance(err, OpExecutionError)
    assert (err.op, err.node, err.device) == ("gather", "gather", "ort:0")
    np.testing.assert_array_equal(ok, np.maximum(tbl, 0))  # the sibling finished
    upstream = TfrtRayError("an earlier stage failed")
    outs = stage.run([upstream, np.array([0, 1])])
    assert outs[0] is upstream and outs[1] is upstream


def test_ort_failure_the_reference_can_run_is_a_warning_and_a_result(monkeypatch):
    graph, feeds = models.mlp()
    stage = _ort(graph)

    def broken(*a, **k):
        raise RuntimeError("provider crashed")

    monkeypatch.setattr(stage.session, "run", broken)
    with pytest.warns(RuntimeWarning, match="provider crashed"):
        got = stage.run(feeds)
    _compare(got, run_reference(graph, feeds))


def test_stage_ort_cannot_export_runs_on_the_reference_with_a_warning():
    b = GraphBuilder()
    x = b.add_input(TensorType("f32", (2, 3, 4)))
    g = b.build([b.add_node("mean", [x], {"axes": (1,), "keepdims": False})[0],
                 b.add_node("top_k", [x], {"k": 2})[0]])
    with pytest.warns(RuntimeWarning, match="top_k"):
        stage = CompiledOrtStage(g.nodes, g.types, g.inputs, g.outputs)
    assert stage.session is None
    feeds = [np.random.default_rng(0).standard_normal((2, 3, 4)).astype("f4")]
    _compare(stage.run(feeds), run_reference(g, feeds))


def _mixed_program():
    """Two runs of ORT-supported ops with one op ORT lacks (mod) between them."""
    rng = np.random.default_rng(3)
    b = GraphBuilder("mixed")
    x = b.add_input(TensorType("f32", (128, 512)), "x")

    def w(*shape):
        value = (rng.standard_normal(shape) * 0.05).astype("f4")
        return b.add_node("constant", [], {"value": value})[0]

    h = b.add_node("matmul", [x, w(512, 512)])[0]
    h = b.add_node("relu", [b.add_node("add", [h, w(512)])[0]])[0]
    h = b.add_node("mod", [h, b.add_node("constant", [], {"value": np.float32(0.5)})[0]])[0]
    h = b.add_node("tanh", [b.add_node("matmul", [h, w(512, 512)])[0]])[0]
    out = b.add_node("softmax", [h], {"axis": -1})[0]
    return b.build([out]), [rng.standard_normal((128, 512)).astype("f4")]


def test_runs_of_supported_ops_form_one_ort_stage_each():
    graph, feeds = _mixed_program()
    cluster = ClusterSpec((DeviceSpec("cpu:0", "cpu", "node0", flops_per_s=2e10),
                           DeviceSpec("ort:0", "ort", "node0", flops_per_s=1e12)))
    placement = scheduler.place(graph, cluster, supports=plugins.supports,
                                input_device="ort:0")
    for n in graph.nodes:
        if n.op != "constant":
            assert placement.assign[n.name] == ("cpu:0" if n.op == "mod" else "ort:0"), n
    plan = scheduler.partition(graph, placement, cluster)
    by_device = [(s.device, [n.op for n in s.nodes if n.op != "constant"]) for s in plan.stages]
    assert by_device == [
        ("ort:0", ["matmul", "add", "relu"]),
        ("cpu:0", ["mod"]),
        ("ort:0", ["matmul", "tanh", "softmax"]),
    ]
    _compare(run_plan(plan, cluster, feeds), run_reference(graph, feeds))
