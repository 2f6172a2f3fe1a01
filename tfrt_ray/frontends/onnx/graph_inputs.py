"""How the ONNX importer types a graph's inputs: the declared ONNX type, or the shape the
caller gives in ``input_shapes`` (a list of item shapes for a sequence input, whose length
is known per run). An input whose shape it cannot know raises `StaticValueError` naming
it, so `OnnxProgram` specializes on it."""

from __future__ import annotations

from typing import Any

from tfrt_ray.errors import StaticValueError
from tfrt_ray.frontends.onnx.proto import pb
from tfrt_ray.frontends.onnx.tensors import elem_dtype, tensor_type
from tfrt_ray.ir.types import TensorType


def needs_shape_of(name: str, message: str, hint: str) -> StaticValueError:
    """The error for graph input ``name``, whose shape must be given to compile."""
    err = StaticValueError(message, hint=hint)
    err.value_deps = frozenset()  # type: ignore[attr-defined]
    err.shape_deps = frozenset([name])  # type: ignore[attr-defined]
    return err


def input_type(inp: pb.ValueInfoProto, input_shapes: dict[str, Any]) -> TensorType:
    """A tensor input's type: its shape from ``input_shapes`` where given."""
    what = f"graph input '{inp.name}'"
    t = tensor_type(inp.type, what)
    if inp.name in input_shapes:
        dtype = t.dtype if t is not None else elem_dtype(inp.type, what)
        return TensorType(dtype, tuple(input_shapes[inp.name]))
    if t is None:
        raise needs_shape_of(inp.name, f"{what} has no declared shape (not even a rank)",
                             "declare its shape in the model, or pass input_shapes=")
    return t


def sequence_item_types(inp: pb.ValueInfoProto, input_shapes: dict[str, Any]
                        ) -> tuple[str, list[TensorType] | None]:
    """A sequence input's item dtype and item types (one graph input each; None where the
    sequence is given as ``"absent"``)."""
    name = inp.name
    dtype = elem_dtype(inp.type, f"graph input '{name}'")
    shapes = input_shapes.get(name)
    if shapes is None:
        raise needs_shape_of(name, f"graph input '{name}' is a sequence, whose length is known "
                             "per run", "tfrt-ray compiles one graph per sequence length")
    if shapes == "absent":
        return dtype, None
    return dtype, [TensorType(dtype, tuple(s)) for s in shapes]
