"""Small graph builders for the pass tests, and a runner.

`G` numbers the locations ``model.py:1, 2, ...`` in the order ops are added, so tests can
check that a rewritten or fused node still points at the user's line.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.ir import Graph, GraphBuilder, Loc, TensorType


class G:
    """A GraphBuilder with one-line helpers; ``op`` returns the (first) output id."""

    def __init__(self, name: str = "g") -> None:
        self.b = GraphBuilder(name)
        self.line = 0

    def input(self, shape, dtype: str = "f32", name: str | None = None) -> int:
        return self.b.add_input(TensorType(dtype, tuple(shape)), name)

    def const(self, value, dtype=np.float32, name: str | None = None) -> int:
        return self.b.add_node("constant", [], {"value": np.asarray(value, dtype)}, name=name)[0]

    def op(self, op: str, *inputs: int, name: str | None = None, **attrs) -> int:
        return self.ops(op, *inputs, name=name, **attrs)[0]

    def ops(self, op: str, *inputs: int, name: str | None = None, **attrs) -> tuple[int, ...]:
        self.line += 1
        return self.b.add_node(op, list(inputs), attrs, loc=Loc("model.py", self.line), name=name)

    def build(self, *outputs: int, names=None) -> Graph:
        return self.b.build(outputs, names)


def run(graph: Graph, *feeds: np.ndarray) -> list[np.ndarray]:
    """The graph's outputs for ``feeds``, through the compiled executor (an error value
    where an op failed)."""
    stage = compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs)
    return [v if isinstance(v, Exception) else np.asarray(v) for v in stage.run(list(feeds))]


def ops(graph: Graph) -> list[str]:
    return [n.op for n in graph.nodes]


def node(graph: Graph, op: str):
    """The one node of ``op`` in ``graph``."""
    (found,) = [n for n in graph.nodes if n.op == op]
    return found


def body(graph: Graph) -> str:
    """The graph's text (constants elided) without the ``func`` line and the closing brace."""
    return "\n".join(line.strip() for line in str(graph).splitlines()[1:-1])


def rand(*shape: int, seed: int = 0, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape).astype(np.float32)
