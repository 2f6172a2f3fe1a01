"""`DeviceRuntime`: one device's runtime. It runs in-process (the host device) and inside
a Ray actor (`device_actors.actor.DeviceActor`); both paths share this class.

It compiles the stages it is given once, keeps their weights resident, runs them, runs
single eager ops, tracks the bytes it holds against a memory limit, and reports per-op
timings when asked to profile.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from tfrt_ray.core.device_types import compile_stage, eager_kernel
from tfrt_ray.core.stage import Stage
from tfrt_ray.errors import DeviceError, OpExecutionError, TfrtRayError
from tfrt_ray.ir.graph import Node
from tfrt_ray.ir.types import TensorType


def _nbytes(value: Any) -> int:
    return int(getattr(value, "nbytes", 0))


class DeviceRuntime:
    """The runtime of one device.

    Args:
        device_id: e.g. ``"cpu:0"``; errors name it.
        device_type: whose kernels run here.
        cores: threads its stages may use.
        mem_limit_bytes: the most bytes of weights it may hold (None: no limit).
    """

    def __init__(
        self,
        device_id: str,
        device_type: str = "cpu",
        cores: int = 1,
        mem_limit_bytes: int | None = None,
    ) -> None:
        self.device_id = device_id
        self.device_type = device_type
        self.cores = cores
        self.mem_limit_bytes = mem_limit_bytes
        self.stages: dict[str, Stage] = {}
        self.weight_bytes: dict[str, int] = {}
        self.op_seconds: dict[str, float] = {}
        self.timeline: list[tuple] = []  # (name, kind, start, end) of profiled runs
        self.steps_run = 0

    @property
    def bytes_held(self) -> int:
        return sum(self.weight_bytes.values())

    def load(
        self,
        key: str,
        nodes: Sequence[Node],
        types: Sequence[TensorType],
        inputs: Sequence[int],
        outputs: Sequence[int],
    ) -> int:
        """Compiles a stage and keeps it (and its constants) resident; returns bytes held."""
        stage = compile_stage(
            nodes, types, inputs, outputs, self.device_type, self.device_id, self.cores
        )
        weights = sum(_nbytes(v) for v in stage.template)
        if self.mem_limit_bytes is not None and self.bytes_held + weights > self.mem_limit_bytes:
            raise DeviceError(
                f"loading stage '{key}' needs {weights} bytes of weights; the device holds "
                f"{self.bytes_held} of its {self.mem_limit_bytes}",
                device=self.device_id,
                hint="place fewer weights here (more devices, or a larger memory limit)",
            )
        self.stages[key] = stage
        self.weight_bytes[key] = weights
        return self.bytes_held

    def unload(self, key: str) -> None:
        self.stages.pop(key, None)
        self.weight_bytes.pop(key, None)

    def run(self, key: str, inputs: Sequence, profile: bool = False, into=None) -> list:
        """Runs a loaded stage. Outputs hold an error value where an op failed. ``into``:
        see `CompiledStage.run` (ignored when profiling)."""
        stage = self.stages.get(key)
        if stage is None:
            raise DeviceError(
                f"stage '{key}' is not loaded on this device",
                device=self.device_id,
                hint="the device may have restarted; compile the program again",
            )
        self.steps_run += 1
        if profile:
            t0 = time.time()
            outs = stage.run_profiled(inputs, self.op_seconds, self.timeline)
            self.timeline.append((key, "stage", t0, time.time()))
            return outs
        return stage.run(inputs, into)

    def take_timeline(self) -> list[tuple]:
        """The profiled spans recorded since the last call (and forgets them)."""
        spans, self.timeline = self.timeline, []
        return spans

    def run_op(self, op: str, attrs: dict, inputs: Sequence, n_outputs: int) -> list:
        """Runs one eager op; returns its outputs (its error, for each, if it failed)."""
        failed = next((v for v in inputs if isinstance(v, TfrtRayError)), None)
        if failed is not None:
            return [failed] * n_outputs
        t0 = time.perf_counter()
        try:
            out = eager_kernel(op, self.device_type)(*inputs, **attrs)
        except Exception as exc:  # noqa: BLE001 - a kernel failure is a value
            err = exc if isinstance(exc, TfrtRayError) else OpExecutionError(
                f"kernel raised {type(exc).__name__}: {exc}"
            )
            return [err.with_context(op=op, device=self.device_id)] * n_outputs
        self.op_seconds[op] = self.op_seconds.get(op, 0.0) + time.perf_counter() - t0
        return list(out) if n_outputs > 1 else [out]

    def stats(self) -> dict:
        return {
            "device": self.device_id,
            "type": self.device_type,
            "cores": self.cores,
            "stages": len(self.stages),
            "onednn_ops": sum(getattr(s, "onednn_ops", 0) for s in self.stages.values()),
            "bytes_held": self.bytes_held,
            "mem_limit_bytes": self.mem_limit_bytes,
            "steps_run": self.steps_run,
            "op_seconds": dict(self.op_seconds),
        }
