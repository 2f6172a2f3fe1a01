import pytest

from scheduler import ClusterSpec, plan
from scheduler.costs import graph_costs
from tfrt_ray.errors import PlacementError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.ops import all_ops
from tfrt_ray.ir.types import TensorType

from .graphs import branches, chain, check_plan, tiny


def test_auto_keeps_a_tiny_graph_on_one_device():
    for n in (2, 8, 1024):
        p = plan(tiny(), ClusterSpec.simulated(n))
        assert p.strategy == "place"
        assert len(p.devices) == 1 and len(p.stages) == 1
        assert any("auto chose 'place'" in note for note in p.notes)


def test_auto_splits_a_big_graph():
    p = plan(branches(8, 8, shape=(2048, 2048)), ClusterSpec.simulated(8))
    assert len(p.devices) > 1
    assert any("auto chose" in note for note in p.notes)


@pytest.mark.skipif("matmul" not in all_ops(), reason="matmul is not in the op vocabulary")
def test_auto_splits_a_big_matmul_graph():
    b = GraphBuilder("mm")
    x = b.add_input(TensorType("f32", (512, 4096)), "x")
    ws = [b.add_input(TensorType("f32", (4096, 4096)), f"w{k}") for k in range(8)]
    outs = []
    for k, w in enumerate(ws):
        (h,) = b.add_node("matmul", [x, w], name=f"mm{k}")
        (h,) = b.add_node("relu", [h], name=f"relu{k}")
        outs.append(h)
    g = b.build(outs)
    for strategy in ("auto", "place"):
        p = plan(g, ClusterSpec.simulated(8), strategy)
        assert len(p.devices) > 1, strategy
    p = plan(g, ClusterSpec.simulated(8), "place")
    check_plan(p)
    assert len({p.device_of(f"mm{k}") for k in range(8)}) == 8


def test_pipeline_chunks_are_contiguous_and_balanced():
    g = chain(["exp", "tanh", "exp", "sigmoid"] * 8, shape=(1024, 1024))
    c = ClusterSpec.simulated(4)
    p = plan(g, c, "pipeline")
    check_plan(p)
    assert p.strategy == "pipeline" and p.devices == c.ids
    assert 1 < p.micro_batches <= 8  # heavy: split, at most 2 x N by default
    flops = dict(zip((n.name for n in g.nodes), graph_costs(g).flops, strict=True))
    per_dev = [sum(flops[n.name] for s in p.stages_on(d) for n in s.nodes) for d in c.ids]
    total, biggest = sum(per_dev), max(flops.values())
    assert max(per_dev) <= total / 4 + biggest
    order = [p.device_of(n.name) for n in g.nodes]
    assert order == sorted(order, key=c.ids.index)  # contiguous, in device order


def test_pipeline_micro_batches_given_and_capped_by_batch():
    g = chain(["exp"] * 8, shape=(6, 1 << 22))
    c = ClusterSpec.simulated(4)
    assert plan(g, c, "pipeline", micro_batches=3).micro_batches == 3
    p = plan(g, c, "pipeline")
    assert p.micro_batches == min(2 * len(p.devices), 6)
    assert plan(g, ClusterSpec.simulated(8), "pipeline").micro_batches <= 6
    assert plan(g, c, "pipeline", batch_axis_ok=False).micro_batches == 1


def test_pipeline_splits_a_tiny_step_into_one_micro_batch_and_a_heavy_one_into_several():
    tiny_step = chain(["exp", "tanh"] * 4, shape=(4, 4))  # 8 ops on 4x4
    c = ClusterSpec.simulated(4, call_overhead_s=1.5e-3)
    p = plan(tiny_step, c, "pipeline")
    assert p.micro_batches == 1
    assert any("1 micro-batch(es)" in n for n in p.notes)
    heavy = chain(["exp", "tanh"] * 4, shape=(256, 1 << 16))
    assert plan(heavy, c, "pipeline").micro_batches > 1


