"""Model files for the command line: an ONNX model or a compiled ``.tfrt`` executable,
loaded as one graph the session can compile.

- ``.onnx``: imported with its optional inputs (initializers also listed as graph inputs)
  folded to their defaults, so the graph takes exactly the model's required inputs. A
  model whose shapes depend on input values cannot be one graph; it runs through
  `OnnxProgram` on the host instead (``Model.onnx_program``).
- ``.tfrt``: read with `tfrt_ray.executable.read_executable`.

Pieces written alongside this one (the executable format, the pass pipeline, device
plugins) are imported on first use; a missing one is a clear error, not an ImportError.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tfrt_ray.errors import (
    InputError,
    ModelLoadError,
    PlacementError,
    StaticValueError,
    TfrtRayError,
)
from tfrt_ray.ir.graph import Graph

STRATEGIES = ("auto", "place", "pipeline", "replicate")


def optional(module: str, name: str, feature: str) -> Any:
    """``module.name``, or a `TfrtRayError` saying the feature is not available yet."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise TfrtRayError(
            f"{feature} is not available yet ({module}.{name} cannot be imported: {exc})",
            hint="update tfrt-ray; this part of it is still being written",
        ) from None


def has(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass
class Model:
    """A loaded model file.

    Attributes:
        path: the file.
        kind: ``"onnx"`` or ``"tfrt"``.
        graph: the graph to compile, or None when only ``onnx_program`` can run it.
        onnx_program: the ONNX fallback runner (per input signature, host only).
        metadata: a ``.tfrt`` file's metadata.
        executable: the loaded ``.tfrt`` file (its stored plan: ``executable.plan()``).
    """

    path: Path
    kind: str
    graph: Graph | None = None
    onnx_program: Any = None
    metadata: dict = field(default_factory=dict)
    executable: Any = None
    dims: dict = field(default_factory=dict)

    @property
    def input_names(self) -> tuple[str, ...]:
        src = self.graph if self.graph is not None else self.onnx_program
        return tuple(src.input_names)

    @property
    def output_names(self) -> tuple[str, ...]:
        src = self.graph if self.graph is not None else self.onnx_program
        return tuple(src.output_names)


def model_kind(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in (".onnx", ".tfrt"):
        return suffix[1:]
    raise ModelLoadError(
        f"'{path}' is neither an ONNX model (.onnx) nor a compiled executable (.tfrt)",
        hint="give a .onnx file, or one written by `tfrt-ray compile`",
    )


def load_model(path: str | Path, input_shapes: dict[str, tuple] | None = None,
               dims: dict[str, int] | None = None, batch: int | None = None,
               opt_level: int = 2) -> Model:
    """Loads ``path``; ``input_shapes`` re-declares ONNX input shapes (a batch size);
    ``opt_level`` is for a model only `OnnxProgram` runs (the others are optimized by the
    caller, once their shapes are known)."""
    path = Path(path)
    kind = model_kind(path)
    if not path.is_file():
        raise ModelLoadError(f"model file '{path}' does not exist",
                             hint="check the path")
    if kind == "tfrt":
        read_executable = optional("tfrt_ray.executable", "read_executable",
                                   "reading .tfrt executables")
        exe = read_executable(path)
        return Model(path, kind, graph=exe.graph, metadata=dict(exe.metadata or {}),
                     executable=exe)
    from tfrt_ray.frontends.onnx.importer import import_model, initializer_inputs
    from tfrt_ray.frontends.onnx.loader import fix_dims, read_model

    loaded = read_model(path)
    if dims or batch:
        dims = _with_batch(loaded.proto, dict(dims or {}), batch)
        fix_dims(loaded.proto, dims)
    defaults = initializer_inputs(loaded)
    try:
        imp = import_model(loaded, input_shapes=input_shapes or None, static_inputs=defaults)
    except StaticValueError:
        from tfrt_ray.frontends.onnx import load_onnx

        program = load_onnx(path, dims=dims, opt_level=opt_level)
        return Model(path, kind, onnx_program=program, dims=dict(dims or {}))
    return Model(path, kind, graph=imp.graph, dims=dict(dims or {}))


def _with_batch(proto: Any, dims: dict[str, int], batch: int | None) -> dict[str, int]:
    """``dims`` plus the symbolic axis-0 dims of the inputs set to ``batch`` (which must
    agree with a ``--dim`` given for them)."""
    if not batch:
        return dims
    for i in proto.graph.input:
        t = i.type.tensor_type if i.type.HasField("tensor_type") else None
        if t is None or not t.HasField("shape") or not t.shape.dim:
            continue
        name = t.shape.dim[0].dim_param
        if not name:
            continue
        if dims.get(name, batch) != batch:
            raise InputError(f"--dim {name}={dims[name]} disagrees with --batch-size {batch} "
                             f"(axis 0 of input '{i.name}')",
                             hint="drop that --dim (the batch comes from --batch-size), or "
                             "make them agree")
        dims[name] = batch
    return dims


def parse_dims(specs: Sequence[str] | None) -> dict[str, int]:
    """``["seq=128", ...]`` (repeated ``--dim``) -> ``{"seq": 128}``; InputError if malformed."""
    out: dict[str, int] = {}
    for spec in specs or ():
        name, eq, value = spec.partition("=")
        name = name.strip()
        try:
            size = int(value)
        except ValueError:
            size = 0
        if not eq or not name or size < 1:
            raise InputError(f"--dim {spec!r} is not NAME=SIZE with a positive SIZE",
                             hint="pass e.g. --dim seq=128 (repeat it for each dim)")
        if name in out and out[name] != size:
            raise InputError(f"--dim {name} is given twice, as {out[name]} and {size}",
                             hint="pass each dim once")
        out[name] = size
    return out


def batch_dims(graph: Graph) -> dict[str, Any]:
    """Input name -> its leading dim (int, or a symbol name), for inputs of rank >= 1."""
    out = {}
    for name, v in zip(graph.input_names, graph.inputs, strict=True):
        shape = graph.types[v].shape
        if shape:
            out[name] = shape[0]
    return out


def graph_for_batch(model: Model, batch: int | None) -> tuple[Graph, int]:
    """The model's graph with its batch dim (axis 0 of every input) set; returns the graph
    and the batch size it takes. A fixed batch dim wins over ``batch`` only if they agree.
    """
    if batch is not None and batch < 1:
        raise InputError(f"--batch-size {batch} is not a positive number of rows",
                         hint="pass --batch-size 1 or more (omit it for the model's "
                         "fixed batch size, else 256)")
    graph = model.graph
    if graph is None:
        raise ModelLoadError(
            f"'{model.path}' computes shapes from its input values, so it cannot be compiled "
            "to one program for batch inference",
            hint="fix its symbolic dims with --dim NAME=SIZE (e.g. --dim seq=128), export "
            "the model with static shapes, or run it with .npz inputs",
        )
    dims = batch_dims(graph)
    if not dims:
        raise ModelLoadError(f"'{model.path}' has no input with a batch dimension",
                             hint="batch inference needs inputs of shape (batch, ...)")
    fixed = {d for d in dims.values() if type(d) is int}
    if len(fixed) > 1:
        raise ModelLoadError(
            f"the inputs of '{model.path}' disagree on the batch size: {sorted(fixed)}",
            hint="every input must have the batch as its first dimension",
        )
    if fixed:
        (size,) = fixed
        if batch is not None and batch != size and model.dims:
            raise InputError(f"--batch-size {batch} disagrees with the batch dim fixed to "
                             f"{size} (by --dim or the model)",
                             hint="drop the --dim for the batch axis, or make them agree")
        if batch is not None and batch != size:
            raise ModelLoadError(
                f"'{model.path}' was built for batches of {size} rows, not {batch}",
                hint=f"use --batch-size {size}, or export/compile the model with a symbolic "
                "(or different) batch dimension",
            )
        return graph, size
    size = batch or 256
    if model.kind == "onnx":
        shapes = {n: (size, *graph.types[v].shape[1:])
                  for n, v in zip(graph.input_names, graph.inputs, strict=True)
                  if graph.types[v].shape}
        fixed = load_model(model.path, input_shapes=shapes, dims=model.dims).graph
        if fixed is None:
            raise ModelLoadError(f"'{model.path}' cannot be compiled for batches of {size}",
                                 hint="export the model with static shapes")
        return fixed, size
    return graph, size  # a .tfrt with a symbolic batch: the host runs any size


def optimize_graph(graph: Graph, level: int, print_ir: bool = False,
                   explicit: bool = False) -> Graph:
    """Runs the pass pipeline at ``level`` (0: none) when it is installed."""
    if level <= 0 and not print_ir:
        return graph
    if not has("tfrt_ray.passes", "optimize"):
        if explicit:
            warn("the pass pipeline (tfrt_ray.passes) is not available yet; "
                 "using the graph unoptimized")
        return graph
    optimize = optional("tfrt_ray.passes", "optimize", "the pass pipeline")
    return optimize(graph, level=level, print_ir_after_all=print_ir)


def program_for(model: Model, graph: Graph, strategy: str | None):
    """The program to run ``graph`` with: a ``.tfrt`` file's stored plan when no strategy
    is asked for and the plan's devices are all in this session; else a fresh compile."""
    from tfrt_ray.cluster.session import current
    from tfrt_ray.runtime.program import Program

    exe = model.executable
    if strategy is None and exe is not None and graph is model.graph:
        try:
            plan = exe.plan()
        except TfrtRayError as err:
            warn(f"the stored plan cannot be used ({err.message}); compiling a new plan")
            plan = None
        session = current()
        if plan is not None and set(plan.devices) | set(plan.replicas) <= set(session.devices):
            return Program(plan, session.devices, full_graph=graph)
        if plan is not None:
            warn(f"the stored plan uses devices {list(plan.devices)}, which this session "
                 f"lacks ({sorted(session.devices)}); compiling a new plan")
    return compile_graph(graph, strategy or "auto")


def compile_graph(graph: Graph, strategy: str, devices: Sequence[str] | None = None):
    """`tr.compile` on the current session; pipeline/replicate fall back to "place" (with a
    warning) when the plan needs the graph re-derived per slice, which a graph can't be."""
    import tfrt_ray as tr

    try:
        return tr.compile(graph, strategy=strategy, devices=devices)
    except PlacementError as err:
        if strategy not in ("pipeline", "replicate"):
            raise
        warn(f"strategy '{strategy}' is not available for this model ({err.message}); "
             "using 'place'")
        return tr.compile(graph, strategy="place", devices=devices)


class DeviceSession:
    """``with DeviceSession(n):`` -- ``n`` device actors on a local Ray (or the host device
    only when ``n`` is None), shut down on exit."""

    def __init__(self, devices: int | None) -> None:
        self.devices = devices

    def __enter__(self):
        import tfrt_ray as tr

        if self.devices is not None and self.devices < 1:
            raise PlacementError(f"--devices must be at least 1, got {self.devices}",
                                 hint="leave --devices out to run in-process")
        return tr.init(devices=self.devices) if self.devices else tr.init()

    def __exit__(self, *exc: object) -> None:
        import tfrt_ray as tr

        tr.shutdown()


def opt_level(args, model) -> int:
    """-O, by default 2 for ONNX models and 0 for .tfrt files (optimized when compiled)."""
    if args.opt_level is not None:
        return args.opt_level
    return 0 if model.kind == "tfrt" else 2
