"""Elementwise fusion: a connected group of elementwise ops becomes one
``fused_elementwise`` node, whose kernel runs the group as a small program writing with
``out=`` into the result's buffer: no intermediate tensor is allocated (a DAG that keeps
several values alive at once gets that many buffers, reused as values die).

Grouping, from the last node back: a fusible node joins the group of its readers when all
of them are in one group, it is not a graph output, and its type equals the group's
result type (so no intermediate is computed at a broadcast size it did not have). Every
member but the last is then read only inside the group, so the group is convex and the
fused node can sit where its last node was. Fusible: the ops whose spec has a `Fusion`
(``tfrt_ray.ir.ops.fused.program_ops``) with float inputs and an f32 or f64 result. Groups
of one node are left alone.

The fused node takes the location of the group's last node and a name joined from its
members' names.
"""

from __future__ import annotations

import heapq

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.ops.fused import FUSED_DTYPES, fresh_dst_ops, program_ops
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
        and n.op in program_ops()
        and len(n.outputs) == 1
        and graph.types[n.outputs[0]].dtype in FUSED_DTYPES
        and all(graph.types[v].dtype in FLOAT_DTYPES for v in n.inputs)
    )


def _params(n: Node) -> str:
    """The instruction's parameters: the attributes its `Fusion` names, in brackets."""
    names = get_op(n.op).fusion.params
    if not names:
        return ""
    values = (n.attr(a) for a in names)
    return "[" + ", ".join("none" if v is None else v if isinstance(v, str) else repr(v)
                           for v in values) + "]"


def program(members: list[Node]) -> tuple[str, list[int]]:
    """The program computing ``members`` (in order; the last is the result) and the value
    ids of its inputs ``x0, x1, ...``."""
    inside = {m.outputs[0] for m in members}
    last_use = {v: k for k, m in enumerate(members) for v in m.inputs if v in inside}
    xs: dict[int, int] = {}
    buf: dict[int, int] = {}
    free: list[int] = []
    n_buffers = 0
    lines = []
    for k, m in enumerate(members):
        srcs = []
        for v in m.inputs:
            if v in buf:
                srcs.append(f"t{buf[v]}")
            else:
                srcs.append(f"x{xs.setdefault(v, len(xs))}")
        dying = sorted({buf[v] for v in m.inputs if v in buf and last_use[v] == k})
        if dying and m.op not in fresh_dst_ops():
            dst = dying.pop(0)  # in place
        elif free:
            dst = heapq.heappop(free)
        else:
            dst, n_buffers = n_buffers, n_buffers + 1
        for b in dying:
            heapq.heappush(free, b)
        buf[m.outputs[0]] = dst
        lines.append(f"t{dst} = {m.op}{_params(m)}({', '.join(srcs)})")
    return "; ".join(lines), list(xs)


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
    plans: dict[int, tuple[str, list[int], str]] = {}
    for r, members in groups.items():
        text, xs = program(members)
        t = graph.types[members[-1].outputs[0]]
        attrs = {"program": text, "dtype": t.dtype}
        if spec.check(tuple(graph.types[v] for v in xs), attrs)[1] == (t,):
            plans[r] = (text, xs, t.dtype)
    for i, n in enumerate(graph.nodes):
        r = member_of.get(id(n))
        if r is None or r not in plans:
            rw.keep(n)
        elif r == i:
            members = groups[r]
            text, xs, dtype = plans[r]
            for m in members:
                rw.drop(m)
            rw.add(
                "fused_elementwise",
                xs,
                {"program": text, "dtype": dtype},
                name=fused_name(members),
                loc=n.loc,
                outputs=n.outputs,
            )
        else:
            rw.drop(n)
    return rw.finish()
