import pytest

from scheduler import ClusterSpec, DeviceSpec, place
from scheduler.costs import graph_costs
from scheduler.synthetic import random_layered_graph
from tfrt_ray.errors import PlacementError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType

from .graphs import branches, chain, tiny


def mixed_cluster() -> ClusterSpec:
    cpus = [DeviceSpec(f"cpu:{i}", "cpu", "n0") for i in range(4)]
    gpus = [DeviceSpec(f"gpu:{i}", "gpu", "n1", flops_per_s=1e12) for i in range(2)]
    return ClusterSpec((*cpus, *gpus))


def test_every_node_is_placed_on_a_cluster_device():
    g = random_layered_graph(500, 16, seed=1)
    c = ClusterSpec.simulated(8)
    p = place(g, c)
    assert set(p.assign) == {n.name for n in g.nodes}
    assert set(p.assign.values()) <= set(c.ids)
    assert not p.warnings


def test_tiny_graph_stays_on_one_device():
    p = place(tiny(), ClusterSpec.simulated(16))
    assert set(p.assign.values()) == {"cpu:0"}


def test_independent_heavy_branches_spread_out():
    p = place(branches(4, 6), ClusterSpec.simulated(4))
    heads = {p.assign[f"b{k}_0"] for k in range(4)}
    assert len(heads) == 4
    for k in range(4):  # a chain stays where it started
        assert len({p.assign[f"b{k}_{j}"] for j in range(6)}) == 1


def test_device_hint_is_honoured():
    g = chain(["relu", "exp", "neg"])
    p = place(g, ClusterSpec.simulated(8), hints={"n1": "cpu:5"})
    assert p.assign["n1"] == "cpu:5"
    assert not p.warnings


def test_device_type_hint_means_any_device_of_that_type():
    g = chain(["relu", "exp", "neg"])
    p = place(g, mixed_cluster(), hints={"n2": "gpu"})
    assert p.assign["n2"].startswith("gpu:")


def test_hint_to_missing_device_is_a_warning_not_an_error():
    g = chain(["relu", "exp"])
    p = place(g, ClusterSpec.simulated(2), hints={"n0": "tpu:7", "nope": "cpu:1"})
    assert p.assign["n0"] in ("cpu:0", "cpu:1")
    text = " ".join(p.warnings)
    assert "n0" in text and "tpu:7" in text
    assert "nope" in text


def test_hint_to_device_that_cannot_run_the_op_is_soft():
    g = chain(["relu", "exp"])
    no_exp_on_gpu = lambda op, t: not (op == "exp" and t == "gpu")  # noqa: E731
    p = place(g, mixed_cluster(), hints={"n1": "gpu:0"}, supports=no_exp_on_gpu)
    assert p.assign["n1"].startswith("cpu:")
    assert any("n1" in w and "gpu:0" in w and "elsewhere" in w for w in p.warnings)


def test_device_type_support_is_respected():
    g = random_layered_graph(300, 8, seed=2)
    only_cpu_exp = lambda op, t: op not in ("exp", "tanh") or t == "cpu"  # noqa: E731
    p = place(g, mixed_cluster(), supports=only_cpu_exp)
    for n in g.nodes:
        if n.op in ("exp", "tanh"):
            assert p.assign[n.name].startswith("cpu:")


def test_op_no_device_can_run_names_op_node_loc_and_constraint():
    g = chain(["relu", "exp", "neg"])
    with pytest.raises(PlacementError) as info:
        place(g, mixed_cluster(), supports=lambda op, t: op != "exp")
    err = info.value
    assert err.op == "exp" and err.node == "n1"
    assert "model.py:11" in str(err)
    assert "supports" in str(err) and "cpu, gpu" in str(err)


def test_colocation_group_shares_a_device():
    g = branches(4, 3)
    c = ClusterSpec.simulated(4)
    assert place(g, c).assign["b0_0"] != place(g, c).assign["b3_0"]
    p = place(g, c, colocate=[{"b0_0", "b3_0", "b3_2"}])
    assert p.assign["b0_0"] == p.assign["b3_0"] == p.assign["b3_2"]


def test_hint_on_one_member_moves_the_whole_group():
    g = branches(3, 2)
    p = place(g, ClusterSpec.simulated(4), colocate=[{"b0_0", "b1_1"}], hints={"b1_1": "cpu:3"})
    assert p.assign["b0_0"] == p.assign["b1_1"] == "cpu:3"


def test_conflicting_hints_in_a_group_name_nodes_and_devices():
    g = branches(2, 2)
    with pytest.raises(PlacementError) as info:
        place(
            g,
            ClusterSpec.simulated(4),
            colocate=[{"b0_0", "b1_0"}],
            hints={"b0_0": "cpu:1", "b1_0": "cpu:2"},
        )
    text = str(info.value)
    for word in ("b0_0", "b1_0", "cpu:1", "cpu:2", "conflicting"):
        assert word in text


def test_group_without_a_common_device_type_is_an_error():
    g = chain(["relu", "exp"])
    supports = lambda op, t: (op == "exp") == (t == "gpu")  # noqa: E731
    with pytest.raises(PlacementError, match="no device type that runs all"):
        place(g, mixed_cluster(), colocate=[{"n0", "n1"}], supports=supports)


