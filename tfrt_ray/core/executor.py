"""Compiled stages: a subgraph lowered to a flat schedule of kernel calls.

Compile once, run many: all graph work (kernel lookup, attribute binding, slot
assignment, constant evaluation, buffer lifetimes) happens in `CompiledStage.__init__`,
and a device type's stage passes may then rewrite the steps (the CPU's: oneDNN layouts
and memory planning; see `tfrt_ray.core.device_types.compile_stage`). The per-call path
is a loop over `Step` records reading and writing a flat list of slots; on one core that
loop costs about as much as the same NumPy calls written by hand.

Errors are values: when a kernel raises, the stage re-runs on the checked path, where
each failed op's outputs hold the error (an `OpExecutionError` naming op, node, device
and the user's line) and only ops that depend on it are skipped. Kernels are pure, so
re-running them is safe.

With more than one core and enough independent heavy work, ops run on a thread pool as
soon as their inputs are ready (`tfrt_ray.core.concurrent`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from enum import IntEnum
from typing import Any, NamedTuple

import numpy as np

from tfrt_ray.core.kernels import get_kernel
from tfrt_ray.errors import OpExecutionError, TfrtRayError
from tfrt_ray.ir.graph import Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType


class StepKind(IntEnum):
    """What a `Step` does with its slots ``a``, ``b``, ``c`` (``env`` is the slot list)."""

    UNARY = 1  # env[b] = fn(env[a])
    BINARY = 2  # env[c] = fn(env[a], env[b])
    GENERAL = 3  # env[b] = fn(*env[i] for i in a)
    MULTI = 4  # env[b[k]] = fn(*env[i] for i in a)[k]
    FREE = 5  # env[i] = None for i in a (drops a value after its last use)


UNARY, BINARY, GENERAL, MULTI, FREE = StepKind


class Step(NamedTuple):
    """One record of a stage's schedule (`StepKind` says how ``a``, ``b``, ``c`` are read)."""

    kind: StepKind
    fn: Callable | None
    a: Any
    b: Any
    c: Any

# Values at least this large are dropped after their last use inside a stage.
FREE_BYTES = 1 << 16
# Ops at least this heavy are worth a thread hand-off (~10-20 us).
PARALLEL_FLOPS = 2e6


def step_reads(step: Step) -> tuple[int, ...]:
    """The slots a step reads (a FREE step reads none)."""
    kind, _, a, b, _ = step
    if kind == UNARY:
        return (a,)
    if kind == BINARY:
        return (a, b)
    return () if kind == FREE else tuple(a)


def step_writes(step: Step) -> tuple[int, ...]:
    """The slots a step writes."""
    kind, _, _, b, c = step
    if kind == BINARY:
        return (c,)
    if kind == MULTI:
        return tuple(b)
    return () if kind == FREE else (b,)


def kernel_has(fn: Callable, flag: str) -> bool:
    """Whether a step's kernel is a NumPy ufunc (which takes ``out=``, may write over an
    input of its own shape, and returns a new array) or is marked with ``flag``
    (``takes_out``, ``elementwise_out``, ``fresh_output``)."""
    base = fn.func if isinstance(fn, functools.partial) else fn
    return isinstance(base, np.ufunc) or getattr(base, flag, False)


