"""The IR: an immutable graph of typed SSA values.

Values are numbered densely (``%0``, ``%1``, ...); ``Graph.types[i]`` is the type of value
``i``. Nodes are stored in a topological order. Graphs are built with `GraphBuilder`,
which runs each op's shape and dtype rule as nodes are added, so a graph that exists is
well typed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tfrt_ray.ir.location import UNKNOWN, Loc
from tfrt_ray.ir.types import TensorType, dtype_token


class ConstTensor:
    """A tensor held in an attribute (a constant's value). Compared by content."""

    __slots__ = ("array", "_hash")

    def __init__(self, array: np.ndarray) -> None:
        array = np.asarray(array)
        dtype_token(array.dtype)  # rejects unsupported dtypes early
        array = np.ascontiguousarray(array).reshape(array.shape)  # keeps 0-d as 0-d
        array.flags.writeable = False
        self.array = array
        self._hash: int | None = None

    @property
    def type(self) -> TensorType:
        return TensorType.of(self.array)

    def __eq__(self, other: object) -> bool:
        if self is other or (isinstance(other, ConstTensor) and self.array is other.array):
            return True
        if not isinstance(other, ConstTensor):
            return NotImplemented
        a, b = self.array, other.array
        return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash((self.array.dtype.str, self.array.shape, self.array.tobytes()))
        return self._hash

    def __repr__(self) -> str:
        return f"ConstTensor({self.type})"


AttrValue = Any  # int | float | bool | str | tuple of those | ConstTensor | dtype token | Graph


@dataclass(frozen=True, slots=True)
class Node:
    """One op application. ``inputs`` and ``outputs`` are value ids."""

    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    attrs: tuple[tuple[str, AttrValue], ...] = ()
    name: str = ""
    loc: Loc = UNKNOWN

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    @property
    def attr_dict(self) -> dict[str, AttrValue]:
        return dict(self.attrs)


@dataclass(frozen=True)
class Graph:
    """A function: typed inputs, nodes in topological order, outputs.

    ``input_names``/``output_names`` are the names users pass and get values by. A graph
    may also be an attribute value: the body of a ``fused_elementwise`` node. Graphs are
    compared by value and hashed once.
    """

    name: str
    types: tuple[TensorType, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    nodes: tuple[Node, ...]
    input_names: tuple[str, ...] = ()
    output_names: tuple[str, ...] = ()
    _producers: dict = field(default=None, init=False, repr=False, compare=False)
    _hash: int = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.input_names:
            object.__setattr__(
                self, "input_names", tuple(f"input_{i}" for i in range(len(self.inputs)))
            )
        if not self.output_names:
            object.__setattr__(
                self, "output_names", tuple(f"output_{i}" for i in range(len(self.outputs)))
            )

    def __hash__(self) -> int:
        if self._hash is None:
            key = (self.name, self.types, self.inputs, self.outputs, self.nodes,
                   self.input_names, self.output_names)
            object.__setattr__(self, "_hash", hash(key))
        return self._hash

    def type_of(self, value: int) -> TensorType:
        return self.types[value]

    @property
    def producers(self) -> dict[int, Node]:
        """Value id -> the node that produces it (graph inputs are absent)."""
        if self._producers is None:
            table = {v: n for n in self.nodes for v in n.outputs}
            object.__setattr__(self, "_producers", table)
        return self._producers

    def users(self) -> dict[int, list[Node]]:
        table: dict[int, list[Node]] = {}
        for n in self.nodes:
            for v in n.inputs:
                table.setdefault(v, []).append(n)
        return table

    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for n in self.nodes:
            counts[n.op] = counts.get(n.op, 0) + 1
        return counts

    def as_text(self, elide_constants: bool = False) -> str:
        """MLIR-like text; `tfrt_ray.ir.parse_graph` reads it back to an equal graph."""
        from tfrt_ray.ir.text import print_graph

        return print_graph(self, elide_constants=elide_constants)

    def __str__(self) -> str:
        return self.as_text(elide_constants=True)


def freeze_attrs(attrs: dict[str, AttrValue]) -> tuple[tuple[str, AttrValue], ...]:
    """Attributes in the canonical form nodes hold: sorted pairs, lists as tuples."""
    return tuple(sorted((k, _freeze(v)) for k, v in attrs.items()))


def _freeze(v: AttrValue) -> AttrValue:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.ndarray):
        return ConstTensor(v)
    if isinstance(v, np.generic):
        return v.item()
    return v


class GraphBuilder:
    """Builds a `Graph` node by node, inferring each node's output types from its op spec."""

    def __init__(self, name: str = "main") -> None:
        self.name = name
        self.types: list[TensorType] = []
        self.inputs: list[int] = []
        self.input_names: list[str] = []
        self.nodes: list[Node] = []
        self._names: set[str] = set()
        self._next_suffix: dict[str, int] = {}

    def new_value(self, t: TensorType) -> int:
        self.types.append(t)
        return len(self.types) - 1

    def add_input(self, t: TensorType, name: str | None = None) -> int:
        v = self.new_value(t)
        self.inputs.append(v)
        self.input_names.append(name or f"input_{len(self.inputs) - 1}")
        return v

    def unique_name(self, base: str) -> str:
        name, i = base, self._next_suffix.get(base, 0)
        if i:
            name = f"{base}_{i}"
        while name in self._names:
            i += 1
            name = f"{base}_{i}"
        self._next_suffix[base] = i + 1
        self._names.add(name)
        return name

    def add_node(
        self,
        op: str,
        inputs: Sequence[int],
        attrs: dict[str, AttrValue] | None = None,
        loc: Loc = UNKNOWN,
        name: str | None = None,
    ) -> tuple[int, ...]:
        """Adds a node after checking it against its op spec; returns its output value ids."""
        from tfrt_ray.ir.ops import get_op

        spec = get_op(op)
        in_types = tuple(self.types[v] for v in inputs)
        node_name = self.unique_name(name or op)
        full_attrs, out_types = spec.check(in_types, attrs or {}, node=node_name, loc=loc)
        outputs = tuple(self.new_value(t) for t in out_types)
        self.nodes.append(
            Node(op, tuple(inputs), outputs, freeze_attrs(full_attrs), node_name, loc)
        )
        return outputs

    def build(self, outputs: Iterable[int], output_names: Sequence[str] | None = None) -> Graph:
        outputs = tuple(outputs)
        return Graph(
            name=self.name,
            types=tuple(self.types),
            inputs=tuple(self.inputs),
            outputs=outputs,
            nodes=tuple(self.nodes),
            input_names=tuple(self.input_names),
            output_names=tuple(output_names) if output_names else (),
        )
