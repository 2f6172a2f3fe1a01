"""`OnnxProgram`: an imported ONNX model, compiled, run by input name.

A model is compiled once when every value the compiler must know (shapes, axes, sizes) is
known from the model itself. When one depends on the inputs (symbolic input dims feeding a
Reshape, or a shape passed as an input), the program compiles one graph per input
signature instead (the shapes, and the values of just the inputs those values come from),
as `tfrt_ray.function` does per Python signature, and caches it.
"""

from __future__ import annotations

import dataclasses
import os
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.core.executor import CompiledStage
from tfrt_ray.errors import InputError, StaticValueError, TfrtRayError
from tfrt_ray.frontends.onnx.importer import OnnxImport, import_model, initializer_inputs
from tfrt_ray.frontends.onnx.loader import read_model
from tfrt_ray.frontends.onnx.proto import pb
from tfrt_ray.frontends.onnx.tensors import (
    elem_dtype,
    elem_format,
    format_numpy,
    sequence_elem,
    tensor_type,
    to_carrier,
)
from tfrt_ray.ir.graph import Graph
from tfrt_ray.ir.types import TensorType, numpy_dtype
from tfrt_ray.passes import optimize, passes_for
from tfrt_ray.runtime import feeds as _feeds

CACHE_SIZE = 32


