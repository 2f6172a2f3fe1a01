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

from tfrt_ray.errors import IRError, ModelLoadError, StaticValueError, TfrtRayError
from tfrt_ray.frontends.onnx import functions
from tfrt_ray.frontends.onnx.context import Empty, NodeContext, SequenceValue, Value
from tfrt_ray.frontends.onnx.emitter import GraphEmitter
from tfrt_ray.frontends.onnx.formats import tag_formats
from tfrt_ray.frontends.onnx.graph_inputs import input_type, sequence_item_types
from tfrt_ray.frontends.onnx.loader import LoadedModel, read_model
from tfrt_ray.frontends.onnx.proto import pb
from tfrt_ray.frontends.onnx.registry import find_converter, normalize_domain
from tfrt_ray.frontends.onnx.tensors import (
    array_format,
    dtype_of,
    elem_dtype,
    elem_format,
    format_of,
    sequence_elem,
    sparse_to_array,
    to_array,
    to_carrier,
)
from tfrt_ray.ir.graph import Graph
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.types import TensorType

# Ops that only read their input's shape: their results do not depend on its values.
_SHAPE_READERS = ("Shape", "Size")


@dataclass(frozen=True)
class OnnxImport:
    """What `import_model` returns.

    Attributes:
        graph: the tfrt-ray graph; its inputs are the model's inputs in the model's order
            (optional overrides included), its outputs the model's outputs, by name.
        defaults: graph input name -> the initializer used when no value is given.
        folded: initializers listed as graph inputs that were folded into the graph.
        static_inputs: graph inputs whose values were given at import and are folded in.
        opset: the model's default-domain opset.
        sequences: ONNX outputs that are sequences -> their length; such an output ``y``
            is graph outputs ``y[0]``, ``y[1]``, ...
        formats: outputs of an emulated ONNX type (bfloat16, float8, int4, ...) -> its
            format; the graph outputs them in the carrier dtype (see ``tensors.EMULATED``).
    """

    graph: Graph
    defaults: Mapping[str, np.ndarray] = field(default_factory=dict)
    folded: tuple[str, ...] = ()
    static_inputs: tuple[str, ...] = ()
    opset: int = 0
    sequences: Mapping[str, int] = field(default_factory=dict)
    formats: Mapping[str, str] = field(default_factory=dict)


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
    try:
        return _import_model(model, base_dir, input_shapes, static_inputs)
    except (TfrtRayError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - untrusted input: no raw exception escapes
        raise ModelLoadError(
            f"the model is malformed ({type(exc).__name__}: {exc})",
            hint="check the file with onnx.checker.check_model; re-export the model",
        ) from exc


def _import_model(model, base_dir, input_shapes, static_inputs) -> OnnxImport:
    loaded = model if isinstance(model, LoadedModel) else read_model(model, base_dir)
    static = dict(static_inputs or {})
    folded: list[str] = []
    defaults: dict[str, np.ndarray] | None = None
    while True:
        try:
            return Importer(loaded, input_shapes or {}, static, tuple(folded)).run()
        except StaticValueError as err:
            # Fold the optional overrides the value depends on to their defaults, and retry.
            if defaults is None:
                defaults = initializer_inputs(loaded)
            need = [n for n in getattr(err, "value_deps", ()) if n in defaults and n not in static]
            if not need:
                raise
            free = [n for n in defaults if n not in static]
            for name in _used_alike(loaded.proto.graph, need, free):
                static[name] = defaults[name]
                folded.append(name)


def _used_alike(graph: pb.GraphProto, names: list[str], candidates: list[str]) -> list[str]:
    """``names``, and the candidates used as the same input of the same op as one of them.

    A model whose shapes come from optional overrides has many (the light models of the
    onnx wheel: one per ConstantOfShape); folding them together spares an import per
    override (409 imports of inception_v2, 47 s for densenet121). Folding one more than
    needed costs nothing: `OnnxProgram` compiles again for a value that differs from it.
    """
    uses: dict[str, set[tuple[str, str, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            uses.setdefault(name, set()).add((node.domain, node.op_type, i))
    wanted = set().union(*(uses.get(n, set()) for n in names))
    return list(dict.fromkeys(
        [*names, *(c for c in candidates if uses.get(c, set()) & wanted)]))


def initializer_inputs(loaded: LoadedModel) -> dict[str, np.ndarray]:
    """Initializers the graph also lists as inputs (optional overrides) -> their values."""
    graph = loaded.proto.graph
    listed = {i.name for i in graph.input}
    return {t.name: loaded.initializer(t) for t in graph.initializer if t.name in listed}


class Importer(GraphEmitter):
    """One import of one model (see the module docstring)."""

    def __init__(
        self,
        loaded: LoadedModel,
        input_shapes: Mapping[str, tuple],
        static_inputs: Mapping[str, np.ndarray],
        folded: tuple[str, ...] = (),
    ) -> None:
        super().__init__(loaded.proto.graph.name or "onnx_model", loaded.path)
        self.model = loaded.proto
        self.loaded = loaded
        self.input_shapes = input_shapes
        self.static_inputs = static_inputs
        self.folded = folded
        self.values: dict[str, Value] = {}
        self._unsupported: dict[str, TfrtRayError] = {}
        self.opsets = {
            normalize_domain(o.domain): int(o.version) for o in self.model.opset_import
        }
        self.opsets.setdefault("", 1)
        self.local_functions = {(f.domain, f.name): f for f in self.model.functions}
        self._scope_opsets = self.opsets
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
                raw = self._initializer(inits[name])
                array = to_carrier(raw)
                defaults[name] = array
                v = self._graph_input(name, TensorType.of(array))
                v.fmt = array_format(raw)
                self.values[name] = v
            elif name in self.static_inputs:
                elem_dtype(inp.type, f"graph input '{name}'")
                given = self.static_inputs[name]
                dtype = elem_dtype(inp.type, f"graph input '{name}'")
                # None: an optional input given no value; a list: a sequence.
                if given is None:
                    self.values[name] = Empty()
                elif isinstance(given, (list, tuple)):
                    self.values[name] = SequenceValue([Value.const(np.asarray(a)) for a in given],
                                                 dtype)
                else:
                    self.values[name] = Value.const(np.asarray(given))
            elif sequence_elem(inp.type) is not None:
                self.values[name] = self._sequence_input(inp)
            else:
                v = self._graph_input(name, input_type(inp, self.input_shapes))
                v.fmt = elem_format(inp.type)
                self.values[name] = v
        for name, t in inits.items():
            if name not in self.values:
                self.values[name] = Value.const(self._initializer(t))
        self.convert_nodes(graph.node, self.opsets, prefix="", loc_prefix="")
        outputs, names, sequences, formats = [], [], {}, {}
        for out in graph.output:
            v = self._lookup(out.name, "graph output")
            if isinstance(v, SequenceValue):  # one graph output per item
                sequences[out.name] = len(v.items)
                for i, item in enumerate(v.items):
                    outputs.append(self.materialize(item))
                    names.append(f"{out.name}[{i}]")
                continue
            if isinstance(v, Empty):
                raise IRError(f"graph output '{out.name}' is an empty optional",
                              hint="tfrt-ray graphs output tensors")
            et = out.type.tensor_type.elem_type if out.type.HasField("tensor_type") else 0
            fmt = format_of(et)
            if fmt is not None:
                formats[out.name] = fmt
                if v.fmt != fmt:
                    v = self.emit("to_format", [v], {"format": fmt}, out.name,
                                  Loc(self.file, 0))[0]
            elif et:
                want = dtype_of(et, f"graph output '{out.name}'")
                if v.dtype != want or v.fmt:
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
            sequences=sequences,
            formats=formats,
        )

    def _initializer(self, t: Any) -> np.ndarray:
        """A top-level initializer's value."""
        if isinstance(t, pb.SparseTensorProto):
            return sparse_to_array(t, f"initializer '{t.values.name}'")
        return self.loaded.initializer(t)

    def _sequence_input(self, inp: pb.ValueInfoProto):
        """A sequence input is one graph input per item, ``name[i]``."""
        dtype, types = sequence_item_types(inp, self.input_shapes)
        if types is None:
            return Empty()
        items = [self._graph_input(f"{inp.name}[{i}]", t) for i, t in enumerate(types)]
        return SequenceValue(items, dtype)

    def _graph_input(self, name: str, t: TensorType) -> Value:
        v = Value(t, id=self.builder.add_input(t, name))
        v.deps = v.shape_deps = frozenset([name])
        return v

    def _lookup(self, name: str, what: str) -> Value:
        v = self.values.get(name)
        if v is None and name in self._unsupported:
            raise self._unsupported[name]
        if v is None:
            raise IRError(
                f"{what} '{name}' is not produced by any node, input or initializer",
                hint="the model is malformed; check it with onnx.checker.check_model",
            )
        return v

    # ---- nodes ------------------------------------------------------------------------

    def convert_nodes(self, nodes: Any, opsets: dict[str, int], prefix: str, loc_prefix: str):
        outer, self._scope_opsets = self._scope_opsets, opsets
        try:
            for index, node in enumerate(nodes):
                self.convert_node(node, index, opsets, prefix, loc_prefix)
        finally:
            self._scope_opsets = outer

    def convert_node(
        self,
        node: pb.NodeProto,
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
        except (TypeError, ValueError, IndexError, KeyError, ArithmeticError) as exc:
            raise IRError(
                f"cannot convert ONNX {node.op_type} (opset {opset}): "
                f"{type(exc).__name__}: {exc}",
                node=name,
                loc=ctx.loc,
                hint="the node's attributes or constant inputs are invalid for this op",
            ) from exc
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        outs = tag_formats(ctx, list(outs))
        present = [v for v in inputs if v is not None and not v.is_const]
        deps = frozenset().union(*(v.deps for v in present)) if present else frozenset()
        sdeps = frozenset().union(*(v.shape_deps for v in present)) if present else frozenset()
        if node.op_type in _SHAPE_READERS:
            deps, sdeps = frozenset(), deps | sdeps
        for i, out_name in enumerate(node.output):
            if not out_name:
                continue
            v = outs[i] if i < len(outs) else None
            if v is None:  # an error only if something reads it
                self._unsupported[out_name] = ctx.error(
                    f"output {i} ('{out_name}') of {node.op_type} is not supported",
                    hint="use a model that does not read this output",
                )
                continue
            if not v.is_const and v not in present:
                v.deps, v.shape_deps = deps | v.deps, sdeps | v.shape_deps
            self.values[out_name] = v

    def unique_prefix(self, base: str) -> str:
        self._counter += 1
        return f"{base}/{self._counter}/"

    # ---- subgraphs ----------------------------------------------------------------------

    def inline(
        self, graph: pb.GraphProto, inputs: list[Value], ctx: NodeContext, tag: str
    ) -> list[Value]:
        """Converts subgraph ``graph`` in place with its inputs bound to ``inputs``;
        returns its outputs. Names it defines are unbound again afterwards, so a loop body
        can be inlined once per iteration."""
        saved: dict[str, Value | None] = {}

        def bind(name: str, v: Value | None) -> None:
            if name not in saved:
                saved[name] = self.values.get(name)
            if v is not None:
                self.values[name] = v

        for inp, v in zip(graph.input, inputs, strict=True):
            bind(inp.name, v)
        for t in graph.initializer:
            bind(t.name, Value.const(to_array(t, f"initializer '{t.name}'")))
        for node in graph.node:
            for out in node.output:
                if out:
                    bind(out, None)
        prefix = f"{ctx.name}/{tag}/"
        self.convert_nodes(graph.node, self._scope_opsets, prefix, ctx.loc.name or ctx.name)
        outs = [self._lookup(o.name, f"output of subgraph '{graph.name}'") for o in graph.output]
        for name, old in saved.items():
            if old is None:
                self.values.pop(name, None)
            else:
                self.values[name] = old
        return outs
