"""Algebraic simplification: removes ops that compute their input, and merges chains.

Rules (each only where the result's type is exactly the input's, so no broadcast or type
promotion is lost):

- ``identity(x)``, ``dropout(x)`` (inference), ``cast(x)`` to x's dtype -> ``x``
- ``x * 1``, ``1 * x``, ``x / 1``, ``x + 0``, ``0 + x``, ``x - 0`` (constant operand) -> ``x``
- ``reshape(x)`` to x's shape, ``transpose(x)`` with the identity permutation -> ``x``
- ``reshape(reshape(x))`` -> one ``reshape(x)``; ``transpose(transpose(x))`` -> one
  ``transpose(x)`` with the composed permutation (or ``x``)

A rewritten node keeps its name and location. ``x + 0`` turns ``-0.0`` into ``0.0``; they
compare equal, and every compiler that simplifies ``x + 0`` accepts that.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.passes.rewrite import Rewrite

_PASS_THROUGH = ("identity", "dropout")
# op -> (constant value that makes it the identity, operand positions it may sit in)
_NEUTRAL = {"mul": (1, (0, 1)), "div": (1, (1,)), "add": (0, (0, 1)), "sub": (0, (1,))}


def _is_all(array: np.ndarray | None, value: int) -> bool:
    return array is not None and array.size > 0 and bool(np.all(array == value))


def _neutral_operand(rw: Rewrite, n: Node) -> int | None:
    """For ``x op c`` with ``c`` the neutral constant of ``op``, the value ``x``."""
    value, positions = _NEUTRAL[n.op]
    for pos in positions:
        if _is_all(rw.const(n.inputs[pos]), value):
            return n.inputs[1 - pos]
    return None


def _perm(perm: tuple[int, ...] | None, rank: int) -> tuple[int, ...]:
    return tuple(range(rank))[::-1] if perm is None else tuple(p % rank for p in perm)


def _simplify_node(rw: Rewrite, graph: Graph, n: Node) -> int | None:
    """The value that replaces ``n``'s output, after adding any replacement node; None to
    keep ``n`` as it is."""
    x = rw.resolve(n.inputs[0]) if n.inputs else None
    out_t = graph.types[n.outputs[0]] if n.outputs else None
    if n.op in _PASS_THROUGH:
        return x
    if n.op == "cast":
        return x if rw.types[x].dtype == n.attr("dtype") else None
    if n.op in _NEUTRAL:
        y = _neutral_operand(rw, n)
        return y if y is not None and rw.types[rw.resolve(y)] == out_t else None
    if n.op == "reshape":
        if rw.types[x] == out_t:
            return x
        inner = rw.producer.get(x)
        if inner is None or inner.op != "reshape":
            return None
        shape = n.attr("shape")
        if out_t.is_static:
            shape = out_t.shape
        elif 0 in shape:
            return None  # a 0 copies a dim of the intermediate, which is going away
        src = inner.inputs[0]
        if rw.types[src] == out_t:
            return src
        (t,) = get_op("reshape").check((rw.types[src],), {"shape": shape})[1]
        if t != out_t:
            return None  # symbolic dims: the merged reshape would know less
        rw.drop(n)  # its name goes to the merged reshape
        (v,) = rw.add("reshape", (src,), {"shape": shape}, name=n.name, loc=n.loc)
        return v
    if n.op == "transpose":
        rank = out_t.rank
        perm = _perm(n.attr("perm"), rank)
        if perm == tuple(range(rank)):
            return x
        inner = rw.producer.get(x)
        if inner is None or inner.op != "transpose":
            return None
        first = _perm(inner.attr("perm"), rank)
        composed = tuple(first[p] for p in perm)
        src = inner.inputs[0]
        if composed == tuple(range(rank)):
            return src
        rw.drop(n)
        (v,) = rw.add("transpose", (src,), {"perm": composed}, name=n.name, loc=n.loc)
        return v
    return None


_RULE_OPS = set(_PASS_THROUGH) | set(_NEUTRAL) | {"cast", "reshape", "transpose"}


def simplify(graph: Graph) -> Graph:
    """Returns ``graph`` simplified by the rules above (itself if none applies)."""
    rw = Rewrite(graph)
    for n in graph.nodes:
        new = _simplify_node(rw, graph, n) if n.op in _RULE_OPS else None
        if new is None:
            rw.keep(n)
        else:
            rw.drop(n)
            rw.replace(n.outputs[0], new)
    return rw.finish()