@pytest.mark.parametrize("shape", [(4, 4), (64, 1 << 12), (64, 1 << 16), (256, 1 << 16)])
def test_pipeline_never_picks_micro_batches_it_predicts_slower_than_fewer(shape):
    g = chain(["exp", "tanh"] * 4, shape=shape)
    c = ClusterSpec.simulated(4, call_overhead_s=1e-3)
    p = plan(g, c, "pipeline")
    for m in range(1, p.micro_batches):
        assert p.predicted_step_s <= plan(g, c, "pipeline", micro_batches=m).predicted_step_s


def test_auto_picks_pipeline_or_replicate_for_a_long_heavy_chain():
    g = chain(["exp", "tanh"] * 20, shape=(2048, 2048))
    p = plan(g, ClusterSpec.simulated(8))
    assert p.strategy in ("pipeline", "replicate")
    q = plan(g, ClusterSpec.simulated(8), batch_axis_ok=False)
    assert q.strategy != "replicate"


def test_replicate_runs_the_whole_graph_on_each_device():
    g = chain(["exp"] * 32, shape=(16, 1 << 20))
    c = ClusterSpec.simulated(8)
    p = plan(g, c, "replicate")
    assert p.replicas == p.devices == c.ids
    assert all(len(s.nodes) == len(g.nodes) for s in p.stages)
    assert all(t.nbytes == 16 * (1 << 20) * 4 // 8 for t in p.transfers)
    assert plan(g, ClusterSpec.simulated(32), "replicate").replicas == tuple(
        f"cpu:{i}" for i in range(16)
    )


def test_replicate_takes_no_more_replicas_than_pay_for_their_calls():
    tiny_step = chain(["exp"] * 4, shape=(16, 16))
    assert len(plan(tiny_step, ClusterSpec.simulated(8), "replicate").replicas) == 2
    g = chain(["exp"] * 4, shape=(16, 1 << 17))
    c = ClusterSpec.simulated(8, call_overhead_s=2e-3)
    p = plan(g, c, "replicate")
    assert 2 < len(p.replicas) < 8
    more = plan(g, ClusterSpec.simulated(len(p.replicas) + 1, call_overhead_s=2e-3),
                "replicate")
    assert p.predicted_step_s <= more.predicted_step_s or more.replicas == p.replicas


def test_replicate_needs_a_batch_axis():
    with pytest.raises(PlacementError, match="no replicate plan"):
        plan(chain(["exp"], shape=(1, 64)), ClusterSpec.simulated(4), "replicate")
    with pytest.raises(PlacementError, match="no replicate plan"):
        plan(
            chain(["exp"], shape=(8, 64)),
            ClusterSpec.simulated(4),
            "replicate",
            batch_axis_ok=False,
        )
    auto = plan(chain(["exp"] * 30, shape=(1, 1 << 22)), ClusterSpec.simulated(4))
    assert auto.strategy != "replicate"


def test_replicate_refuses_a_graph_that_mixes_batch_rows():
    pytest.importorskip("scheduler.batching")
    if "sum" not in all_ops():
        pytest.skip("no sum op")
    b = GraphBuilder("mix")
    x = b.add_input(TensorType("f32", (16, 8)), "x")
    (y,) = b.add_node("sum", [x], {"axes": (0,), "keepdims": True}, name="s")
    g = b.build([y])
    with pytest.raises(PlacementError, match="no replicate plan"):
        plan(g, ClusterSpec.simulated(4), "replicate")


def test_hints_force_place_under_auto():
    g = branches(2, 2, shape=(64, 64))
    p = plan(g, ClusterSpec.simulated(4), hints={"b1_1": "cpu:3"})
    assert p.strategy == "place" and p.device_of("b1_1") == "cpu:3"
    assert any("only 'place' honours" in n for n in p.notes)


def test_unknown_strategy():
    with pytest.raises(PlacementError, match="unknown strategy"):
        plan(tiny(), ClusterSpec.simulated(2), "magic")