def test_memory_limits_are_respected():
    g = chain(["exp"] * 10, shape=(256, 256))  # 256 KiB per value
    per = 256 * 256 * 4
    c = ClusterSpec.simulated(4, mem_bytes=3 * per)
    p = place(g, c)
    costs = graph_costs(g)
    resident: dict[str, int] = {}
    for n, b in zip(g.nodes, costs.out_bytes, strict=True):
        resident[p.assign[n.name]] = resident.get(p.assign[n.name], 0) + b
    assert max(resident.values()) <= 3 * per
    assert len(resident) == 4


def test_memory_cannot_fit_names_op_and_numbers():
    g = chain(["exp", "relu"], shape=(256, 256))
    c = ClusterSpec.simulated(2, mem_bytes=1000)
    with pytest.raises(PlacementError) as info:
        place(g, c)
    err = info.value
    assert err.op == "exp" and err.node == "n0"
    assert "memory" in str(err) and "262144" in str(err) and "1000" in str(err)


def test_constants_follow_their_consumer():
    b = GraphBuilder("k")
    x = b.add_input(TensorType("f32", (2, 2)))
    (k,) = b.add_node("constant", [], {"value": [[1.0, 2.0], [3.0, 4.0]]}, name="k")
    (y,) = b.add_node("add", [x, k], name="y")
    g = b.build([y])
    p = place(g, ClusterSpec.simulated(4), hints={"y": "cpu:2"})
    assert p.assign["k"] == p.assign["y"] == "cpu:2"


def test_placement_is_deterministic():
    c = ClusterSpec.simulated(64, devices_per_node=4)
    g1 = random_layered_graph(3000, 64, seed=7, shape=(128, 128))
    g2 = random_layered_graph(3000, 64, seed=7, shape=(128, 128))
    p1, p2 = place(g1, c), place(g2, c)
    assert p1.assign == p2.assign
    assert p1.predicted == p2.predicted
    assert place(g1, c).assign == p1.assign


def test_input_device_attracts_the_first_ops():
    p = place(tiny(), ClusterSpec.simulated(4), input_device="cpu:3")
    assert set(p.assign.values()) == {"cpu:3"}


def _reference_assign(graph, cluster, supports=None) -> dict[str, str]:
    """Placement by the readable per-node methods (`ListScheduler.place_free`)."""
    from scheduler.constraints import TypeSupport
    from scheduler.list_schedule import ListScheduler

    types = cluster.types()
    type_of = [types.index(d.type) for d in cluster.devices]
    support = TypeSupport(supports, types)
    sched = ListScheduler(graph, cluster, graph_costs(graph), type_of, support, 0, 1e4)
    for i, n in enumerate(graph.nodes):
        sched.place_free(i, n, support.allowed(n.op))
    sched.place_leftovers(0)
    return {n.name: cluster.ids[d] for n, d in zip(graph.nodes, sched.node_dev, strict=True)}


@pytest.mark.parametrize(
    "case",
    ["light-memory-pressure", "heavy-spread", "mixed-types", "constants"],
)
def test_fast_loop_matches_the_reference_methods(case):
    supports = None
    if case == "light-memory-pressure":
        g = random_layered_graph(3000, 64, seed=4)
        c = ClusterSpec.simulated(8, mem_bytes=8 << 20)
    elif case == "heavy-spread":
        g = random_layered_graph(3000, 256, seed=5, shape=(128, 128))
        c = ClusterSpec.simulated(64, devices_per_node=4)
    elif case == "mixed-types":
        g = random_layered_graph(2000, 128, seed=6, shape=(128, 128))
        c = mixed_cluster()
        supports = lambda op, t: op != "tanh" or t == "cpu"  # noqa: E731
    else:
        b = GraphBuilder("consts")
        x = b.add_input(TensorType("f32", (64, 64)))
        v = x
        for i in range(50):
            (k,) = b.add_node("constant", [], {"value": [[float(i)]]}, name=f"k{i}")
            (v,) = b.add_node("mul" if i % 2 else "add", [v, k], name=f"op{i}")
            (v,) = b.add_node("exp", [v], name=f"e{i}")
        b.add_node("constant", [], {"value": [1.0]}, name="unused")
        g = b.build([v])
        c = ClusterSpec.simulated(4)
    assert place(g, c, supports=supports).assign == _reference_assign(g, c, supports)


def test_a_node_only_one_roomy_device_can_hold_goes_there():
    small = [DeviceSpec(f"cpu:{i}", "cpu", "n0", mem_bytes=1024) for i in range(6)]
    c = ClusterSpec((*small, DeviceSpec("big:0", "cpu", "n0", mem_bytes=1 << 30)))
    b = GraphBuilder("roomy")
    x = b.add_input(TensorType("f32", (2, 2)))
    y = b.add_input(TensorType("f32", (128, 128)))
    (r,) = b.add_node("relu", [x], name="r")
    (e,) = b.add_node("exp", [y], name="e")
    g = b.build([r, e])
    p = place(g, c)
    assert p.assign["e"] == "big:0" and p.assign["r"] == "cpu:0"
    assert p.assign == _reference_assign(g, c)
