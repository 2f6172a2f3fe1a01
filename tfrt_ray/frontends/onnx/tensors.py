"""ONNX tensors, attributes and types as numpy arrays and tfrt-ray `TensorType`s."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, numpy_helper

from tfrt_ray.errors import DTypeError
from tfrt_ray.ir.types import TensorType

# ONNX element types tfrt-ray holds, and their IR dtype tokens.
ONNX_TO_TOKEN = {
    TensorProto.FLOAT: "f32",
    TensorProto.DOUBLE: "f64",
    TensorProto.FLOAT16: "f16",
    TensorProto.BOOL: "i1",
    TensorProto.INT8: "i8",
    TensorProto.INT16: "i16",
    TensorProto.INT32: "i32",
    TensorProto.INT64: "i64",
    TensorProto.UINT8: "ui8",
    TensorProto.UINT16: "ui16",
    TensorProto.UINT32: "ui32",
    TensorProto.UINT64: "ui64",
}
TOKEN_TO_ONNX = {v: k for k, v in ONNX_TO_TOKEN.items()}


def onnx_type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"type {elem_type}"


def dtype_of(elem_type: int, what: str) -> str:
    """The IR dtype token of an ONNX element type; DTypeError if tfrt-ray has none."""
    token = ONNX_TO_TOKEN.get(elem_type)
    if token is None:
        raise DTypeError(
            f"{what} has ONNX type {onnx_type_name(elem_type)}, which tfrt-ray does not support",
            hint="supported: " + ", ".join(onnx_type_name(t) for t in ONNX_TO_TOKEN),
        )
    return token


def to_array(tensor: TensorProto, what: str) -> np.ndarray:
    """A TensorProto (external data already loaded) as a numpy array of a supported dtype."""
    dtype_of(tensor.data_type, what)
    return np.asarray(numpy_helper.to_array(tensor))


def sparse_to_array(sparse: onnx.SparseTensorProto, what: str) -> np.ndarray:
    values = to_array(sparse.values, what)
    indices = numpy_helper.to_array(sparse.indices).astype(np.int64)
    shape = tuple(sparse.dims)
    dense = np.zeros(int(np.prod(shape)), values.dtype)
    if indices.ndim == 2:  # [nnz, rank] coordinates
        indices = np.ravel_multi_index(tuple(indices.T), shape)
    dense[indices.reshape(-1)] = values.reshape(-1)
    return dense.reshape(shape)


def attribute_value(attr: AttributeProto, what: str) -> Any:
    """An attribute as a Python value: int, float, str, lists of those, an array, a graph."""
    t = attr.type
    if t == AttributeProto.INT:
        return int(attr.i)
    if t == AttributeProto.FLOAT:
        return float(attr.f)
    if t == AttributeProto.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if t == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if t == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if t == AttributeProto.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if t == AttributeProto.TENSOR:
        return to_array(attr.t, what)
    if t == AttributeProto.SPARSE_TENSOR:
        return sparse_to_array(attr.sparse_tensor, what)
    if t == AttributeProto.GRAPH:
        return attr.g
    if t == AttributeProto.GRAPHS:
        return list(attr.graphs)
    if t == AttributeProto.TYPE_PROTO:
        return attr.tp
    raise DTypeError(f"{what} has an attribute kind tfrt-ray does not read ({t})")


def tensor_type(type_proto: onnx.TypeProto, what: str) -> TensorType | None:
    """The TensorType a value's declared ONNX type gives; None when its rank is unknown.

    A dim with ``dim_value`` is static, one with ``dim_param`` the symbol of that name,
    one with neither the anonymous ``"?"``.
    """
    kind = type_proto.WhichOneof("value")
    if kind != "tensor_type":
        raise DTypeError(
            f"{what} is of ONNX kind '{kind}'; tfrt-ray only holds tensors",
            hint="sequences, maps and optionals are not supported",
        )
    tt = type_proto.tensor_type
    dtype = dtype_of(tt.elem_type, what)
    if not tt.HasField("shape"):
        return None
    dims: list = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append("?")
    return TensorType(dtype, tuple(dims))


def type_proto_of(t: TensorType) -> onnx.TypeProto:
    """The ONNX TypeProto of a TensorType (for ONNX's context-dependent functions)."""
    shape = [d if type(d) is int else (None if d == "?" else d) for d in t.shape]
    return onnx.helper.make_tensor_type_proto(TOKEN_TO_ONNX[t.dtype], shape)
