"""Constant folding: a node whose inputs are all constants is evaluated now, with the
reference kernels, and becomes a ``constant`` node of the same name and location.

``shape`` of a statically shaped value folds too. Folding is size-capped: a result is
materialised only if it is at most `MAX_FOLDED_BYTES` or no larger than the constants it
is computed from (a transposed weight folds; a scalar expanded to a huge tensor does not).
A node whose kernel raises is left alone, so the error surfaces when the graph runs, with
the user's line.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.ir.types import TensorType
from tfrt_ray.passes.rewrite import MAX_FOLDED_BYTES, Rewrite


def _evaluate(node: Node, args: list[np.ndarray], out_types: list[TensorType]):
    """The node's outputs as arrays of exactly ``out_types``, or None if it cannot fold."""
    from tfrt_ray.core.evaluate import evaluate

    try:
        return list(evaluate(node.op, args, node.attr_dict, out_types))
    except Exception:  # noqa: BLE001 - left for the run to report, with the user's line
        return None


def fold_constants(graph: Graph, max_bytes: int = MAX_FOLDED_BYTES) -> Graph:
    """Returns ``graph`` with its constant subexpressions evaluated (itself if none are)."""
    rw = Rewrite(graph)
    for n in graph.nodes:
        out_types = [graph.types[v] for v in n.outputs]
        if n.op == "shape" and graph.types[n.inputs[0]].is_static:
            outs = [np.asarray(graph.types[n.inputs[0]].shape, np.int64)]
        elif n.inputs and all(rw.const(v) is not None for v in n.inputs):
            args = [rw.const(v) for v in n.inputs]
            size = sum(t.nbytes for t in out_types)
            if size > max(max_bytes, sum(a.nbytes for a in args)):
                rw.keep(n)
                continue
            outs = _evaluate(n, args, out_types)
        else:
            outs = None
        if outs is None:
            rw.keep(n)
            continue
        rw.drop(n)
        for i, (v, array) in enumerate(zip(n.outputs, outs, strict=True)):
            name = n.name if i == 0 else f"{n.name}#{i}"
            rw.replace(v, rw.constant(array, name=name, loc=n.loc))
    return rw.finish()
