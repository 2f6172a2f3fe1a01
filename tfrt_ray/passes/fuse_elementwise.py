"""Elementwise fusion: a connected group of elementwise ops becomes one
``fused_elementwise`` node whose ``body`` is the group itself, a sub-graph of the same
nodes (`tfrt_ray.ir.ops.fused`). On the CPU its kernel writes every step with ``out=``
into the result's buffer: no intermediate tensor is allocated (a DAG that keeps several
values alive at once gets that many buffers, reused as values die).

Grouping, from the last node back: a fusible node joins the group of its readers when all
of them are in one group, it is not a graph output, and its type equals the group's
result type (so no intermediate is computed at a broadcast size it did not have). Every
member but the last is then read only inside the group, so the group is convex and the
fused node can sit where its last node was. Fusible: the ops whose spec has a `Fusion`
(``tfrt_ray.ir.ops.fused.fusible_ops``) with float inputs and an f32 or f64 result. Groups
of one node are left alone.

The fused node takes the location of the group's last node and a name joined from its
members' names.
"""

from __future__ import annotations

from tfrt_ray.ir.graph import Graph, GraphBuilder, Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.ops.fused import FUSED_DTYPES, fusible_ops
from tfrt_ray.ir.types import FLOAT_DTYPES
from tfrt_ray.passes.rewrite import Rewrite, fused_name

# Below this many elements a fused kernel's interpretation costs more than the
# allocations it saves (measured: a 100-op chain of 4x4 adds ran 0.57 us/op fused
# against 0.28 us/op unfused); shapes with symbolic dims are assumed large.
MIN_FUSE_ELEMENTS = 4096


def _fusible(graph: Graph, n: Node) -> bool:
    out = graph.types[n.outputs[0]] if n.outputs else None
    return (
        out is not None
        and (not out.is_static or out.numel >= MIN_FUSE_ELEMENTS)
        and n.op in fusible_ops()
        and len(n.outputs) == 1
        and graph.types[n.outputs[0]].dtype in FUSED_DTYPES
        and all(graph.types[v].dtype in FLOAT_DTYPES for v in n.inputs)
    )


def body_of(graph: Graph, members: list[Node]) -> tuple[Graph, list[int]]:
    """The body computing ``members`` (in order; the last is the result): a graph of the
    same nodes, names and locations; and the outer value ids of its inputs, in order."""
    b = GraphBuilder(fused_name(members))
    made = {m.outputs[0] for m in members}
    xs = list(dict.fromkeys(v for m in members for v in m.inputs if v not in made))
    inner = {v: b.add_input(graph.types[v], f"x{i}") for i, v in enumerate(xs)}
    for m in members:
        (inner[m.outputs[0]],) = b.add_node(m.op, [inner[v] for v in m.inputs], m.attr_dict,
                                            loc=m.loc, name=m.name)
    return b.build([inner[members[-1].outputs[0]]], ["y"]), xs


def _groups(graph: Graph) -> dict[int, list[Node]]:
    """Root node index -> the group's members, in graph order (the root last)."""
    table = graph.users()
    outputs = set(graph.outputs)
    index = {id(n): i for i, n in enumerate(graph.nodes)}
    root_of: dict[int, int] = {}
    for i in range(len(graph.nodes) - 1, -1, -1):
        n = graph.nodes[i]
        if not _fusible(graph, n):
            continue
        v = n.outputs[0]
        roots = {root_of.get(index[id(r)]) for r in table.get(v, ())}
        root_of[i] = i
        if v not in outputs and len(roots) == 1 and None not in roots:
            root = roots.pop()
            if graph.types[graph.nodes[root].outputs[0]] == graph.types[v]:
                root_of[i] = root
    groups: dict[int, list[Node]] = {}
    for i in sorted(root_of):
        groups.setdefault(root_of[i], []).append(graph.nodes[i])
    return {r: g for r, g in groups.items() if len(g) > 1}


def fuse_elementwise(graph: Graph) -> Graph:
    """Returns ``graph`` with its elementwise groups fused (itself if there are none)."""
    groups = _groups(graph)
    if not groups:
        return graph
    spec = get_op("fused_elementwise")
    rw = Rewrite(graph)
    member_of = {id(m): r for r, g in groups.items() for m in g}
    plans: dict[int, tuple[Graph, list[int]]] = {}
    for r, members in groups.items():
        body, xs = body_of(graph, members)
        t = graph.types[members[-1].outputs[0]]
        if spec.check(tuple(graph.types[v] for v in xs), {"body": body})[1] == (t,):
            plans[r] = (body, xs)
    for i, n in enumerate(graph.nodes):
        r = member_of.get(id(n))
        if r is None or r not in plans:
            rw.keep(n)
        elif r == i:
            members = groups[r]
            body, xs = plans[r]
            for m in members:
                rw.drop(m)
            rw.add("fused_elementwise", xs, {"body": body}, name=fused_name(members),
                   loc=n.loc, outputs=n.outputs)
        else:
            rw.drop(n)
    return rw.finish()
