"""The "ort" device type: a stage is one ONNX Runtime session (as TF-TRT runs subgraphs).

Its "kernels" are whole subgraphs: `CompiledOrtStage` exports the stage's nodes to ONNX
(`device_actors.ort.onnx_export`), builds an ``onnxruntime.InferenceSession`` once
(``intra_op_num_threads`` = the device's cores) and runs it per step. It has the interface
of a `tfrt_ray.core.stage.Stage`, as `tfrt_ray.core.executor.CompiledStage` has.

Errors are values: when ORT fails (or an input is already an error), the stage runs on the
reference kernels' checked path, so each failed op's outputs carry an error naming op, node,
device and line, and only its dependents are skipped. If ORT cannot build a session for a
stage (an op or dtype its CPU provider lacks), the stage runs on the reference kernels, with
a warning: placement only knows op names, and a program must still run.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Sequence

import numpy as np

from device_actors.ort.onnx_export import SUPPORTED_OPS, export_stage
from tfrt_ray.core.device_types import DeviceType, LocalDevice, compile_stage
from tfrt_ray.core.executor import CompiledStage
from tfrt_ray.errors import DeviceError, TfrtRayError
from tfrt_ray.ir.graph import Node
from tfrt_ray.ir.types import TensorType

NAME = "ort"


def _session_options(ort, cores: int):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(cores))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 4  # fatal only: failures come back as warnings or errors
    return opts


class CompiledOrtStage:
    """A list of nodes compiled into one ONNX Runtime session.

    A `tfrt_ray.core.stage.Stage`. Args: as `CompiledStage` (``device_type`` is ignored:
    always "ort").

    Attributes:
        model: the exported ONNX ModelProto.
        session: the InferenceSession, or None when the stage fell back to the reference
            kernels (``fallback_reason`` says why).
        template: the stage's constants (its weights), for the runtime's memory accounting.
    """

    def __init__(
        self,
        nodes: Sequence[Node],
        types: Sequence[TensorType],
        inputs: Sequence[int],
        outputs: Sequence[int],
        device_type: str = NAME,
        device_id: str = "ort:0",
        cores: int = 1,
    ) -> None:
        import onnxruntime as ort

        self.nodes = tuple(nodes)
        self.types = types
        self.input_ids = tuple(inputs)
        self.output_ids = tuple(outputs)
        self.device_id = device_id
        self.cores = cores
        self.label = f"ort[{self.nodes[0].name}..{self.nodes[-1].name}]" if nodes else "ort[]"
        self._reference: CompiledStage | None = None
        self._lock = threading.Lock()
        self.fallback_reason: str | None = None
        self.in_dtypes = [types[v].np_dtype for v in self.input_ids]
        self.out_types = tuple(types[v] for v in self.output_ids)
        self.session = self.model = None
        self.template: list = []
        try:
            self.model, self.input_names, self.output_names = export_stage(
                self.nodes, types, self.input_ids, self.output_ids, name=self.label
            )
            self.session = ort.InferenceSession(
                self.model.SerializeToString(),
                _session_options(ort, cores),
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # noqa: BLE001 - export or ORT failed; the stage still runs
            self.fallback_reason = f"ONNX Runtime cannot run this stage: {exc}"
            warnings.warn(
                f"{self.label} on {device_id}: {self.fallback_reason}; running it on the "
                "reference kernels", RuntimeWarning, stacklevel=2)
            self.template = self.reference().template
        else:
            from onnx import numpy_helper

            self.template = [numpy_helper.to_array(t) for t in self.model.graph.initializer]

    def reference(self) -> CompiledStage:
        """The same nodes on the reference kernels (the checked, error-locating path)."""
        with self._lock:
            if self._reference is None:
                self._reference = compile_stage(
                    self.nodes, self.types, self.input_ids, self.output_ids, "cpu",
                    self.device_id, 1,
                )
            return self._reference

    def run(self, inputs: Sequence, into: dict | None = None) -> list:
        """Runs the stage; returns its outputs (an error value where an op failed). ORT
        makes its own outputs: ``into`` is never given (`writes_into` is False)."""
        if self.session is None or any(isinstance(x, TfrtRayError) for x in inputs):
            return self.reference().run_checked(inputs)
        feed = {
            name: np.asarray(x, dtype=dt, order="C")
            for name, x, dt in zip(self.input_names, inputs, self.in_dtypes, strict=True)
        }
        try:
            return self.session.run(self.output_names, feed)
        except Exception as exc:  # noqa: BLE001 - ORT failed: find the op on the checked path
            return self._failed(inputs, exc)

    def _failed(self, inputs: Sequence, exc: BaseException) -> list:
        outs = self.reference().run_checked(inputs)
        if not any(isinstance(o, TfrtRayError) for o in outs):
            warnings.warn(
                f"{self.label} on {self.device_id}: ONNX Runtime failed ({exc}); the "
                "reference kernels ran the step", RuntimeWarning, stacklevel=3)
        return outs

    def run_checked(self, inputs: Sequence, timings: dict | None = None,
                    timeline: list | None = None) -> list:
        """`run`, adding the stage's seconds to ``timings[label]`` and appending
        ``(label, "ort", start, end)`` (wall clock) to ``timeline``: ORT runs it as one op."""
        t0 = time.time()
        outs = self.run(inputs)
        t1 = time.time()
        if timings is not None:
            timings[self.label] = timings.get(self.label, 0.0) + t1 - t0
        if timeline is not None:
            timeline.append((self.label, "ort", t0, t1))
        return outs

    def run_profiled(self, inputs: Sequence, timings: dict, timeline: list) -> list:
        return self.run_checked(inputs, timings, timeline)

    def writes_into(self, position: int) -> bool:
        return False


def compile_ort_stage(nodes, types, inputs, outputs, device_type=NAME, device_id="ort:0",
                      cores=1) -> CompiledOrtStage:
    try:
        return CompiledOrtStage(nodes, types, inputs, outputs, device_type, device_id, cores)
    except ImportError as exc:
        raise DeviceError(
            f"the 'ort' device needs onnxruntime: {exc}", device=device_id,
            hint="pip install onnxruntime, or place the program on 'cpu' devices",
        ) from exc


def _discover() -> list[LocalDevice]:
    """One "ort" device per node where onnxruntime imports (it runs on the node's CPUs)."""
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001
        return []
    from device_actors.cpu import host_memory

    return [LocalDevice(0, host_memory(), "onnxruntime CPUExecutionProvider")]


def device_type() -> DeviceType:
    return DeviceType(
        name=NAME,
        discover=_discover,
        resources={"num_cpus": 1},
        compile_stage=compile_ort_stage,
        stage_ops=SUPPORTED_OPS,
        flops_per_s=4e10,
        bytes_per_s=5e9,
        description="whole stages run by an ONNX Runtime InferenceSession (CPU provider)",
    )
