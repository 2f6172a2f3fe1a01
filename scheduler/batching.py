"""Which graph inputs carry the batch, and whether the graph keeps batch rows apart.

Pipeline micro-batches and data-parallel replicas run the graph on slices of the batch
and concatenate the outputs, which is right only when no op mixes rows of the batch
(a reduction over it, a matmul with a batched right operand, a reshape that moves it).
`batch_split` tracks the batch axis of every value through per-op rules and answers
None unless every output carries the batch on axis 0. Conservative: an op without a
rule, given a batched input, makes the graph not splittable.
"""

from __future__ import annotations

from tfrt_ray.ir.graph import Graph, Node

_PASS_X0 = {
    "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "global_max_pool",
    "batch_norm", "lrn", "dropout", "identity",
}
_REDUCE = {"sum", "mean", "max", "min", "prod"}


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
    """The output's batch axis, or None when this op would mix batch rows."""
    op = node.op
    ranks = [graph.types[v].rank for v in node.inputs]
    out_rank = graph.types[node.outputs[0]].rank
    a0 = in_axes[0]
    others_unbatched = all(a is None for a in in_axes[1:])
    attr = node.attr
    from tfrt_ray.ir.ops import get_op

    if get_op(op).family == "elementwise" or op == "fused_elementwise":
        return _elementwise(node, graph, in_axes, ranks, out_rank)
    if op in _PASS_X0 or op == "fused_conv2d":
        return 0 if a0 == 0 and others_unbatched else None
    if op in ("matmul", "fused_matmul"):
        b_unbatched = in_axes[1] is None
        if a0 is None or not b_unbatched or ranks[0] < 2 or a0 >= ranks[0] - 1:
            return None
        if ranks[0] < ranks[1]:
            return None
        out = a0 + out_rank - ranks[0]
        if len(ranks) > 2:  # the bias is added to the output elementwise
            bias, axis = node.inputs[2], in_axes[2]
            if axis is not None and axis + out_rank - ranks[2] != out:
                return None
            j = out - (out_rank - ranks[2])
            if axis is None and j >= 0 and graph.types[bias].shape[j] != 1:
                return None  # an unbatched bias that spans the rows
        return out
    if op == "gemm":
        ok = a0 == 0 and not attr("trans_a") and others_unbatched
        c_ok = len(node.inputs) < 3 or ranks[2] < 2 or graph.types[node.inputs[2]].shape[0] == 1
        return 0 if ok and c_ok else None
    if a0 is None or not others_unbatched:
        return None
    if op in ("softmax", "log_softmax"):
        return a0 if attr("axis") % ranks[0] != a0 else None
    if op == "layer_norm":
        return a0 if a0 < attr("axis") % ranks[0] else None
    if op in _REDUCE:
        axes = attr("axes")
        if axes is None:
            return None
        axes = {x % ranks[0] for x in axes}
        if a0 in axes:
            return None
        return a0 if attr("keepdims") else a0 - sum(1 for x in axes if x < a0)
    if op in ("argmax", "argmin"):
        ax = attr("axis") % ranks[0]
        if ax == a0:
            return None
        return a0 if attr("keepdims") or ax > a0 else a0 - 1
    if op == "reshape":
        same = graph.types[node.outputs[0]].shape[:1] == graph.types[node.inputs[0]].shape[:1]
        return 0 if a0 == 0 and same else None
    if op == "flatten":
        return 0 if a0 == 0 and attr("axis") >= 1 else None
    if op == "transpose":
        perm = attr("perm") or tuple(reversed(range(ranks[0])))
        return [p % ranks[0] for p in perm].index(a0)
    if op == "unsqueeze":
        axes = sorted(x % out_rank for x in attr("axes"))
        kept = [i for i in range(out_rank) if i not in axes]
        return kept[a0]
    if op == "squeeze":
        axes = attr("axes")
        if axes is None:
            shape = graph.types[node.inputs[0]].shape
            axes = [i for i, d in enumerate(shape) if d == 1]
        axes = {x % ranks[0] for x in axes}
        return None if a0 in axes else a0 - sum(1 for x in axes if x < a0)
    if op == "concat":
        return a0 if attr("axis") % ranks[0] != a0 and len(set(in_axes)) == 1 else None
    if op == "split":
        return a0 if attr("axis") % ranks[0] != a0 else None
    if op == "slice":
        axes = attr("axes") or tuple(range(len(attr("starts"))))
        return None if a0 in {x % ranks[0] for x in axes} else a0
    if op == "gather":
        ax = attr("axis") % ranks[0]
        if ax == a0:
            return None
        return a0 if a0 < ax else a0 + ranks[1] - 1
    if op == "pad":
        pads = attr("pads")
        return a0 if pads[a0] == 0 and pads[a0 + ranks[0]] == 0 else None
    if op == "tile":
        return a0 if attr("repeats")[a0] == 1 else None
    if op == "expand":
        return a0 + out_rank - ranks[0]
    return None


def _elementwise(node, graph, in_axes, ranks, out_rank) -> int | None:
    aligned = {a + out_rank - r for a, r in zip(in_axes, ranks, strict=True) if a is not None}
    if len(aligned) != 1:
        return None
    (axis,) = aligned
    for v, a, r in zip(node.inputs, in_axes, ranks, strict=True):
        if a is None:
            j = axis - (out_rank - r)
            if j >= 0 and graph.types[v].shape[j] != 1:
                return None  # an unbatched operand spanning the batch axis
    return axis