class OnnxProgram:
    """An ONNX model ready to run on the host device.

    Args:
        model: a path, the model's bytes, or an ``onnx.ModelProto``.
        base_dir: the folder of external data files (default: the model file's folder).
        dims: symbolic input dims to fix, by name (``{"seq": 128}``).
        opt_level: the compiler passes run on each compiled graph (0: none, 1: cleanup,
            2, the default: also batch-norm folding and the fusions), as for
            ``tr.function`` and ``tr.compile``.

    Example:
        >>> prog = OnnxProgram("model.onnx")
        >>> out = prog.run({"input": x})      # or prog.run([x])
        >>> out["logits"]
    """

    def __init__(
        self, model: str | bytes | os.PathLike | pb.ModelProto, *, base_dir: Any = None,
        dims: Any = None, opt_level: int = 2,
    ) -> None:
        passes_for(opt_level)  # a ConfigError for a level that does not exist
        self.opt_level = opt_level
        self._loaded = read_model(model, base_dir, dims=dims)
        g = self._loaded.proto.graph
        inits = {t.name for t in g.initializer} | {s.values.name for s in g.sparse_initializer}
        self.input_names: tuple[str, ...] = tuple(i.name for i in g.input if i.name not in inits)
        self.optional_input_names: tuple[str, ...] = tuple(
            i.name for i in g.input if i.name in inits
        )
        self.output_names: tuple[str, ...] = tuple(o.name for o in g.output)
        self._defaults = {
            k: to_carrier(v) for k, v in initializer_inputs(self._loaded).items()
        }
        self._declared: dict[str, TensorType | None] = {}
        self._optional = {
            i.name for i in g.input if i.type.WhichOneof("value") == "optional_type"
        }
        self._elem: dict[str, np.dtype] = {}
        self._sequences = {i.name for i in g.input if sequence_elem(i.type) is not None}
        for i in g.input:
            if i.name in inits:
                continue
            self._declared[i.name] = None if i.name in self._sequences else tensor_type(
                i.type, f"graph input '{i.name}'")
            fmt = elem_format(i.type)
            self._elem[i.name] = format_numpy(fmt) if fmt else numpy_dtype(
                elem_dtype(i.type, f"graph input '{i.name}'")
            )
        self._by_shape = False
        self._by_value: set[str] = set()
        self._cache: OrderedDict[Any, tuple[OnnxImport, CompiledStage]] = OrderedDict()
        self._generic: tuple[OnnxImport, CompiledStage] | None = None
        try:
            self._generic = self._compile(import_model(self._loaded))
        except StaticValueError as err:
            self._learn(err)
            self._deferred = err

    # ---- public ---------------------------------------------------------------------

    @property
    def graph(self) -> Graph:
        """The compiled graph. Raises StaticValueError when the model compiles only per
        input signature (see `graph_for`)."""
        if self._generic is None:
            raise self._deferred
        return self._generic[0].graph

    @property
    def defaults(self) -> Mapping[str, np.ndarray]:
        """Optional inputs (initializers listed as graph inputs) and their default values."""
        return self._defaults

    def graph_for(self, inputs: Mapping[str, Any] | Sequence[Any]) -> Graph:
        """The graph compiled for these inputs."""
        feeds = self._feeds(inputs)
        return self._select(feeds)[0].graph

    def run(self, inputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, np.ndarray]:
        """Runs the model; ``inputs`` by name, or a list in `input_names` order.

        Returns output name -> array (a list of arrays for a sequence output). A failed op
        raises its error (naming the ONNX node).
        """
        feeds = self._feeds(inputs)
        imp, stage = self._select(feeds)
        g = imp.graph
        args = []
        for name in g.input_names:
            if name in feeds:
                args.append(to_carrier(feeds[name]))
            elif name in imp.defaults:
                args.append(imp.defaults[name])
            else:  # item i of a sequence input: "name[i]"
                base, _, index = name.rpartition("[")
                args.append(to_carrier(feeds[base][int(index[:-1])]))
        outs = stage.run(args)
        by_name = {}
        for name, value in zip(g.output_names, outs, strict=True):
            if isinstance(value, TfrtRayError):
                raise value
            by_name[name] = value
        result: dict[str, Any] = {}
        for name in self.output_names:
            if name in imp.sequences:
                result[name] = [by_name[f"{name}[{i}]"] for i in range(imp.sequences[name])]
            elif name in imp.formats:
                result[name] = np.asarray(by_name[name]).astype(format_numpy(imp.formats[name]))
            else:
                result[name] = by_name[name]
        return result

    # ---- inputs -----------------------------------------------------------------------

    def _feeds(self, inputs: Mapping[str, Any] | Sequence[Any]) -> dict[str, np.ndarray]:
        types = [(t.shape if t is not None else (), self._elem[n])
                 for n, t in ((n, self._declared.get(n)) for n in self.input_names)]
        given = _feeds.bind(inputs, self.input_names, types,
                            optional=self.optional_input_names)
        feeds = {k: self._check(k, v) for k, v in given.items()}
        self._check_symbols(feeds)
        return feeds

    def _check(self, name: str, value: Any) -> np.ndarray | None:
        if value is None:
            if name in self._optional:
                return None  # an optional input without a value
            raise InputError(f"input '{name}' is None", hint="pass an array")
        if name in self._sequences:
            if not isinstance(value, (list, tuple)):
                raise InputError(f"input '{name}' is a sequence; pass a list of arrays",
                                 hint="wrap the arrays in a list")
            return [self._check_array(name, v) for v in value]
        return self._check_array(name, value)

    def _check_array(self, name: str, value: Any) -> np.ndarray:
        if name not in self._elem:  # an optional override: must match its default
            default = self._defaults[name]
            a = to_carrier(np.asarray(value))
            if a.dtype != default.dtype or a.shape != default.shape:
                raise InputError(
                    f"input '{name}' is {a.dtype}{list(a.shape)}, expected "
                    f"{default.dtype}{list(default.shape)} (its initializer's type)",
                    hint="give the override the initializer's dtype and shape",
                )
            return a
        return _feeds.convert(name, value, self._elem[name])

    def _check_symbols(self, feeds: dict[str, np.ndarray]) -> None:
        _feeds.check_dims(feeds, {n: t.shape for n, t in self._declared.items()
                                  if t is not None and isinstance(feeds.get(n), np.ndarray)})

    # ---- compiling ----------------------------------------------------------------------

    def _compile(self, imp: OnnxImport) -> tuple[OnnxImport, CompiledStage]:
        """The passes of ``opt_level``, then the CPU stage's own compilation (the kernels,
        oneDNN and its layouts, the memory plan), as a CPU device actor compiles a stage;
        the host runs it on one core (an actor on the cores it was given)."""
        if self.opt_level:
            imp = dataclasses.replace(imp, graph=optimize(imp.graph, level=self.opt_level))
        g = imp.graph
        # One core: with more, a stage with independent heavy ops runs them on a thread
        # pool, which skips the CPU's stage passes (oneDNN layouts, memory planning), and
        # those are worth more to a model like BERT or ResNet-50 than a second thread.
        return imp, compile_stage(g.nodes, g.types, g.inputs, g.outputs, "cpu", "host:0", 1)

    def _learn(self, err: StaticValueError) -> bool:
        """Records what to specialize on; False when nothing new was learned."""
        new = False
        value_deps = set(getattr(err, "value_deps", ())) - self._by_value
        if value_deps:
            self._by_value |= value_deps
            new = True
        if getattr(err, "shape_deps", ()) and not self._by_shape:
            self._by_shape = new = True
        return new

    def _select(self, feeds: dict[str, np.ndarray]) -> tuple[OnnxImport, CompiledStage]:
        absent = {n for n, v in feeds.items() if v is None}
        self._by_value |= absent
        if self._generic is not None and not absent:
            imp = self._generic[0]
            changed = [n for n in imp.folded if n in feeds and not np.array_equal(
                feeds[n], self._defaults[n])]
            if not changed:
                return self._generic
            self._by_value |= set(imp.folded)
        while True:
            key = self._key(feeds)
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            try:
                shapes = {n: _shape_of(feeds[n]) for n in self.input_names} \
                    if self._by_shape else {}
                static = {n: self._value(n, feeds) for n in self._by_value}
                compiled = self._compile(
                    import_model(self._loaded, input_shapes=shapes, static_inputs=static)
                )
            except StaticValueError as err:
                if not self._learn(err):
                    if self._by_value >= set(self.input_names) and self._by_shape:
                        raise
                    self._by_value |= set(self.input_names)
                    self._by_shape = True
                continue
            self._cache[key] = compiled
            if len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return compiled

    def _value(self, name: str, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return feeds[name] if name in feeds else self.defaults[name]

    def _key(self, feeds: dict[str, np.ndarray]) -> tuple:
        shapes = tuple(
            str(_shape_of(feeds[n])) for n in self.input_names) if self._by_shape else ()
        values = tuple((n, _bytes_of(self._value(n, feeds))) for n in sorted(self._by_value))
        return shapes, values


def _shape_of(v: Any) -> Any:
    """What a graph is specialized on for an input: its shape, the shapes of a sequence's
    items, or "absent" for an optional without a value."""
    if v is None:
        return "absent"
    if isinstance(v, list):
        return [a.shape for a in v]
    return v.shape


def _bytes_of(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, list):
        return tuple(_bytes_of(a) for a in v)
    return v.dtype.str, v.shape, v.tobytes()
