"""Small graphs and checks shared by the scheduler tests."""

from __future__ import annotations

from tfrt_ray.ir.graph import Graph, GraphBuilder
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.types import TensorType

F32 = "f32"


def chain(ops: list[str], shape=(4, 4), name: str = "chain") -> Graph:
    """x -> ops[0] -> ops[1] -> ...; node names n0, n1, ..."""
    b = GraphBuilder(name)
    v = b.add_input(TensorType(F32, shape), "x")
    for i, op in enumerate(ops):
        (v,) = b.add_node(op, [v], name=f"n{i}", loc=Loc("model.py", 10 + i))
    return b.build([v])


def branches(n: int, depth: int, shape=(1024, 1024), op: str = "exp") -> Graph:
    """n independent chains of ``depth`` ops from one input (b{k}_{j}), summed at the end."""
    b = GraphBuilder(f"branches{n}x{depth}")
    x = b.add_input(TensorType(F32, shape), "x")
    ends = []
    for k in range(n):
        v = x
        for j in range(depth):
            (v,) = b.add_node(op, [v], name=f"b{k}_{j}")
        ends.append(v)
    acc = ends[0]
    for k, v in enumerate(ends[1:]):
        (acc,) = b.add_node("add", [acc, v], name=f"sum{k}")
    return b.build([acc])


def tiny() -> Graph:
    b = GraphBuilder("tiny")
    x = b.add_input(TensorType(F32, (4, 4)), "x")
    (y,) = b.add_node("add", [x, x], name="a")
    (z,) = b.add_node("relu", [y], name="r")
    (w,) = b.add_node("exp", [x], name="e")
    (o,) = b.add_node("mul", [z, w], name="m")
    return b.build([o])


def check_plan(plan) -> None:
    """The invariants every partitioned plan keeps."""
    graph = plan.graph
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    producer_stage: dict[int, int] = {}
    seen_nodes: set[int] = set()
    for pos, s in enumerate(plan.stages):
        assert s.id == pos
        idx = [order[id(n)] for n in s.nodes]
        assert idx == sorted(idx), "nodes of a stage are in topological order"
        for i in idx:
            if graph.nodes[i].inputs:  # input-free nodes may be copied into several stages
                assert i not in seen_nodes, "a node is in two stages"
            seen_nodes.add(i)
        local = set()
        for n in s.nodes:
            for v in n.inputs:
                if v not in local:
                    assert v in s.inputs, f"stage {s.id} reads {v} without listing it"
            local.update(n.outputs)
        for v in s.inputs:
            assert v not in local, f"stage {s.id} lists its own value {v} as an input"
            assert v in graph.inputs or producer_stage.get(v, pos) < pos, (
                f"stage {s.id} reads value {v} before a stage produces it"
            )
        for v in local:
            producer_stage[v] = pos
        for v in s.outputs:
            assert v in local
    assert seen_nodes == set(range(len(graph.nodes))), "every node is in a stage"

    stage_dev = {}
    for s in plan.stages:
        for n in s.nodes:
            for v in n.outputs:
                stage_dev[v] = s.device
    # Outputs: exactly the values some later stage or the caller reads.
    needed = set(graph.outputs)
    for s in plan.stages:
        local = {v for n in s.nodes for v in n.outputs}
        needed.update(v for v in s.inputs if v not in local)
    for s in plan.stages:
        local = {v for n in s.nodes for v in n.outputs}
        produced = {v for n in s.nodes if n.inputs for v in n.outputs}
        assert produced & needed <= set(s.outputs) <= local & needed

    keys = [(t.value, t.dst) for t in plan.transfers]
    assert len(keys) == len(set(keys)), "one transfer per (value, destination)"
    want = set()
    for s in plan.stages:
        for v in s.inputs:
            src = stage_dev.get(v, "input")
            if src != s.device:
                want.add((v, s.device))
    assert set(keys) == want
    for t in plan.transfers:
        assert t.src == stage_dev.get(t.value, "input")
