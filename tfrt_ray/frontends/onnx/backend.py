"""The ONNX backend API (``onnx.backend.base.Backend``) over tfrt-ray, for the ONNX backend
conformance suite and for tools that drive backends generically.

Inputs are taken by position (the model's non-initializer inputs, in order) or by name;
outputs come back as a list of numpy arrays in the model's output order. A failed op
raises its error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from tfrt_ray.frontends.onnx.program import OnnxProgram


class TfrtRayBackendRep(BackendRep):
    """A prepared model: an `OnnxProgram`."""

    def __init__(self, program: OnnxProgram) -> None:
        self.program = program

    def run(self, inputs: Any, **kwargs: Any) -> list[np.ndarray]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if not isinstance(inputs, Mapping):
            inputs = list(inputs)
        out = self.program.run(inputs)
        return [out[name] for name in self.program.output_names]


class TfrtRayBackend(Backend):
    """tfrt-ray as an ONNX backend (CPU: the host device)."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(
        cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any
    ) -> TfrtRayBackendRep:
        return TfrtRayBackendRep(OnnxProgram(model))

    @classmethod
    def run_model(
        cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> list[np.ndarray]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls,
        node: onnx.NodeProto,
        inputs: Sequence[np.ndarray],
        device: str = "CPU",
        outputs_info: Sequence[tuple[Any, tuple]] | None = None,
        **kwargs: Any,
    ) -> list[np.ndarray]:
        arrays = [np.asarray(x) for x in inputs]
        graph_inputs = [
            onnx.helper.make_tensor_value_info(
                name, onnx.helper.np_dtype_to_tensor_dtype(a.dtype), a.shape
            )
            for name, a in zip(node.input, arrays, strict=False)
            if name
        ]
        graph_outputs = []
        for i, name in enumerate(node.output):
            if outputs_info is not None and i < len(outputs_info):
                dtype, shape = outputs_info[i]
                elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
                graph_outputs.append(onnx.helper.make_tensor_value_info(name, elem, shape))
            else:
                graph_outputs.append(onnx.helper.make_empty_tensor_value_info(name))
        graph = onnx.helper.make_graph([node], "run_node", graph_inputs, graph_outputs)
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
        feeds = [a for name, a in zip(node.input, arrays, strict=False) if name]
        return cls.run_model(model, feeds, device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return Device(device).type == DeviceType.CPU


prepare = TfrtRayBackend.prepare
run_model = TfrtRayBackend.run_model
run_node = TfrtRayBackend.run_node
supports_device = TfrtRayBackend.supports_device
