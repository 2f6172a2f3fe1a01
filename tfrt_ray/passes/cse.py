"""Common subexpression elimination: of the nodes that apply the same op with the same
attributes to the same inputs, the first is kept and the others read its outputs.

Constants are compared by content, so equal constants merge too. Every op is pure (dropout
is the inference identity), so merging never changes a result.
"""

from __future__ import annotations

from typing import Any

from tfrt_ray.ir.graph import Graph
from tfrt_ray.passes.rewrite import Rewrite


def _key(v: Any) -> Any:
    """Attribute values as dict keys that tell 0.0 from -0.0 and match NaN with NaN."""
    if type(v) is float:
        return ("float", repr(v))
    if type(v) is tuple:
        return tuple(_key(x) for x in v)
    return v


def cse(graph: Graph) -> Graph:
    """Returns ``graph`` with duplicate computations merged (itself if it has none)."""
    rw = Rewrite(graph)
    seen: dict[tuple, tuple[int, ...]] = {}
    for n in graph.nodes:
        key = (n.op, tuple(rw.resolve(v) for v in n.inputs), _key(n.attrs))
        first = seen.get(key)
        if first is None:
            seen[key] = rw.keep(n).outputs
            continue
        rw.drop(n)
        for old, new in zip(n.outputs, first, strict=True):
            rw.replace(old, new)
    return rw.finish()
