"""The one way passes build their output graph: a `Rewrite` walks the input's nodes in order,
keeping, replacing or adding nodes, and `finish` renumbers the values densely.

Value ids stay those of the input graph while a pass runs (new values are appended), so a
pass can look things up in the input graph freely; ``replace(old, new)`` makes every later
use of ``old`` read ``new``. A pass that changes nothing gets its input graph back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tfrt_ray.errors import IRError
from tfrt_ray.ir.graph import ConstTensor, Graph, Node, freeze_attrs
from tfrt_ray.ir.location import UNKNOWN, Loc
from tfrt_ray.ir.types import TensorType

# Input-free generators (constant_of_shape, range) count as constants up to this size;
# larger ones stay generators rather than be materialised by a pass.
MAX_FOLDED_BYTES = 1 << 20


class Rewrite:
    """A graph being rewritten; see the module doc."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.types: list[TensorType] = list(graph.types)
        self.nodes: list[Node] = []
        self.producer: dict[int, Node] = {}
        self.alias: dict[int, int] = {}
        self.used: set[str] = set()  # names of the nodes added so far
        self.reserved = {n.name for n in graph.nodes}  # input nodes not yet dropped
        self.changed = False
        self._consts: dict[int, np.ndarray | None] = {}

    def resolve(self, v: int) -> int:
        return self.alias.get(v, v)

    def replace(self, old: int, new: int) -> None:
        """Later uses of ``old`` (and the graph outputs) read ``new``; same type required."""
        self.alias[old] = self.resolve(new)
        self.changed = True

    def keep(self, node: Node) -> Node:
        """Adds ``node``, its inputs read through the replacements made so far."""
        inputs = tuple(self.alias.get(v, v) for v in node.inputs)
        if inputs != node.inputs:
            node = Node(node.op, inputs, node.outputs, node.attrs, node.name, node.loc)
            self.changed = True
        self._append(node)
        return node

    def drop(self, node: Node) -> None:
        """Leaves ``node`` out (its outputs must be replaced or unused); its name is free."""
        self.reserved.discard(node.name)
        self.changed = True

    def _append(self, node: Node) -> None:
        self.nodes.append(node)
        self.used.add(node.name)
        for v in node.outputs:
            self.producer[v] = node

    def add(
        self,
        op: str,
        inputs: Sequence[int],
        attrs: dict | None = None,
        *,
        name: str,
        loc: Loc = UNKNOWN,
        outputs: Sequence[int] | None = None,
    ) -> tuple[int, ...]:
        """Adds a new node, checked by its op spec; returns its output ids.

        ``outputs`` reuses existing value ids instead of new ones; ``name`` is used as
        given when no other node has it (`drop` a node to free its name), else made unique.
        """
        from tfrt_ray.ir.ops import get_op

        inputs = tuple(self.resolve(v) for v in inputs)
        if name in self.used or name in self.reserved:
            name = self.unique_name(name)
        full, out_types = get_op(op).check(
            tuple(self.types[v] for v in inputs), attrs or {}, node=name, loc=loc
        )
        if outputs is None:
            outputs = tuple(self.new_value(t) for t in out_types)
        elif [self.types[v] for v in outputs] != list(out_types):
            raise IRError(
                f"pass rewrote node '{name}' ({op}) to types {list(map(str, out_types))}, "
                f"but its values have types {[str(self.types[v]) for v in outputs]}",
                op=op,
                node=name,
                loc=loc,
                hint="this is a compiler bug; please report it with the graph's text",
            )
        node = Node(op, inputs, tuple(outputs), freeze_attrs(full), name, loc)
        self.changed = True
        self._append(node)
        return node.outputs

    def constant(self, array: np.ndarray, *, name: str, loc: Loc = UNKNOWN) -> int:
        """Adds a ``constant`` node holding ``array``; returns its value id."""
        (v,) = self.add("constant", (), {"value": ConstTensor(array)}, name=name, loc=loc)
        self._consts[v] = self.producer[v].attr("value").array
        return v

    def new_value(self, t: TensorType) -> int:
        self.types.append(t)
        return len(self.types) - 1

    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while name in self.used or name in self.reserved:
            name, i = f"{base}_{i}", i + 1
        return name

    def const(self, v: int) -> np.ndarray | None:
        """The value of ``v`` if a node added so far computes it without inputs, else None."""
        v = self.resolve(v)
        if v not in self._consts:
            node = self.producer.get(v)
            self._consts[v] = None if node is None else const_of(node, self.types[v])
        return self._consts[v]

    def finish(self, outputs: Sequence[int] | None = None) -> Graph:
        """The rewritten graph (the input graph itself if nothing changed)."""
        graph = self.graph
        outs = tuple(self.resolve(v) for v in (graph.outputs if outputs is None else outputs))
        if not self.changed and outs == graph.outputs:
            return graph
        return renumber(graph, self.nodes, self.types, outs)


def const_of(node: Node, t: TensorType) -> np.ndarray | None:
    """A constant node's value; small input-free generators are evaluated."""
    if node.inputs or len(node.outputs) != 1:
        return None
    if node.op == "constant":
        return node.attr("value").array
    if not t.is_static or t.nbytes > MAX_FOLDED_BYTES:
        return None
    from tfrt_ray.core.evaluate import evaluate

    try:
        return evaluate(node.op, (), node.attr_dict, (t,))[0]
    except Exception:  # noqa: BLE001 - an error is left for the run to report
        return None


def renumber(
    graph: Graph, nodes: Sequence[Node], types: Sequence[TensorType], outputs: Sequence[int]
) -> Graph:
    """A graph of ``nodes`` with values numbered densely in definition order (inputs first)."""
    new: dict[int, int] = {v: i for i, v in enumerate(graph.inputs)}
    out_nodes = []
    for n in nodes:
        for v in n.outputs:
            new[v] = len(new)
        out_nodes.append(
            Node(
                n.op,
                tuple(new[v] for v in n.inputs),
                tuple(new[v] for v in n.outputs),
                n.attrs,
                n.name,
                n.loc,
            )
        )
    new_types = [None] * len(new)
    for old, i in new.items():
        new_types[i] = types[old]
    return Graph(
        name=graph.name,
        types=tuple(new_types),
        inputs=tuple(range(len(graph.inputs))),
        outputs=tuple(new[v] for v in outputs),
        nodes=tuple(out_nodes),
        input_names=graph.input_names,
        output_names=graph.output_names,
    )


def single_user(graph: Graph, table: dict[int, list[Node]], v: int) -> Node | None:
    """The one node that reads ``v``, once, if ``v`` is not a graph output; else None.

    ``table`` is ``graph.users()`` (a node that reads ``v`` twice is listed twice).
    """
    readers = table.get(v, ())
    if len(readers) != 1 or v in graph.outputs:
        return None
    return readers[0]


def fused_name(nodes: Sequence[Node]) -> str:
    """A fused node's name, from the names of the nodes it replaces."""
    names = [n.name or n.op for n in nodes]
    if len(names) > 4:
        names = [names[0], names[1], "...", names[-1]]
    return "+".join(names)
