"""Memory planning for a compiled stage: buffer lifetimes, in-place updates, reuse.

`CompiledStage` lowers its nodes to steps and frees each large value after its last use
(the ``FREE`` steps). `plan_memory` adds the rest, so that a step writes into a buffer that
is already there instead of a new one (saving the allocation and, for large values, the
page faults of fresh memory: a 100 MB copy into new pages costs 1.8x one into warm pages
here):

- in place: an elementwise step whose input dies at that step writes its result over
  that input (the kernel must allow it: a NumPy ufunc, or one marked ``elementwise_out``);
- reuse: a step whose kernel takes ``out=`` writes into the buffer of a value that died
  earlier (the most recently freed one of the same type and layout), which is then kept
  alive from its death until that step instead of being freed.

A value ``v`` may give its buffer only when it is the value's own: ``v`` is neither a
stage input (the caller's array), a constant (shared by every run) nor a stage output,
its producer allocates its result (a ufunc, or a kernel marked ``fresh_output``), and
every step that reads ``v`` also allocates its own, so no view of ``v`` outlives it.
Stage outputs never take a planned buffer (they may be asked to write into the
caller's, see ``CompiledStage.run``).

Memory planning is the device's decision, made when it compiles the stage: it depends on
which kernels can write in place, a property of the device's kernel set.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from tfrt_ray.core.executor import (
    BINARY,
    FREE,
    FREE_BYTES,
    GENERAL,
    MULTI,
    UNARY,
    Step,
    kernel_has,
    step_reads,
    step_writes,
)
from tfrt_ray.ir.types import TensorType


def _call_into(fn, *args):
    """``fn`` on all but the last argument, writing into the last."""
    return fn(*args[:-1], out=args[-1])


def _with_buffer(step: Step, donor: int) -> Step:
    """``step`` rewritten to write into the buffer in slot ``donor`` (one of its own
    inputs, for an in-place update)."""
    (out,) = step_writes(step)
    return Step(GENERAL, functools.partial(_call_into, step.fn), step_reads(step) + (donor,),
                out, None)


class _Lifetimes:
    """Who writes and reads each slot of a stage's steps, and which values own their
    buffer (see the module docstring)."""

    def __init__(self, stage, types: Sequence[TensorType]) -> None:
        self.stage, self.types = stage, types
        self.value_of = {s: v for v, s in stage.slot.items()}
        self.keep = set(stage.out_slots) | set(stage.result_slots)
        self.producer: dict[int, object] = {}
        self.readers: dict[int, list] = {}
        self.last_read: dict[int, int] = {}
        for i, step in enumerate(stage.steps):
            for s in step_reads(step):
                self.readers.setdefault(s, []).append(step.fn)
                self.last_read[s] = i
            for s in step_writes(step):
                self.producer[s] = step.fn

    def key(self, s: int):
        """(type, layout) of a large statically shaped value; None for any other slot."""
        v = self.value_of.get(s)
        t = self.types[v] if v is not None else None
        if t is None or not t.shape or not t.is_static or t.nbytes < FREE_BYTES:
            return None
        return (t, s in self.stage.nhwc_slots)

    def owns(self, s: int) -> bool:
        """Whether the value in slot ``s`` may give its buffer away once it is dead."""
        return (s >= self.stage.n_inputs and self.stage.template[s] is None
                and s not in self.keep and self.key(s) is not None
                and s in self.producer and kernel_has(self.producer[s], "fresh_output")
                and all(kernel_has(fn, "fresh_output") for fn in self.readers.get(s, ())))

    def takes_buffer(self, out: int) -> bool:
        """Whether the value the step writes to ``out`` may be written into a planned
        buffer."""
        return out not in self.keep and self.key(out) is not None


def _in_place(life: _Lifetimes, i: int, step):
    """``step`` rewritten to write over its dying input, or None."""
    if step.kind not in (UNARY, BINARY) or not kernel_has(step.fn, "elementwise_out"):
        return None
    (out,) = step_writes(step)
    if not life.takes_buffer(out):
        return None
    for s in step_reads(step):
        if life.last_read.get(s) == i and life.key(s) == life.key(out) and life.owns(s):
            return _with_buffer(step, s)
    return None


def plan_memory(stage, types: Sequence[TensorType]) -> tuple[int, int]:
    """Rewrites ``stage``'s steps to write into buffers already there (see the module
    docstring); returns (steps updating an input in place, steps reusing a dead value's
    buffer)."""
    life = _Lifetimes(stage, types)
    steps: list[Step] = []
    nodes: list = []
    pool: dict[object, list[int]] = {}  # (type, layout) -> dead owned slots, last freed last
    freed_by: dict[int, int] = {}  # dead slot -> index in ``steps`` of the FREE that frees it
    given: set[int] = set()  # slots whose buffer a result took over in place
    in_place = reused = 0
    for i, (step, node) in enumerate(zip(stage.steps, stage.step_nodes)):
        if step.kind == FREE:
            for s in step.a:
                if s not in given and life.owns(s):
                    pool.setdefault(life.key(s), []).append(s)
                    freed_by[s] = len(steps)
            steps.append(step)
            nodes.append(None)
            continue
        rewritten = _in_place(life, i, step)
        if rewritten is not None:
            given.update(s for s in step_reads(step) if life.last_read.get(s) == i)
            in_place += 1
            steps.append(rewritten)
            nodes.append(node)
            continue
        writes = step_writes(step)
        donors = pool.get(life.key(writes[0])) if len(writes) == 1 else None
        if donors and step.kind != MULTI and kernel_has(step.fn, "takes_out") \
                and life.takes_buffer(writes[0]):
            donor = donors.pop()
            k = freed_by.pop(donor)  # keep it alive until here, then free it with this step
            steps[k] = steps[k]._replace(a=tuple(s for s in steps[k].a if s != donor))
            steps.append(_with_buffer(step, donor))
            nodes.append(node)
            steps.append(Step(FREE, None, (donor,), None, None))
            nodes.append(None)
            reused += 1
            continue
        steps.append(step)
        nodes.append(node)
    stage.steps, stage.step_nodes = steps, nodes
    return in_place, reused
