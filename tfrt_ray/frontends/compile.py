"""`tfrt_ray.compile`: a function (or graph) -> a `Program` on the session's devices.

front end (trace) -> Graph -> scheduler.plan (place, partition, strategy) -> Program
(load each stage on its device once). For pipeline and replicate plans the function is
traced again at the slice's batch size, so shapes written into the graph (a reshape's
target, say) are right for the slices the devices run.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scheduler import plan as make_plan
from scheduler.batching import batch_split
from tfrt_ray.cluster.session import current
from tfrt_ray.core.device_types import supports
from tfrt_ray.errors import PlacementError
from tfrt_ray.frontends.tensor import Tensor, as_tensors
from tfrt_ray.frontends.tracing import Function
from tfrt_ray.ir.graph import Graph
from tfrt_ray.passes import optimize
from tfrt_ray.runtime.program import Program

log = logging.getLogger("tfrt_ray.compile")


def compile(  # noqa: A001 - the public name the issue asks for
    fn: Callable | Function | Graph,
    example_args: Sequence[Any] = (),
    *,
    strategy: str = "auto",
    micro_batches: int | None = None,
    devices: Sequence[str] | None = None,
    opt_level: int = 2,
) -> Program:
    """Compiles ``fn`` for the current session's devices (see `tfrt_ray.init`).

    Args:
        fn: a ``@tr.function``, a plain Python function of tensors, or a Graph.
        example_args: arguments whose shapes and dtypes the program is compiled for.
            Eager tensors the function captures (weights) are loaded onto devices once.
        strategy: ``"auto"``, ``"place"`` (cost-model placement honouring
            ``tr.device`` hints), ``"pipeline"`` (GPipe micro-batches) or ``"replicate"``.
        micro_batches: for pipeline plans (default: twice the devices).
        devices: restrict the program to these device ids.
        opt_level: compiler passes (0: none, 1: cleanup, 2: also fusion). With
            ``tr.device`` hints fusion is skipped: it renames the nodes hints name.
    """
    session = current()
    traced, hints, lower = _lowering(fn, tuple(example_args))
    level = min(opt_level, 1) if hints else opt_level
    graph = optimize(traced, level=level)
    spec = session.cluster_spec()
    if devices is not None:
        unknown = sorted(set(devices) - set(spec.ids))
        if unknown:
            raise PlacementError(
                f"unknown devices {unknown}", hint=f"the devices are {list(spec.ids)}"
            )
        spec = dataclasses.replace(spec, devices=tuple(spec.device(d) for d in devices))
    split = batch_split(graph)
    plan = make_plan(
        graph, spec, strategy, hints=hints or None, supports=supports,
        micro_batches=micro_batches, batch_axis_ok=split is not None,
    )
    slices = max(plan.micro_batches, len(plan.replicas) or 1)
    if slices > 1:
        plan = _plan_slices(plan, graph, split, slices, lower, spec, level)
    log.info("compiled %s: %s", graph.name, plan)
    return Program(plan, session.devices, full_graph=graph, as_tensors=as_tensors)


def _plan_slices(plan, graph: Graph, split, slices: int, lower, spec, level: int):
    batch, batched = split
    if lower is None and not plan.replicas:  # a bare graph: pipeline whole steps instead
        note = "graph has no function to re-trace per micro-batch: pipelining whole steps"
        return dataclasses.replace(plan, micro_batches=1, notes=plan.notes + (note,))
    if lower is None:
        raise PlacementError(
            f"'{plan.strategy}' needs the program at the slice's batch size",
            hint="compile a Python function (it is traced again per slice), or use 'place'",
        )
    fit = max(d for d in range(1, slices + 1) if batch % d == 0)
    if fit < slices:  # equal slices only: fewer replicas / micro-batches
        note = f"batch {batch} splits evenly into {fit}, not {slices}: using {fit}"
        plan = dataclasses.replace(
            plan,
            replicas=plan.replicas[:fit] if plan.replicas else (),
            micro_batches=1 if plan.replicas else fit,
            notes=plan.notes + (note,),
        )
        slices = fit
    if slices == 1:
        return plan
    index = {v: i for i, v in enumerate(graph.inputs)}
    small_graph, _ = lower(batched_positions={index[v] for v in batched}, size=batch // slices)
    small_graph = optimize(small_graph, level=level)
    if plan.replicas:
        one = dataclasses.replace(spec, devices=(spec.device(plan.replicas[0]),))
        small = make_plan(small_graph, one, "place", supports=supports)
        return dataclasses.replace(small, strategy="replicate", replicas=plan.replicas,
                                   notes=plan.notes, predicted_step_s=plan.predicted_step_s)
    devices = dataclasses.replace(spec, devices=tuple(spec.device(d) for d in plan.devices))
    small = make_plan(small_graph, devices, "pipeline", supports=supports, micro_batches=1)
    return dataclasses.replace(small, micro_batches=plan.micro_batches, notes=plan.notes,
                               predicted_step_s=plan.predicted_step_s)


def _lowering(fn, args: tuple):
    """(graph, device hints, relower) where relower(batched_positions, size) traces the
    function again with those inputs cut to ``size`` rows."""
    if isinstance(fn, Graph):
        return fn, {}, None
    if type(fn).__name__ == "OnnxProgram":  # an imported ONNX model
        from tfrt_ray.frontends.onnx.importer import import_model

        # Optional overrides (initializers the model also lists as inputs) are folded to
        # their defaults: the compiled program takes the model's real inputs only.
        shapes = {n: np.asarray(a).shape for n, a in zip(fn.input_names, args)} if args else {}
        imp = import_model(fn._loaded, input_shapes=shapes, static_inputs=dict(fn.defaults))
        return imp.graph, {}, None
    function = fn if isinstance(fn, Function) else Function(fn)
    graph, hints = function.lower_with_hints(*args)

    def relower(batched_positions: set[int], size: int):
        leaves_seen = [0]

        def cut(x):
            if isinstance(x, (Tensor, np.ndarray)):
                i = leaves_seen[0]
                leaves_seen[0] += 1
                if i in batched_positions:
                    return np.asarray(x)[:size]
            return x

        return function.lower_with_hints(*_map_leaves(args, cut))

    return graph, hints, relower


def _map_leaves(obj, fn):
    if isinstance(obj, (tuple, list)):
        return type(obj)(_map_leaves(x, fn) for x in obj)
    if isinstance(obj, dict):
        return {k: _map_leaves(obj[k], fn) for k in sorted(obj)}
    return fn(obj)


def load(path: str, *, strategy: str | None = None, verify_weights: bool = True) -> Program:
    """Loads an executable written by `Program.save` (or ``tfrt-ray compile``) onto the
    current session's devices. Its stored plan is used when its devices exist here;
    otherwise the graph is placed again (``strategy``, default: the one it was saved with).
    """
    from scheduler import Plan
    from tfrt_ray.executable import read_executable

    exe = read_executable(path, verify_weights=verify_weights)
    session = current()
    if exe.plan_dict is not None and strategy is None:
        plan = Plan.from_dict(exe.plan_dict, graph=exe.graph)
        if set(plan.devices) | set(plan.replicas) <= set(session.devices):
            return Program(plan, session.devices, full_graph=exe.graph, as_tensors=as_tensors)
    chosen = strategy or exe.metadata.get("strategy", "auto")
    return compile(exe.graph, strategy=chosen if chosen in ("auto", "place") else "auto",
                   opt_level=0)
