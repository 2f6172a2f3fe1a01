"""`@tfrt_ray.function`: trace a Python function into a graph once per input signature.

The signature is the structure of the arguments, the shape and dtype of each tensor in
it, and the value of every other argument (Python numbers, strings, None, tuples of
those), as in ``tf.function``. Python control flow runs at trace time. Later calls with
the same signature go straight to the compiled schedule: no tracing, no graph work.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from tfrt_ray.errors import IRError, OpAttributeError, TfrtRayError
from tfrt_ray.frontends.context import state, tracing
from tfrt_ray.frontends.dispatch import HOST, to_value
from tfrt_ray.frontends.tensor import _SCALARS, Tensor, failed, ready, symbolic
from tfrt_ray.ir.graph import Graph, GraphBuilder
from tfrt_ray.ir.location import user_location
from tfrt_ray.ir.types import TensorType

_LEAF = "T"


class Tracer:
    """Records ops applied to symbolic tensors into a `GraphBuilder`."""

    def __init__(self, name: str) -> None:
        self.builder = GraphBuilder(name)
        self._captured: dict[int, tuple[Any, int]] = {}
        self.hints: dict[str, str] = {}  # node name -> device id, from `tr.device` blocks

    def input(self, t: TensorType, name: str) -> Tensor:
        return symbolic(self, self.builder.add_input(t, name), t)

    def value_id(self, x: Any, peers: list) -> int:
        if type(x) is Tensor:
            if x._symbol is not None:
                tracer, vid = x._symbol
                if tracer is not self:
                    raise escaped_error(x)
                return vid
            key = id(x)
            if key not in self._captured:  # an eager tensor from outside: its value now
                self._captured[key] = (x, self.constant(to_value(x)))
            return self._captured[key][1]
        if x is None:
            raise OpAttributeError(
                "an optional input is None but a later input is given",
                hint="pass every input before the last one you give",
            )
        if type(x) in _SCALARS:
            x = np.asarray(x, dtype=np.result_type(*peers, x) if peers else None)
        return self.constant(np.asarray(x))

    def constant(self, value: Any) -> int:
        if isinstance(value, TfrtRayError):
            raise value
        (vid,) = self.builder.add_node("constant", [], {"value": np.asarray(value)},
                                       loc=user_location())
        return vid

    def apply(self, op: str, inputs: list, attrs: dict):
        peers = [x.dtype for x in inputs if isinstance(x, (Tensor, np.ndarray))]
        ids = [self.value_id(x, peers) for x in inputs]
        outs = self.builder.add_node(op, ids, attrs, loc=user_location())
        if state.device is not None:
            self.hints[self.builder.nodes[-1].name] = state.device.device_id
        tensors = [symbolic(self, v, self.builder.types[v]) for v in outs]
        return tensors[0] if len(tensors) == 1 else tuple(tensors)


def branch_error(t: Tensor) -> TfrtRayError:
    return IRError(
        f"cannot use the value of a traced tensor ({t.type}) as a Python bool",
        loc=user_location(),
        hint="Python control flow runs once, at trace time: branch on Python values, "
        "or compute both sides and pick with tr.where(cond, a, b)",
    )


def escaped_error(t: Tensor) -> TfrtRayError:
    if state.tracer is not None and t._symbol[0] is state.tracer:
        return IRError(
            f"a traced tensor ({t.type}) has no value at trace time: .numpy(), float(), "
            "int() and bool() cannot read it inside a tr.function",
            loc=user_location(),
            hint="compute the value outside the function, or return the tensor and read "
            "the returned value",
        )
    return IRError(
        f"a tensor traced inside a tr.function ({t.type}) was used outside of it",
        loc=user_location(),
        hint="return the tensor from the function, and use the returned value",
    )


# ---- signatures --------------------------------------------------------------------


def flatten(obj: Any, key: list, leaves: list) -> None:
    """Appends obj's signature to ``key`` and its tensors to ``leaves``."""
    t = type(obj)
    if t is Tensor or t is np.ndarray:
        leaves.append(obj)
        key.append((_LEAF, obj.shape, obj.dtype))
    elif t in _SCALARS or obj is None or t is str:
        key.append((t, obj))
    elif t is tuple or t is list:
        key.append((t, len(obj)))
        for x in obj:
            flatten(x, key, leaves)
    elif t is dict:
        key.append((dict, tuple(sorted(obj))))
        for k in sorted(obj):
            flatten(obj[k], key, leaves)
    elif isinstance(obj, np.generic):
        key.append((t, obj.item()))
    else:
        raise TypeError(
            f"tr.function arguments must be tensors, arrays, Python scalars, strings, None, "
            f"or tuples/lists/dicts of those; got {t.__name__}"
        )


def unflatten(obj: Any, leaves: list, pos: list) -> Any:
    """Rebuilds obj's structure with its tensors replaced by ``leaves`` in order."""
    t = type(obj)
    if t is Tensor or t is np.ndarray:
        pos[0] += 1
        return leaves[pos[0] - 1]
    if t is tuple or t is list:
        return t(unflatten(x, leaves, pos) for x in obj)
    if t is dict:
        return {k: unflatten(obj[k], leaves, pos) for k in sorted(obj)}
    return obj


