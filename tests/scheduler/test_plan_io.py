import json

import pytest

from scheduler import ClusterSpec, Plan, plan
from scheduler.synthetic import random_layered_graph

from .graphs import branches, tiny


@pytest.mark.parametrize("strategy", ["place", "pipeline", "replicate"])
def test_to_dict_from_dict_round_trip(strategy):
    g = branches(4, 3, shape=(256, 256))
    p = plan(g, ClusterSpec.simulated(4), strategy)
    data = json.loads(json.dumps(p.to_dict()))
    assert Plan.from_dict(data, graph=g) == p


def test_round_trip_through_the_stored_graph_text():
    g = random_layered_graph(200, 8, seed=3)
    p = plan(g, ClusterSpec.simulated(8), "place")
    data = json.loads(json.dumps(p.to_dict()))
    if data["graph"] is None:
        pytest.skip("tfrt_ray.ir.text is not available")
    q = Plan.from_dict(data)
    assert [[n.name for n in s.nodes] for s in q.stages] == [
        [n.name for n in s.nodes] for s in p.stages
    ]
    assert q.transfers == p.transfers and q.devices == p.devices
    assert q.graph.as_text() == g.as_text()


def test_from_dict_without_graph_text_asks_for_the_graph():
    p = plan(tiny(), ClusterSpec.simulated(2))
    data = p.to_dict()
    data["graph"] = None
    with pytest.raises(Exception, match="pass the graph"):
        Plan.from_dict(data)


def test_describe_is_a_table_with_notes():
    p = plan(branches(4, 3, shape=(1024, 1024)), ClusterSpec.simulated(4), "place")
    text = p.describe()
    assert "strategy place" in text
    for dev in p.devices:
        assert dev in text
    for col in ("ops", "GFLOP", "predicted", "in/step", "out/step"):
        assert col in text
    assert "note:" in text
    assert str(p) == text
    assert "Plan(strategy='place'" in repr(p)