class CompiledStage:
    """A list of nodes compiled for one device type.

    Args:
        nodes: the nodes, in a topological order.
        types: value id -> TensorType, for the whole graph the nodes come from.
        inputs: value ids the stage receives, in the order `run` takes them.
        outputs: value ids the stage returns, in that order.
        device_type: whose kernels to use ("cpu").
        device_id: named in errors.
        cores: threads the stage may use for independent ops.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        types: Sequence[TensorType],
        inputs: Sequence[int],
        outputs: Sequence[int],
        device_type: str = "cpu",
        device_id: str = "host:0",
        cores: int = 1,
    ) -> None:
        self.nodes = tuple(nodes)
        self.device_id = device_id
        self.input_ids = tuple(inputs)
        self.output_ids = tuple(outputs)
        slot: dict[int, int] = {v: i for i, v in enumerate(self.input_ids)}
        for n in self.nodes:
            for v in n.outputs:
                slot[v] = len(slot)
        missing = [v for n in self.nodes for v in n.inputs if v not in slot]
        missing += [v for v in self.output_ids if v not in slot]
        if missing:
            raise TfrtRayError(
                f"stage reads values {sorted(set(missing))} that it neither receives nor computes",
                device=device_id,
                hint="this is a partitioner bug; please report it with the graph's text",
            )
        self.slot = slot
        self.n_inputs = len(self.input_ids)
        self.out_slots = tuple(slot[v] for v in self.output_ids)
        self.result_slots = self.out_slots  # where `steps` leave the outputs (lowering)
        self.nhwc_slots: frozenset[int] = frozenset()  # slots holding NHWC values (lowering)
        self.out_types = tuple(types[v] for v in self.output_ids)
        self._producers: dict[int, int | None] = {}
        self.kernels = [self._bind(n, device_type) for n in self.nodes]
        self.template: list = [None] * len(slot)
        self.steps: list[Step] = []
        self.step_nodes: list[Node | None] = []
        self._lower(types)
        self.concurrent = None
        if cores > 1:
            from tfrt_ray.core.concurrent import ConcurrentSchedule, worth_parallel

            if worth_parallel(self.nodes, types):
                self.concurrent = ConcurrentSchedule(self, cores)
        self.cores = cores
        self.before_run: list[Callable[[], None]] = []  # set up by a device's stage passes

    # ---- compile time -------------------------------------------------------------

    @staticmethod
    def _bind(node: Node, device_type: str) -> Callable:
        fn = get_kernel(node.op, device_type)
        return functools.partial(fn, **dict(node.attrs)) if node.attrs else fn

    def _lower(self, types: Sequence[TensorType]) -> None:
        slot = self.slot
        last_use: dict[int, int] = {}
        for i, n in enumerate(self.nodes):
            for v in n.inputs:
                last_use[v] = i
        keep = set(self.output_ids)
        for i, (n, fn) in enumerate(zip(self.nodes, self.kernels)):
            if not n.inputs:  # constants and other input-free ops run once, here
                outs = self._run_node_checked(n, fn, ())
                for v, value in zip(n.outputs, outs):
                    self.template[slot[v]] = value
                continue
            args = tuple(slot[v] for v in n.inputs)
            if len(n.outputs) > 1:
                self.steps.append(Step(MULTI, fn, args, tuple(slot[v] for v in n.outputs), None))
            elif len(args) == 1:
                self.steps.append(Step(UNARY, fn, args[0], slot[n.outputs[0]], None))
            elif len(args) == 2:
                self.steps.append(Step(BINARY, fn, args[0], args[1], slot[n.outputs[0]]))
            else:
                self.steps.append(Step(GENERAL, fn, args, slot[n.outputs[0]], None))
            self.step_nodes.append(n)
            dead = tuple(
                slot[v]
                for v in set(n.inputs)
                if last_use.get(v) == i and v not in keep and types[v].nbytes >= FREE_BYTES
            )
            if dead:
                self.steps.append(Step(FREE, None, dead, None, None))
                self.step_nodes.append(None)

    # ---- run time -----------------------------------------------------------------

    def writes_into(self, position: int) -> bool:
        """Whether the kernel that computes output ``position`` can write it into a
        buffer the caller gives (`run`'s ``into``): NumPy ufuncs (elementwise ops,
        matmul) and kernels that take ``out=``."""
        return self.concurrent is None and self._producer_step(position) is not None

    def _producer_step(self, position: int) -> int | None:
        """The index in ``steps`` of the step that writes output ``position``, if its
        kernel can write into a given buffer."""
        if position in self._producers:
            return self._producers[position]
        target, found = self.result_slots[position], None
        for k in range(len(self.steps) - 1, -1, -1):
            step = self.steps[k]
            if target in step_writes(step):
                if step.kind != MULTI and kernel_has(step.fn, "takes_out"):
                    found = k
                break
        self._producers[position] = found
        return found

    def run(self, inputs: Sequence, into: dict[int, np.ndarray] | None = None) -> list:
        """Runs the stage; returns the output values (an error instance where one failed).

        ``into`` maps output positions (for which `writes_into` holds) to buffers of the
        output's type that their kernels write into, so the result needs no copy to get
        there (a shared-memory block, for one)."""
        if self.concurrent is not None:
            return self.concurrent.run(inputs)
        for prepare in self.before_run:
            prepare()
        steps = self.steps
        if into:
            steps = list(steps)
            for position, buffer in into.items():
                k = self._producer_step(position)
                step = steps[k]
                steps[k] = Step(GENERAL, functools.partial(step.fn, out=buffer), step_reads(step),
                            self.result_slots[position], None)
        try:
            return self._execute(steps, inputs)
        except Exception:  # noqa: BLE001 - any kernel failure becomes an error value
            return self.run_checked(inputs)

    def _execute(self, steps: Sequence[Step], inputs: Sequence) -> list:
        """The step loop; a kernel's exception propagates."""
        env = self.template.copy()
        env[: self.n_inputs] = inputs
        for kind, fn, a, b, c in steps:
            if kind == BINARY:
                env[c] = fn(env[a], env[b])
            elif kind == UNARY:
                env[b] = fn(env[a])
            elif kind == GENERAL:
                env[b] = fn(*[env[i] for i in a])
            elif kind == MULTI:
                for s, value in zip(b, fn(*[env[i] for i in a])):
                    env[s] = value
            else:
                for s in a:
                    env[s] = None
        return [env[s] for s in self.result_slots]

    def run_profiled(self, inputs: Sequence, timings: dict, timeline: list) -> list:
        """`run`, timing each step: adds its seconds to ``timings[node name]`` and appends
        ``(node name, op, start, end)`` to ``timeline`` (layout copies as op "reorder").
        The steps timed are those `run` takes (oneDNN's where the layout chose them); a
        stage that fails, or runs its ops on a thread pool, is timed on the checked path."""
        if self.concurrent is not None:
            return self.run_checked(inputs, timings, timeline)
        for prepare in self.before_run:
            prepare()
        spans: list[tuple] = []

        def timed(fn, name: str, op: str):
            def call(*args):
                t0 = time.time()
                out = fn(*args)
                spans.append((name, op, t0, time.time()))
                return out
            return call

        steps = [
            step if step.kind == FREE else step._replace(fn=timed(step.fn, *(
                (node.name, node.op) if node is not None else ("layout", "reorder"))))
            for step, node in zip(self.steps, self.step_nodes)
        ]
        try:
            outs = self._execute(steps, inputs)
        except Exception:  # noqa: BLE001 - any kernel failure: the checked path says which
            return self.run_checked(inputs, timings, timeline)
        for name, _op, t0, t1 in spans:
            timings[name] = timings.get(name, 0.0) + t1 - t0
        timeline.extend(spans)
        return outs

    def run_checked(
        self, inputs: Sequence, timings: dict | None = None, timeline: list | None = None
    ) -> list:
        """The slow path: per-op error values, skipping only the dependents of a failure.

        With ``timings``, also adds each op's seconds to ``timings[node name]``; with
        ``timeline``, appends ``(node name, op, start, end)`` in wall-clock seconds.
        """
        env = self.template.copy()
        env[: self.n_inputs] = inputs
        for n, fn in zip(self.nodes, self.kernels):
            if not n.inputs:
                continue
            args = [env[self.slot[v]] for v in n.inputs]
            failed = next((a for a in args if isinstance(a, TfrtRayError)), None)
            if failed is not None:
                outs = [failed] * len(n.outputs)  # skipped: carries the upstream error
            else:
                t0 = time.time()
                outs = self._run_node_checked(n, fn, args)
                t1 = time.time()
                if timings is not None:
                    timings[n.name] = timings.get(n.name, 0.0) + t1 - t0
                if timeline is not None:
                    timeline.append((n.name, n.op, t0, t1))
            for v, value in zip(n.outputs, outs):
                env[self.slot[v]] = value
        return [env[s] for s in self.out_slots]

    def _run_node_checked(self, n: Node, fn: Callable, args: Sequence) -> list:
        try:
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001
            return [op_failure(n, exc, args, self.device_id)] * len(n.outputs)
        outs = list(out) if len(n.outputs) > 1 else [out]
        return outs


def op_failure(node: Node, exc: BaseException, args: Sequence, device: str) -> TfrtRayError:
    """The error value of a node whose kernel raised."""
    if isinstance(exc, TfrtRayError):
        return exc.with_context(op=node.op, node=node.name, device=device, loc=node.loc)
    shapes = [
        f"{TensorType.of(np.asarray(a))}" if a is not None else "none" for a in args
    ]
    return OpExecutionError(
        f"kernel raised {type(exc).__name__}: {exc}",
        op=node.op,
        node=node.name,
        device=device,
        loc=node.loc,
        inputs=shapes,
        hint=f"check the inputs against the op's rule: {get_op(node.op).doc.strip()}",
    )
