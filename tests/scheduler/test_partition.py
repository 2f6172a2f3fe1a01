import random

import numpy as np
import pytest

from scheduler import ClusterSpec, Placement, partition, place
from scheduler.synthetic import random_layered_graph
from tfrt_ray.errors import PlacementError

from .graphs import branches, chain, check_plan, tiny


def test_a_b_a_gives_three_stages():
    g = chain(["relu", "exp", "neg"])
    c = ClusterSpec.simulated(2)
    p = partition(g, Placement({"n0": "cpu:0", "n1": "cpu:1", "n2": "cpu:0"}), c)
    assert [(s.device, [n.name for n in s.nodes]) for s in p.stages] == [
        ("cpu:0", ["n0"]),
        ("cpu:1", ["n1"]),
        ("cpu:0", ["n2"]),
    ]
    check_plan(p)
    assert [(t.src, t.dst) for t in p.transfers] == [
        ("input", "cpu:0"),
        ("cpu:0", "cpu:1"),
        ("cpu:1", "cpu:0"),
    ]


def test_one_transfer_per_value_and_destination():
    # x -> a (dev0); b, c, d on dev1 all read a, in two stages of dev1.
    g = chain(["relu"])  # reuse the builder below instead
    from tfrt_ray.ir.graph import GraphBuilder
    from tfrt_ray.ir.types import TensorType

    b = GraphBuilder("fan")
    x = b.add_input(TensorType("f32", (8, 8)))
    (a,) = b.add_node("exp", [x], name="a")
    (p,) = b.add_node("relu", [a], name="p")
    (q,) = b.add_node("neg", [p], name="q")  # on dev0, after p: forces dev1 into 2 stages
    (r,) = b.add_node("add", [a, q], name="r")
    (s,) = b.add_node("mul", [a, r], name="s")
    g = b.build([s])
    assign = {"a": "cpu:0", "p": "cpu:1", "q": "cpu:0", "r": "cpu:1", "s": "cpu:1"}
    plan = partition(g, Placement(assign), ClusterSpec.simulated(2))
    check_plan(plan)
    dev1 = [st for st in plan.stages if st.device == "cpu:1"]
    assert len(dev1) == 2 and all(a in st.inputs for st in dev1)
    assert sum(1 for t in plan.transfers if t.value == a and t.dst == "cpu:1") == 1


def test_same_device_values_across_stages_need_no_transfer():
    g = chain(["relu", "exp", "neg", "abs"])
    assign = {"n0": "cpu:0", "n1": "cpu:1", "n2": "cpu:0", "n3": "cpu:0"}
    p = partition(g, Placement(assign), ClusterSpec.simulated(2))
    check_plan(p)
    assert len(p.stages) == 3
    assert all(t.dst != t.src for t in p.transfers)


@pytest.mark.parametrize("seed", range(6))
def test_invariants_on_random_placements(seed):
    rng = random.Random(seed)
    g = random_layered_graph(400, rng.choice([1, 3, 16]), seed=seed)
    c = ClusterSpec.simulated(rng.choice([2, 5, 16]))
    assign = {n.name: rng.choice(c.ids) for n in g.nodes}
    check_plan(partition(g, Placement(assign), c))


@pytest.mark.parametrize("devices", [1, 8, 256])
def test_invariants_on_cost_model_placements(devices):
    g = random_layered_graph(2000, 32, seed=devices, shape=(128, 128))
    c = ClusterSpec.simulated(devices, mem_bytes=(32 << 20) if devices > 1 else (1 << 30))
    plan = partition(g, place(g, c))
    check_plan(plan)
    assert plan.devices == tuple(d for d in c.ids if d in plan.devices)


def test_partition_without_cluster_uses_first_use_order():
    g = chain(["relu", "exp"])
    p = partition(g, Placement({"n0": "b", "n1": "a"}))
    check_plan(p)
    assert p.devices == ("b", "a")
    assert any("no ClusterSpec" in n for n in p.notes)


def test_missing_or_unknown_devices_are_errors():
    g = chain(["relu", "exp"])
    with pytest.raises(PlacementError, match="no device"):
        partition(g, Placement({"n0": "cpu:0"}), ClusterSpec.simulated(2))
    with pytest.raises(PlacementError, match="unknown 'gpu:0'"):
        partition(g, Placement({"n0": "cpu:0", "n1": "gpu:0"}), ClusterSpec.simulated(2))