# ---- functions ----------------------------------------------------------------------


class Traced:
    """One traced signature: its graph, compiled schedule and output structure."""

    def __init__(
        self, graph: Graph, optimized: Graph, stage, out_template: Any, out_types, hints=None
    ) -> None:
        self.graph = graph  # as traced
        self.optimized = optimized  # what runs
        self.hints = hints or {}
        self.stage = stage
        self.out_template = out_template
        self.out_types = out_types
        self.single = type(out_template) is Tensor

    def __call__(self, leaves: list):
        values = [to_value(x) for x in leaves]
        outs = self.stage.run(values)
        tensors = [
            failed(v, t) if isinstance(v, TfrtRayError) else ready(v)
            for v, t in zip(outs, self.out_types)
        ]
        if self.single:
            return tensors[0]
        return unflatten(self.out_template, tensors, [0])


class Function:
    """A Python function traced into a graph per input signature. See `tfrt_ray.function`."""

    def __init__(self, fn: Callable, name: str | None = None, opt_level: int = 2) -> None:
        functools.update_wrapper(self, fn)
        self.python_function = fn
        self.name = name or getattr(fn, "__name__", "function")
        self.opt_level = opt_level
        self._signature = inspect.signature(fn)
        self._cache: dict[tuple, Traced] = {}

    @property
    def trace_count(self) -> int:
        """How many signatures have been traced."""
        return len(self._cache)

    def __call__(self, *args: Any, **kwargs: Any):
        if state.tracer is not None:  # called while tracing another function: inline it
            return self.python_function(*args, **kwargs)
        if kwargs:
            args = self._positional(args, kwargs)
        key: list = []
        leaves: list = []
        flatten(args, key, leaves)
        key_t = tuple(key)
        traced = self._cache.get(key_t)
        if traced is None:
            traced = self._cache[key_t] = self._trace(args)
        return traced(leaves)

    def lower(self, *args: Any, **kwargs: Any) -> Graph:
        """The graph for these arguments (traced now if this signature is new)."""
        return self.lower_with_hints(*args, **kwargs)[0]

    def lower_with_hints(self, *args: Any, **kwargs: Any) -> tuple[Graph, dict[str, str]]:
        """The graph, and the device each op was asked for (``tr.device`` blocks)."""
        if kwargs:
            args = self._positional(args, kwargs)
        key: list = []
        flatten(args, key, [])
        key_t = tuple(key)
        if key_t not in self._cache:
            self._cache[key_t] = self._trace(args)
        traced = self._cache[key_t]
        return traced.graph, traced.hints

    def _positional(self, args: tuple, kwargs: dict) -> tuple:
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return tuple(bound.arguments.values())

    def _trace(self, args: tuple) -> Traced:
        from tfrt_ray.core.device_types import compile_stage
        from tfrt_ray.passes import optimize

        graph, out_template, hints = trace_graph(
            self.python_function, args, self.name, self._signature
        )
        optimized = optimize(graph, level=self.opt_level)
        # The host's CPU stage; its independent ops may use every core of the process.
        stage = compile_stage(
            optimized.nodes, optimized.types, optimized.inputs, optimized.outputs, "cpu", HOST,
            cores=os.cpu_count() or 1,
        )
        out_types = tuple(graph.types[v] for v in graph.outputs)
        return Traced(graph, optimized, stage, out_template, out_types, hints)


def trace_graph(fn: Callable, args: tuple, name: str, signature=None) -> tuple[Graph, Any, dict]:
    """Traces ``fn(*args)``; returns the graph, the output structure (tensors as
    placeholders, in the order of the graph's outputs) and the device hints."""
    tracer = Tracer(name)
    params = list(signature.parameters) if signature is not None else []
    leaves: list = []
    flatten(args, [], leaves)
    names = _input_names(args, params)
    inputs = [
        tracer.input(x.type if type(x) is Tensor else TensorType.of(x), n)
        for x, n in zip(leaves, names)
    ]
    sym_args = unflatten(args, inputs, [0])
    with tracing(tracer):
        result = fn(*sym_args)
    out_leaves: list = []
    flatten(result, [], out_leaves)
    out_ids = [tracer.value_id(x, []) for x in out_leaves]
    graph = tracer.builder.build(out_ids)
    placeholder = ready(np.zeros(()))
    template = unflatten(result, [placeholder] * len(out_leaves), [0])
    return graph, template, tracer.hints


def _input_names(args: tuple, params: list) -> list[str]:
    names = []
    for i, arg in enumerate(args):
        base = params[i] if i < len(params) else f"arg{i}"
        count: list = []
        flatten(arg, [], count)
        names += [base] if len(count) == 1 and type(arg) in (Tensor, np.ndarray) else [
            f"{base}_{j}" for j in range(len(count))
        ]
    return names
