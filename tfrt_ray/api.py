"""The public API, gathered in one place; `tfrt_ray` exposes it (lazily) as ``tr.*``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tfrt_ray import errors
from tfrt_ray.cluster.session import init, shutdown
from tfrt_ray.frontends.api import OPS, tensor
from tfrt_ray.frontends.compile import compile, load
from tfrt_ray.frontends.context import device
from tfrt_ray.frontends.tensor import Tensor
from tfrt_ray.frontends.tracing import Function
from tfrt_ray.ir import Graph, TensorType, parse_graph
from tfrt_ray.runtime.program import Program, Step


def load_cluster_config(path: Any) -> Any:
    """Reads and validates a cluster config (YAML); errors name the file, line and field.
    ``.to_cluster_spec()`` gives the scheduler's view of it."""
    from tfrt_ray.cluster.config import load_cluster_config as _load

    return _load(path)


def load_onnx(model: Any, *, base_dir: Any = None, dims: Any = None, opt_level: int = 2) -> Any:
    """Loads an ONNX model (a path, bytes or ModelProto) as a program:
    ``prog.run({"input": x}) -> dict``, compiled at ``opt_level`` (default 2: the passes
    and fusions). ``tr.compile(prog)`` places it on devices. ``dims={"seq": 128}`` fixes
    the named symbolic input dims."""
    from tfrt_ray.frontends.onnx import load_onnx as _load_onnx

    return _load_onnx(model, base_dir=base_dir, dims=dims, opt_level=opt_level)


def function(fn: Callable | None = None, *, name: str | None = None, opt_level: int = 2) -> Any:
    """Decorator: trace ``fn`` into a graph once per input signature, then run it compiled.

    Python control flow runs at trace time; non-tensor arguments (numbers, strings,
    tuples) are part of the signature. ``fn.lower(*args)`` returns the traced graph;
    ``opt_level`` picks the compiler passes run before it executes (0: none, 1: cleanup,
    2: also batch-norm folding and fusion).

    Example:
        >>> @tr.function
        ... def mlp(x, w1, w2):
        ...     return tr.relu(x @ w1) @ w2
    """
    if fn is None:
        return lambda f: Function(f, name=name, opt_level=opt_level)
    return Function(fn, name=name, opt_level=opt_level)


PUBLIC: dict[str, Any] = {
    "errors": errors,
    "compile": compile,
    "load": load,
    "load_onnx": load_onnx,
    "load_cluster_config": load_cluster_config,
    "device": device,
    "init": init,
    "shutdown": shutdown,
    "Program": Program,
    "Step": Step,
    "Function": Function,
    "Graph": Graph,
    "Tensor": Tensor,
    "TensorType": TensorType,
    "function": function,
    "parse_graph": parse_graph,
    "tensor": tensor,
    **OPS,
}
