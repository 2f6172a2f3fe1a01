"""`Stage`: the contract between a device runtime and what it runs.

A stage is a subgraph compiled for one device type. `CompiledStage` (kernels) implements
it, stage compilers (ONNX Runtime's) return their own, and `HostBoundaryStage` wraps one
whose values live off the host. `compile_stage` checks a device type's stage once, when
it is compiled, and adapts one that implements only the core of the contract (``run``,
``run_checked`` and ``template``), so the runtime calls every method without asking.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.ir.types import TensorType


@runtime_checkable
class Stage(Protocol):
    """What a `DeviceRuntime` runs."""

    template: list  # the resident constants (weights), for the device's memory accounting
    out_types: tuple[TensorType, ...]

    def run(self, inputs: Sequence, into: dict[int, np.ndarray] | None = None) -> list:
        """The outputs, an error value where an op failed. ``into``: buffers to write the
        outputs at those positions into (only where `writes_into` holds)."""

    def run_checked(self, inputs: Sequence, timings: dict | None = None,
                    timeline: list | None = None) -> list:
        """`run` op by op: only the dependents of a failed op fail; with ``timings`` /
        ``timeline``, each op's seconds and (name, op, start, end) spans are recorded."""

    def run_profiled(self, inputs: Sequence, timings: dict, timeline: list) -> list:
        """`run`, timed as it runs (by default, `run_checked` with its timings)."""

    def writes_into(self, position: int) -> bool:
        """Whether output ``position`` can be written into a buffer `run` is given."""


class _Adapted:
    """A stage compiler's object that has ``run``, ``run_checked`` and ``template`` only:
    the rest of the contract by default (profiling runs the checked path, no output is
    written into a given buffer)."""

    def __init__(self, stage: Any, out_types: tuple[TensorType, ...]) -> None:
        self.stage = stage
        self.out_types = out_types
        self._timeline = "timeline" in inspect.signature(stage.run_checked).parameters

    @property
    def template(self) -> list:
        return self.stage.template

    def run(self, inputs: Sequence, into: dict[int, np.ndarray] | None = None) -> list:
        return self.stage.run(inputs)

    def run_checked(self, inputs: Sequence, timings: dict | None = None,
                    timeline: list | None = None) -> list:
        if self._timeline:
            return self.stage.run_checked(inputs, timings=timings, timeline=timeline)
        return self.stage.run_checked(inputs, timings=timings)

    def run_profiled(self, inputs: Sequence, timings: dict, timeline: list) -> list:
        return self.run_checked(inputs, timings, timeline)

    def writes_into(self, position: int) -> bool:
        return False


def as_stage(stage: Any, out_types: Sequence[TensorType], device_type: str) -> Stage:
    """``stage`` as a full `Stage`; raises TfrtRayError naming the device type when it
    lacks even ``run``, ``run_checked`` or ``template``."""
    if isinstance(stage, Stage):
        return stage
    missing = [m for m in ("run", "run_checked", "template") if not hasattr(stage, m)]
    if missing:
        raise TfrtRayError(
            f"the stage compiler of device type '{device_type}' returned "
            f"{type(stage).__name__}, which lacks {missing}",
            hint="a stage has run(inputs), run_checked(inputs, timings=None) and template "
            "(see tfrt_ray.core.stage.Stage)",
        )
    return _Adapted(stage, tuple(out_types))