def test_predicted_step_counts_call_overheads():
    c = ClusterSpec.simulated(2, call_overhead_s=1e-2)
    g = tiny()
    one = partition(g, place(g, c))
    split = partition(g, Placement({"a": "cpu:0", "r": "cpu:1", "e": "cpu:0", "m": "cpu:0"}), c)
    assert one.predicted_step_s >= 1e-2
    assert split.predicted_step_s >= 3e-2  # three stage calls in a row
    assert sum(split.per_device_s.values()) >= 3e-2


def test_stages_of_parallel_branches():
    g = branches(3, 6, shape=(2048, 2048))
    c = ClusterSpec.simulated(3)
    plan = partition(g, place(g, c))
    check_plan(plan)
    assert len(plan.devices) == 3


def test_constants_join_their_consumers_stage_instead_of_a_stage_of_their_own():
    from scheduler import ClusterSpec, DeviceSpec, partition, place
    from tfrt_ray.ir import GraphBuilder, TensorType

    b = GraphBuilder("consts")
    x = b.add_input(TensorType("f32", (4,)), "x")
    (c0,) = b.add_node("constant", [], {"value": np.ones(4, np.float32)}, name="c0")
    (y,) = b.add_node("add", [x, c0], name="on0")
    (c1,) = b.add_node("constant", [], {"value": np.ones(4, np.float32)}, name="c1")
    (z,) = b.add_node("mul", [y, c1], name="on1")
    graph = b.build([z])
    cluster = ClusterSpec((DeviceSpec("a", "cpu", "n0"), DeviceSpec("b", "cpu", "n0")))
    placement = place(graph, cluster, hints={"c0": "a", "on0": "a", "c1": "b", "on1": "b"})
    plan = partition(graph, placement, cluster)
    assert [[n.name for n in s.nodes] for s in plan.stages] == [["c0", "on0"], ["c1", "on1"]]


def _shared_constant_graph(const_shape):
    """One constant, read by an op on each of two devices (what CSE makes of ``x + 1.0``
    under one device hint and ``y - 1.0`` under another)."""
    from tfrt_ray.ir.graph import GraphBuilder
    from tfrt_ray.ir.types import TensorType

    b = GraphBuilder("shared_const")
    x = b.add_input(TensorType("f32", const_shape))
    (c,) = b.add_node("constant", [], attrs={"value": np.ones(const_shape, np.float32)},
                      name="c")
    (y,) = b.add_node("add", [x, c], name="y")
    (z,) = b.add_node("sub", [y, c], name="z")
    return b.build([z]), c


def test_a_small_constant_is_copied_not_transferred():
    g, c = _shared_constant_graph((4, 4))
    plan = partition(g, Placement({"c": "cpu:0", "y": "cpu:0", "z": "cpu:1"}),
                     ClusterSpec.simulated(2))
    check_plan(plan)
    assert [[n.name for n in s.nodes] for s in plan.stages] == [["c", "y"], ["c", "z"]]
    assert all(t.value != c for t in plan.transfers)
    assert plan.stages[0].outputs == (g.nodes[1].outputs[0],)  # y only, not the constant


def test_a_constant_read_only_elsewhere_gets_no_stage_of_its_own():
    g, c = _shared_constant_graph((4, 4))
    plan = partition(g, Placement({"c": "cpu:2", "y": "cpu:0", "z": "cpu:1"}),
                     ClusterSpec.simulated(3))
    check_plan(plan)
    assert [s.device for s in plan.stages] == ["cpu:0", "cpu:1"]


def test_a_large_constant_is_transferred_once():
    from scheduler.partition import COPY_BYTES

    side = int((COPY_BYTES // 4) ** 0.5) + 1
    g, c = _shared_constant_graph((side, side))
    plan = partition(g, Placement({"c": "cpu:0", "y": "cpu:0", "z": "cpu:1"}),
                     ClusterSpec.simulated(2))
    check_plan(plan)
    assert [t.value for t in plan.transfers if t.dst == "cpu:1"].count(c) == 1
