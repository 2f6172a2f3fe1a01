"""Which graph inputs carry the batch, and whether the graph keeps batch rows apart.

Pipeline micro-batches and data-parallel replicas run the graph on slices of the batch
and concatenate the outputs, which is right only when no op mixes rows of the batch
(a reduction over it, a matmul with a batched right operand, a reshape that moves it).
`batch_split` tracks the batch axis of every value through each op's batch rule (an
`OpSpec` field, registered beside the op: `tfrt_ray.ir.ops.batch_rules`) and answers
None unless every output carries the batch on axis 0. Conservative: an op without a
rule, given a batched input, makes the graph not splittable.
"""

from __future__ import annotations

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.ops.batch_rules import BatchView


def batch_split(graph: Graph) -> tuple[int, frozenset[int]] | None:
    """(batch size, ids of the inputs sliced along axis 0), or None if not splittable."""
    if not graph.inputs:
        return None
    first = graph.types[graph.inputs[0]].shape
    if not first or type(first[0]) is not int or first[0] < 2:
        return None
    b = first[0]
    candidates = [
        frozenset(v for v in graph.inputs if graph.types[v].shape[:1] == (b,)),
        frozenset(graph.inputs[:1]),
    ]
    for batched in candidates:
        if _propagate(graph, batched, b):
            return b, batched
    return None


def _propagate(graph: Graph, batched: frozenset[int], b: int) -> bool:
    axis: dict[int, int | None] = {v: (0 if v in batched else None) for v in graph.inputs}
    for node in graph.nodes:
        in_axes = [axis.get(v) for v in node.inputs]
        if all(a is None for a in in_axes):
            if node.op == "shape" or any(v in batched for v in node.inputs):
                return False
            for v in node.outputs:
                axis[v] = None
            continue
        out = _rule(node, graph, in_axes)
        if out is None:
            return False
        for v in node.outputs:
            axis[v] = out
    return all(axis.get(v) == 0 and graph.types[v].shape[:1] == (b,) for v in graph.outputs)


def _rule(node: Node, graph: Graph, in_axes: list) -> int | None:
    """The output's batch axis by the op's rule, or None when it would mix batch rows (or
    has no rule)."""
    rule = get_op(node.op).batch_rule
    if rule is None:
        return None
    types = graph.types
    view = BatchView(node.attr, tuple(in_axes), tuple(types[v].shape for v in node.inputs),
                     types[node.outputs[0]].shape)
    return rule(view)
