"""Shape and dtype inference: re-runs every node's op spec over its (current) input types.

Graphs from importers or built by hand may carry loose types (``?`` where the size is
known) or attributes not in canonical form; after this pass every value's type is what the
ops compute and every node holds its full, canonical attributes. Graph input types are
kept; a graph output's type only changes where it was not what its op computes.
"""

from __future__ import annotations

from typing import Any

from tfrt_ray.ir.graph import Graph, Node, freeze_attrs
from tfrt_ray.ir.ops import get_op


def _identical(a: Any, b: Any) -> bool:
    """Equal with the same types throughout: 1 is not 1.0 (the canonical form tells)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(map(_identical, a, b))
    return a == b or (a != a and b != b)  # NaN is the same attribute as NaN


def infer_types(graph: Graph) -> Graph:
    """Returns ``graph`` with exact types and canonical attributes (itself if already so)."""
    types = list(graph.types)
    nodes = []
    changed = False
    for n in graph.nodes:
        full, out_types = get_op(n.op).check(
            tuple(types[v] for v in n.inputs), dict(n.attrs), node=n.name, loc=n.loc
        )
        attrs = freeze_attrs(full)
        for v, t in zip(n.outputs, out_types, strict=True):
            if types[v] != t:
                types[v], changed = t, True
        if not _identical(attrs, n.attrs):
            n, changed = Node(n.op, n.inputs, n.outputs, attrs, n.name, n.loc), True
        nodes.append(n)
    if not changed:
        return graph
    return Graph(
        name=graph.name,
        types=tuple(types),
        inputs=graph.inputs,
        outputs=graph.outputs,
        nodes=tuple(nodes),
        input_names=graph.input_names,
        output_names=graph.output_names,
    )
