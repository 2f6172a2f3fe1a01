"""Dead code elimination: drops the nodes none of whose outputs reach a graph output."""

from __future__ import annotations

from tfrt_ray.ir.graph import Graph
from tfrt_ray.passes.rewrite import renumber


def dce(graph: Graph) -> Graph:
    """Returns ``graph`` without its dead nodes (itself if it has none).

    A node with several outputs stays while any of them is used.
    """
    live = set(graph.outputs)
    keep = []
    for n in reversed(graph.nodes):
        if any(v in live for v in n.outputs):
            keep.append(n)
            live.update(n.inputs)
    if len(keep) == len(graph.nodes):
        return graph
    return renumber(graph, keep[::-1], graph.types, graph.outputs)
