"""A program placed on a cluster with a plugin device: ops go to the toy device only where
it has a kernel, the rest fall back to the CPU (with the transfers charged), and the results
equal the CPU's."""

from __future__ import annotations

import numpy as np
import pytest

import scheduler
from scheduler import ClusterSpec, DeviceSpec
from tests.plugins.helpers import run_plan, run_reference
from tfrt_ray.cluster import device_discovery
from tfrt_ray.core import device_types as plugins
from tfrt_ray.errors import PlacementError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType

N, D = 128, 512
# The toy's matmul is NumPy's, the CPU's is oneDNN's where installed: two float32 GEMMs
# that sum 512 products in different orders differ by a few units in the 6th digit.
RTOL, ATOL = 1e-4, 1e-5


def _program():
    """matmul -> add -> relu -> softmax -> mul -> tanh -> matmul -> add: the toy device has
    matmul, add, mul and relu, not softmax or tanh."""
    rng = np.random.default_rng(1)
    b = GraphBuilder("toy_program")
    x = b.add_input(TensorType("f32", (N, D)), "x")

    def const(*shape):
        return b.add_node("constant", [], {"value": rng.standard_normal(shape).astype("f4")})[0]

    h = b.add_node("matmul", [x, const(D, D)])[0]
    h = b.add_node("relu", [b.add_node("add", [h, const(D)])[0]])[0]
    s = b.add_node("softmax", [h], {"axis": -1})[0]
    t = b.add_node("tanh", [b.add_node("mul", [s, h])[0]])[0]
    y = b.add_node("add", [b.add_node("matmul", [t, const(D, D)])[0], const(D)])[0]
    feeds = [rng.standard_normal((N, D)).astype("f4") / np.float32(np.sqrt(D))]
    return b.build([y, h], ["y", "h"]), feeds


def _cluster(toy_flops: float | None = 1e13) -> ClusterSpec:
    """A CPU and a toy device on one node; the toy's figures from the plugin when None."""
    cpu = DeviceSpec("cpu:0", "cpu", "node0", flops_per_s=2e10)
    if toy_flops is None:
        toy = device_discovery.device_spec("toy", "toy:0", "node0", plugins.LocalDevice(0, 1 << 30))
    else:
        toy = DeviceSpec("toy:0", "toy", "node0", flops_per_s=toy_flops, mem_bytes=1 << 30)
    return ClusterSpec((cpu, toy))


def test_ops_go_to_the_toy_device_only_where_it_has_kernels(toy_plugin):
    graph, feeds = _program()
    cluster = _cluster()
    placement = scheduler.place(graph, cluster, supports=plugins.supports)
    on_toy = [n for n in graph.nodes if placement.assign[n.name] == "toy:0"]
    assert {n.op for n in on_toy} >= {"matmul"}, placement.assign
    assert all(plugins.supports(n.op, "toy") for n in on_toy)
    for n in graph.nodes:
        if n.op in ("softmax", "tanh"):
            assert placement.assign[n.name] == "cpu:0"
    plan = scheduler.partition(graph, placement, cluster)
    assert {s.device for s in plan.stages} == {"cpu:0", "toy:0"}
    # Every value crossing between the devices is a transfer the cost model charged.
    assert plan.transfers and all(t.nbytes > 0 for t in plan.transfers)
    before = toy_plugin.CALLS["matmul"]
    got = run_plan(plan, cluster, feeds)
    assert toy_plugin.CALLS["matmul"] > before
    for g, r in zip(got, run_reference(graph, feeds), strict=True):
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=ATOL)


def test_plan_with_supports_uses_the_toy_device(toy_plugin):
    graph, feeds = _program()
    cluster = _cluster()
    plan = scheduler.plan(graph, cluster, "place", supports=plugins.supports)
    assert "toy:0" in plan.devices, plan.notes
    for stage in plan.stages:
        dtype = cluster.device(stage.device).type
        assert all(plugins.supports(n.op, dtype) for n in stage.nodes)
    for g, r in zip(run_plan(plan, cluster, feeds), run_reference(graph, feeds), strict=True):
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=ATOL)


def test_cost_figures_from_the_plugin_drive_the_choice(toy_plugin):
    graph, feeds = _program()
    cluster = _cluster(toy_flops=None)  # DeviceSpec from the plugin's own cost figures
    assert cluster.device("toy:0").flops_per_s == plugins.get_device_type("toy").flops_per_s
    plan = scheduler.plan(graph, cluster, "place", supports=plugins.supports)
    for g, r in zip(run_plan(plan, cluster, feeds), run_reference(graph, feeds), strict=True):
        np.testing.assert_allclose(g, r, rtol=RTOL, atol=ATOL)


def test_a_hint_to_the_toy_device_for_an_op_it_lacks_is_not_followed(toy_plugin):
    graph, _ = _program()
    softmax = next(n.name for n in graph.nodes if n.op == "softmax")
    placement = scheduler.place(graph, _cluster(), hints={softmax: "toy:0"},
                                supports=plugins.supports)
    assert placement.assign[softmax] == "cpu:0"
    assert any(softmax in w for w in placement.warnings)


def test_an_op_no_device_type_runs_is_a_placement_error(toy_plugin):
    graph, _ = _program()
    toy_only = ClusterSpec((DeviceSpec("toy:0", "toy", "node0"),))
    with pytest.raises(PlacementError, match="softmax"):
        scheduler.place(graph, toy_only, supports=plugins.supports)
