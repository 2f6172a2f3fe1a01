"""Graph verification: checks that a `Graph` is well formed, in one linear pass.

`GraphBuilder` only makes well-formed graphs; graphs rewritten by passes, deserialized or
built by hand are checked here. Every error is a `VerificationError` naming the node
(``node``, ``op``, ``loc``) and saying how to fix it (``hint``).
"""

from __future__ import annotations

from typing import Any

from tfrt_ray.errors import TfrtRayError, VerificationError
from tfrt_ray.ir.graph import Graph, Node, freeze_attrs
from tfrt_ray.ir.location import UNKNOWN

_CANONICAL_HINT = (
    "nodes hold the full attributes returned by the op spec's check(), frozen with "
    "freeze_attrs (sorted pairs, defaults filled, ints/floats/bools of the declared kind); "
    "GraphBuilder.add_node does this"
)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types throughout (so 1 is not 1.0, and True is not 1)."""
    if type(a) is not type(b):
        return False
    if type(a) is tuple:
        return len(a) == len(b) and all(map(_same, a, b))
    if type(a) is float and a != a:
        return b != b
    return a == b


def verify(graph: Graph) -> None:
    """Raises VerificationError at the first thing wrong with ``graph``."""
    from tfrt_ray.ir.ops import get_op

    types = graph.types
    n = len(types)
    defined = bytearray(n)

    def fail(msg: str, node: Node | None = None, hint: str | None = None) -> VerificationError:
        if node is None:
            return VerificationError(msg, hint=hint)
        loc = None if node.loc == UNKNOWN else node.loc
        return VerificationError(msg, op=node.op, node=node.name, loc=loc, hint=hint)

    def define(v: Any, what: str, node: Node | None = None) -> None:
        if type(v) is not int or not 0 <= v < n:
            raise fail(
                f"{what} %{v} has no type: graph.types has {n} entries",
                node,
                "give every value a type: graph.types[v] for each value id v",
            )
        if defined[v]:
            raise fail(
                f"{what} %{v} is defined twice",
                node,
                "each value must be produced by exactly one graph input or node output",
            )
        defined[v] = 1

    for what, vs, names in (
        ("input", graph.inputs, graph.input_names),
        ("output", graph.outputs, graph.output_names),
    ):
        if len(names) != len(vs):
            raise fail(
                f"the graph has {len(vs)} {what}s but {len(names)} {what} names",
                hint=f"give one name per graph {what}",
            )
    for v in graph.inputs:
        define(v, "graph input")

    names: set[str] = set()
    for node in graph.nodes:
        if node.name:
            if node.name in names:
                raise fail(
                    f"node name '{node.name}' is used by more than one node",
                    node,
                    "give each node a unique name (GraphBuilder.unique_name)",
                )
            names.add(node.name)
        for v in node.inputs:
            if type(v) is not int or not 0 <= v < n or not defined[v]:
                later = any(v in m.outputs for m in graph.nodes)
                raise fail(
                    f"uses %{v}, which is not defined before it"
                    + (" (it is defined by a later node)" if later else ""),
                    node,
                    "nodes must be in topological order, each input defined earlier"
                    if later
                    else "use a graph input or an earlier node's output",
                )
        try:
            spec = get_op(node.op)
        except TfrtRayError as err:
            raise fail(f"unknown op '{node.op}'", node, err.hint) from None
        attrs = node.attrs
        if type(attrs) is not tuple or not all(
            type(p) is tuple and len(p) == 2 and type(p[0]) is str for p in attrs
        ):
            msg = "attrs are not in canonical form: not a tuple of (name, value) pairs"
            raise fail(msg, node, _CANONICAL_HINT)
        unknown = sorted({k for k, _ in attrs} - set(spec.attrs))
        if unknown:
            raise fail(
                f"unknown attribute(s) {unknown}",
                node,
                f"'{node.op}' takes {sorted(spec.attrs) or 'no attributes'}",
            )
        in_types = tuple(types[v] for v in node.inputs)
        try:
            full, out_types = spec.check(in_types, dict(attrs), node=node.name, loc=node.loc)
            canonical = freeze_attrs(full)
        except TfrtRayError as err:
            raise fail(err.message, node, err.hint) from None
        except Exception as exc:  # an op rule's own bug: still a verification failure
            raise fail(f"the op's shape rule failed: {exc!r}", node) from None
        if not _same(canonical, attrs):
            raise fail(
                f"attrs {dict(attrs)!r} are not in canonical form; expected {dict(canonical)!r}",
                node,
                _CANONICAL_HINT,
            )
        if len(node.outputs) != len(out_types):
            raise fail(
                f"has {len(node.outputs)} outputs but the op gives {len(out_types)}",
                node,
                "give the node one output value per result of the op",
            )
        for v, t in zip(node.outputs, out_types, strict=True):
            define(v, "output", node)
            if types[v] != t:
                raise fail(
                    f"output %{v} has type {types[v]} but the op infers {t}",
                    node,
                    "set graph.types to the types the op spec infers (GraphBuilder does)",
                )

    for name, v in zip(graph.output_names, graph.outputs, strict=True):
        if type(v) is not int or not 0 <= v < n or not defined[v]:
            raise fail(
                f"graph output '{name}' is %{v}, which no input or node defines",
                hint="return only values that graph inputs or nodes produce",
            )
    if sum(defined) != n:
        k = defined.index(0)
        raise fail(
            f"graph.types has {n} entries but only {sum(defined)} values are defined "
            f"(%{k} is never defined)",
            hint="graph.types must hold exactly one type per defined value, ids 0..n-1",
        )
