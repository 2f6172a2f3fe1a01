"""Adding tfrt-ray nodes for import-time `Value`s: constants become `constant` nodes on
first use, and an op whose inputs are all constants is folded (run now with the reference
kernels) instead of added."""

from __future__ import annotations

from typing import Any

from tfrt_ray.core.evaluate import evaluate
from tfrt_ray.errors import IRError, OpExecutionError, TfrtRayError
from tfrt_ray.frontends.onnx.context import Value
from tfrt_ray.ir.graph import ConstTensor, GraphBuilder
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.ops import get_op

# Results of folding larger than this stay ops (run once when the graph is compiled).
FOLD_LIMIT_BYTES = 1 << 26


class GraphEmitter:
    """Builds a graph from Values (see the module docstring)."""

    def __init__(self, name: str, file: str | None) -> None:
        self.builder = GraphBuilder(name)
        self.file = file
        self._materialized: dict[int, tuple[Value, int]] = {}

    def materialize(self, v: Value) -> int:
        """The graph value id of ``v``; a constant gets its `constant` node on first use."""
        if v.id is not None:
            return v.id
        hit = self._materialized.get(id(v))
        if hit is not None:
            return hit[1]
        (vid,) = self.builder.add_node(
            "constant", [], {"value": ConstTensor(v.array)}, Loc(self.file, 0), "const"
        )
        self._materialized[id(v)] = (v, vid)
        return vid

    def emit(
        self, op: str, inputs: list, attrs: dict[str, Any], name: str, loc: Loc
    ) -> tuple[Value, ...]:
        vals = [x if isinstance(x, Value) or x is None else Value.const(x) for x in inputs]
        while vals and vals[-1] is None:
            vals.pop()
        if any(v is None for v in vals):
            raise IRError(f"op '{op}' got a missing input before a present one", node=name)
        if all(v.is_const for v in vals):
            folded = self._fold(op, vals, attrs, name, loc)
            if folded is not None:
                return folded
        ids = [self.materialize(v) for v in vals]
        outs = self.builder.add_node(op, ids, attrs, loc, name)
        return tuple(Value(self.builder.types[o], id=o) for o in outs)

    def _fold(self, op: str, vals: list[Value], attrs: dict, name: str, loc: Loc):
        spec = get_op(op)
        full, out_types = spec.check(tuple(v.type for v in vals), attrs, node=name, loc=loc)
        if sum(t.nbytes for t in out_types) > FOLD_LIMIT_BYTES:
            return None
        try:
            outs = evaluate(op, [v.array for v in vals], full, out_types)
        except OpExecutionError as err:
            raise OpExecutionError(
                f"constant folding failed: {err.message}",
                op=op,
                node=name,
                loc=loc,
                inputs=[v.type for v in vals],
                hint=err.hint or "the node's constant inputs are invalid for it",
            ) from None
        except TfrtRayError as err:
            raise err.with_context(op=op, node=name, loc=loc) from None
        return tuple(Value.const(a) for a in outs)
