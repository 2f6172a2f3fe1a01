"""ONNX model -> tfrt-ray `Graph`.

How the import reads a model:

- Graph inputs become graph inputs, typed from their declared ONNX types: ``dim_param``
  dims become symbols, unknown dims ``"?"``. Initializers become constants.
- An initializer that is also listed as a graph input is an *optional override*: it stays a
  graph input, and `OnnxImport.defaults` holds its initializer as the value used when the
  caller gives none. Where such an input must be known at compile time (a Reshape's shape,
  say) it is folded to its default instead and named in `OnnxImport.folded`; passing a
  different value for it then needs a new import (`OnnxProgram` does that by itself).
- Every node is converted by its converter (``converters/``) into tfrt-ray ops; an op
  whose inputs are all known at import time is run at once with the reference kernels and
  becomes a constant, so ``Shape -> Gather -> Concat -> Reshape`` chains fold away when
  shapes are static. ONNX ops that ONNX defines as functions are expanded into their body.
- A value that must be static but is computed at run time raises `StaticValueError`,
  which names the graph inputs it depends on (`OnnxProgram` then specializes on them).
- Each tfrt-ray node is named after its ONNX node (the ONNX name, or ``OpType_index``) and
  carries ``Loc(model path, 0, onnx node name)``, so errors name the ONNX node.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx

from device_actors.kernels import get_kernel
from tfrt_ray.errors import IRError, OpExecutionError, StaticValueError, TfrtRayError
from tfrt_ray.frontends.onnx import functions
from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.loader import LoadedModel, read_model
from tfrt_ray.frontends.onnx.registry import find_converter, normalize_domain
from tfrt_ray.frontends.onnx.tensors import dtype_of, sparse_to_array, tensor_type, to_array
from tfrt_ray.ir.graph import ConstTensor, Graph, GraphBuilder
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

# Results of folding larger than this stay ops (run once when the graph is compiled).
FOLD_LIMIT_BYTES = 1 << 26
# Ops that only read their input's shape: their results do not depend on its values.
_SHAPE_READERS = ("Shape", "Size")


@dataclass(frozen=True)
class OnnxImport:
    """What `import_model` returns.

    Attributes:
        graph: the tfrt-ray graph; its inputs are the model's inputs (optional overrides
            included), by name.
        defaults: graph input name -> the initializer used when no value is given.
        folded: initializers listed as graph inputs that were folded into the graph.
        static_inputs: graph inputs whose values were given at import and are folded in.
        outputs: the ONNX output names, in order (== ``graph.output_names``).
        opset: the model's default-domain opset.
    """

    graph: Graph
    defaults: Mapping[str, np.ndarray] = field(default_factory=dict)
    folded: tuple[str, ...] = ()
    static_inputs: tuple[str, ...] = ()
    opset: int = 0


def import_model(
    model: Any,
    *,
    base_dir: str | os.PathLike | None = None,
    input_shapes: Mapping[str, tuple] | None = None,
    static_inputs: Mapping[str, np.ndarray] | None = None,
) -> OnnxImport:
    """Imports an ONNX model (path, bytes, ModelProto or `LoadedModel`).

    ``input_shapes`` replaces the declared shapes of the named inputs; ``static_inputs``
    gives the values of inputs to fold into the graph (the graph then does not take them).
    """
    loaded = model if isinstance(model, LoadedModel) else read_model(model, base_dir)
    static = dict(static_inputs or {})
    folded: list[str] = []
    while True:
        try:
            return Importer(loaded, input_shapes or {}, static, tuple(folded)).run()
        except StaticValueError as err:
            # Fold the optional overrides the value depends on to their defaults, and retry.
            defaults = _initializer_inputs(loaded.proto.graph)
            need = [n for n in getattr(err, "value_deps", ()) if n in defaults and n not in static]
            if not need:
                raise
            for name in need:
                static[name] = defaults[name]
                folded.append(name)


def _initializer_inputs(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    listed = {i.name for i in graph.input}
    return {t.name: to_array(t, f"initializer '{t.name}'") for t in graph.initializer
            if t.name in listed}


class Importer:
    """One import of one model (see the module docstring)."""

    def __init__(
        self,
        loaded: LoadedModel,
        input_shapes: Mapping[str, tuple],
        static_inputs: Mapping[str, np.ndarray],
        folded: tuple[str, ...] = (),
    ) -> None:
        self.model = loaded.proto
        self.file = loaded.path
        self.input_shapes = input_shapes
        self.static_inputs = static_inputs
        self.folded = folded
        self.builder = GraphBuilder(self.model.graph.name or "onnx_model")
        self.values: dict[str, Value] = {}
        self._materialized: dict[int, tuple[Value, int]] = {}
        self.opsets = {
            normalize_domain(o.domain): int(o.version) for o in self.model.opset_import
        }
        self.opsets.setdefault("", 1)
        self.local_functions = {(f.domain, f.name): f for f in self.model.functions}
        self._counter = 0

    # ---- the whole model ----------------------------------------------------------------

    def run(self) -> OnnxImport:
        graph = self.model.graph
        functions.check_supported(graph, self.opsets, self.local_functions)
        inits: dict[str, Any] = {t.name: t for t in graph.initializer}
        for sp in graph.sparse_initializer:
            inits[sp.values.name] = sp
        defaults: dict[str, np.ndarray] = {}
        for inp in graph.input:
            name = inp.name
            if name in inits:
                if name in self.static_inputs:
                    self.values[name] = Value.const(np.asarray(self.static_inputs[name]))
                    continue
                array = self._initializer(inits[name])
                defaults[name] = array
                self.values[name] = self._graph_input(name, TensorType.of(array))
            elif name in self.static_inputs:
                array = np.asarray(self.static_inputs[name])
                dtype_of(inp.type.tensor_type.elem_type, f"graph input '{name}'")
                self.values[name] = Value.const(array)
            else:
                self.values[name] = self._graph_input(name, self._input_type(inp))
        for name, t in inits.items():
            if name not in self.values:
                self.values[name] = Value.const(self._initializer(t))
        self.convert_nodes(graph.node, self.opsets, prefix="", loc_prefix="")
        outputs, names = [], []
        for out in graph.output:
            v = self._lookup(out.name, "graph output")
            et = out.type.tensor_type.elem_type if out.type.HasField("tensor_type") else 0
            if et:
                want = dtype_of(et, f"graph output '{out.name}'")
                if v.dtype != want:
                    v = self.emit("cast", [v], {"dtype": want}, out.name, Loc(self.file, 0))[0]
            outputs.append(self.materialize(v))
            names.append(out.name)
        g = self.builder.build(outputs, names)
        return OnnxImport(
            graph=g,
            defaults={k: v for k, v in defaults.items() if k in g.input_names},
            folded=self.folded,
            static_inputs=tuple(self.static_inputs),
            opset=self.opsets.get("", 0),
        )

    def _initializer(self, t: Any) -> np.ndarray:
        if isinstance(t, onnx.SparseTensorProto):
            return sparse_to_array(t, f"initializer '{t.values.name}'")
        return to_array(t, f"initializer '{t.name}'")

    def _input_type(self, inp: onnx.ValueInfoProto) -> TensorType:
        t = tensor_type(inp.type, f"graph input '{inp.name}'")
        if inp.name in self.input_shapes:
            dtype = t.dtype if t is not None else dtype_of(
                inp.type.tensor_type.elem_type, f"graph input '{inp.name}'"
            )
            return TensorType(dtype, tuple(self.input_shapes[inp.name]))
        if t is None:
            err = StaticValueError(
                f"graph input '{inp.name}' has no declared shape (not even a rank)",
                hint="declare its shape in the model, or pass input_shapes=",
            )
            err.value_deps = frozenset()  # type: ignore[attr-defined]
            err.shape_deps = frozenset([inp.name])  # type: ignore[attr-defined]
            raise err
        return t

    def _graph_input(self, name: str, t: TensorType) -> Value:
        v = Value(t, id=self.builder.add_input(t, name))
        v.deps = v.shape_deps = frozenset([name])
        return v

    def _lookup(self, name: str, what: str) -> Value:
        v = self.values.get(name)
        if v is None:
            raise IRError(
                f"{what} '{name}' is not produced by any node, input or initializer",
                hint="the model is malformed; check it with onnx.checker.check_model",
            )
        return v

    # ---- nodes ------------------------------------------------------------------------

    def convert_nodes(self, nodes: Any, opsets: dict[str, int], prefix: str, loc_prefix: str):
        for index, node in enumerate(nodes):
            self.convert_node(node, index, opsets, prefix, loc_prefix)

    def convert_node(
        self,
        node: onnx.NodeProto,
        index: int,
        opsets: dict[str, int],
        prefix: str,
        loc_prefix: str,
    ) -> None:
        base = node.name or f"{node.op_type}_{index}"
        name = f"{prefix}{base}"
        loc_name = loc_prefix or name
        domain = normalize_domain(node.domain)
        opset = opsets.get(domain, self.opsets.get(domain, 1))
        inputs = [self._lookup(n, f"input '{n}' of node '{name}'") if n else None
                  for n in node.input]
        ctx = NodeContext(self, node, name, opset, Loc(self.file, 0, loc_name), inputs)
        fn = find_converter(domain, node.op_type)
        try:
            if fn is not None:
                outs = fn(ctx)
            else:
                outs = functions.expand(self, ctx, opsets, self.local_functions)
        except TfrtRayError as err:
            raise err.with_context(node=name, loc=ctx.loc) from None
        if isinstance(outs, Value) or outs is None:
            outs = [outs]
        present = [v for v in inputs if v is not None and not v.is_const]
        deps = frozenset().union(*(v.deps for v in present)) if present else frozenset()
        sdeps = frozenset().union(*(v.shape_deps for v in present)) if present else frozenset()
        if node.op_type in _SHAPE_READERS:
            deps, sdeps = frozenset(), deps | sdeps
        for i, out_name in enumerate(node.output):
            if not out_name:
                continue
            v = outs[i] if i < len(outs) else None
            if v is None:
                raise ctx.error(
                    f"output {i} ('{out_name}') of {node.op_type} is not supported",
                    hint="use a model that does not read this output",
                )
            if not v.is_const and v not in present:
                v.deps, v.shape_deps = deps | v.deps, sdeps | v.shape_deps
            self.values[out_name] = v

    # ---- building -----------------------------------------------------------------------

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
            with np.errstate(all="ignore"):
                out = get_kernel(op, "cpu")(*[v.array for v in vals], **full)
        except TfrtRayError as err:
            raise err.with_context(op=op, node=name, loc=loc) from None
        except Exception as exc:  # noqa: BLE001 - reported as the node's error
            raise OpExecutionError(
                f"constant folding failed: {type(exc).__name__}: {exc}",
                op=op,
                node=name,
                loc=loc,
                inputs=[v.type for v in vals],
                hint="the node's constant inputs are invalid for it",
            ) from None
        outs = tuple(out) if len(out_types) > 1 else (out,)
        result = []
        for a, t in zip(outs, out_types, strict=True):
            a = np.asarray(a)
            if a.dtype != t.np_dtype:
                a = a.astype(t.np_dtype)
            result.append(Value.const(a))
        return tuple(result)

    def unique_prefix(self, base: str) -> str:
        self._counter += 1
        return f"{base}/{self._counter}/"
