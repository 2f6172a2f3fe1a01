"""Per-node flops and per-value bytes of a graph, from the op specs' cost rules.

The op specs' ``cost`` is called once per distinct (op, input types, output types, attrs), not
once per node, so a million-node graph of a few kinds of node costs a few dict lookups per node.
The last graph's table is kept (by identity), so `place`, `partition` and `plan` share it.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

from scheduler.gc_pause import without_gc
from tfrt_ray.errors import TfrtRayError


@dataclass(frozen=True, slots=True)
class GraphCosts:
    """``flops[i]`` and ``out_bytes[i]`` for node ``i`` (graph.nodes order); ``vbytes[v]`` for
    value ``v``."""

    flops: list
    out_bytes: list
    vbytes: list

    @property
    def total_flops(self) -> float:
        return float(sum(self.flops))


_LAST: tuple = (None, None)  # (weakref to graph, GraphCosts)


def graph_costs(graph) -> GraphCosts:
    """The cost table of ``graph`` (cached for the most recent graph)."""
    global _LAST
    ref, costs = _LAST
    if ref is not None and ref() is graph:
        return costs
    costs = _compute(graph)
    try:
        _LAST = (weakref.ref(graph), costs)
    except TypeError:  # not weak-referenceable: no cache
        pass
    return costs


def clear_cache() -> None:
    """Forget the cached table (benchmarks time the cost lookups too)."""
    global _LAST
    _LAST = (None, None)


def _intern_types(types: tuple) -> tuple[list[int], list]:
    """A small int per value naming its type by value, and the distinct types."""
    by_obj = dict(
        zip(map(id, types), types, strict=True)
    )  # distinct objects (graphs often share them)
    by_value: dict = {}
    uniq: list = []
    obj_tid: dict[int, int] = {}
    for key, t in by_obj.items():
        j = by_value.get(t)
        if j is None:
            j = by_value[t] = len(uniq)
            uniq.append(t)
        obj_tid[key] = j
    return list(map(obj_tid.__getitem__, map(id, types))), uniq


@without_gc
def _compute(graph) -> GraphCosts:
    from tfrt_ray.ir.ops import get_op

    tids, uniq = _intern_types(graph.types)
    tbytes = [t.nbytes for t in uniq]
    vbytes = list(map(tbytes.__getitem__, tids))
    cache: dict = {}
    flops: list[float] = []
    out_bytes: list[int] = []
    add_f = flops.append
    add_b = out_bytes.append
    get = cache.get
    for n in graph.nodes:
        ins, outs = n.inputs, n.outputs
        if len(outs) == 1:
            key = (n.op, n.attrs, tids[outs[0]], *[tids[v] for v in ins])
        else:
            key = (n.op, n.attrs, tuple([tids[v] for v in outs]), *[tids[v] for v in ins])
        try:
            hit = get(key)
        except TypeError:  # an unhashable attribute: cost it directly
            hit = None
            key = None
        if hit is None:
            in_t = tuple(uniq[tids[v]] for v in ins)
            out_t = tuple(uniq[tids[v]] for v in outs)
            hit = (_node_flops(get_op, n, in_t, out_t), sum(tbytes[tids[v]] for v in outs))
            if key is not None:
                cache[key] = hit
        add_f(hit[0])
        add_b(hit[1])
    return GraphCosts(flops, out_bytes, vbytes)


def _node_flops(get_op, node, in_t: tuple, out_t: tuple) -> float:
    """The spec's flops; ops without a spec or whose cost rule fails count one per element."""
    try:
        return float(get_op(node.op).cost(in_t, out_t, dict(node.attrs)).flops)
    except (TfrtRayError, KeyError, TypeError, ValueError, ArithmeticError):
        return float(sum(t.numel for t in out_t))
