"""ONNX tensors, attributes and types as numpy arrays and tfrt-ray `TensorType`s."""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

import numpy as np

from tfrt_ray.errors import DTypeError
from tfrt_ray.frontends.onnx.proto import AttributeProto, TensorProto, onnx_package, pb
from tfrt_ray.ir.ops.onnx_math import FORMAT_CARRIERS, FORMAT_ML_DTYPES
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

# ONNX element types tfrt-ray emulates: each is held in a wider carrier dtype (f32, i8,
# ui8) that represents every value of it exactly, and rounded to it (op ``to_format``)
# where ONNX would round. Graph inputs and outputs of these types are numpy arrays of the
# ml_dtypes types. ml_dtypes is imported only when such a type is met (`format_numpy`): it
# costs about a second of start-up.
EMULATED = {
    TensorProto.BFLOAT16: "bf16",
    TensorProto.FLOAT8E4M3FN: "f8e4m3fn",
    TensorProto.FLOAT8E4M3FNUZ: "f8e4m3fnuz",
    TensorProto.FLOAT8E5M2: "f8e5m2",
    TensorProto.FLOAT8E5M2FNUZ: "f8e5m2fnuz",
    TensorProto.FLOAT4E2M1: "f4e2m1",
    TensorProto.INT4: "i4",
    TensorProto.UINT4: "ui4",
    TensorProto.INT2: "i2",
    TensorProto.UINT2: "ui2",
}
FORMAT_TO_ONNX = {v: k for k, v in EMULATED.items()}
CARRIERS = FORMAT_CARRIERS

# Native ONNX element types as numpy dtypes, and the TensorProto field that holds their
# values when a tensor has no raw_data (FLOAT16 values are bit patterns in int32_data).
_NATIVE = {
    TensorProto.FLOAT: (np.float32, "float_data"),
    TensorProto.DOUBLE: (np.float64, "double_data"),
    TensorProto.FLOAT16: (np.float16, "int32_data"),
    TensorProto.BOOL: (np.bool_, "int32_data"),
    TensorProto.INT8: (np.int8, "int32_data"),
    TensorProto.INT16: (np.int16, "int32_data"),
    TensorProto.INT32: (np.int32, "int32_data"),
    TensorProto.INT64: (np.int64, "int64_data"),
    TensorProto.UINT8: (np.uint8, "int32_data"),
    TensorProto.UINT16: (np.uint16, "int32_data"),
    TensorProto.UINT32: (np.uint32, "uint64_data"),
    TensorProto.UINT64: (np.uint64, "uint64_data"),
}


# The ONNX dtypes whose raw_data NumPy reads as is (`wire.split_weights` views them).
NATIVE_DTYPES = frozenset(_NATIVE) if sys.byteorder == "little" else frozenset()


def raw_view(buf: bytes, span: tuple[int, int], tensor: TensorProto, what: str) -> np.ndarray:
    """A tensor whose raw_data lies at ``buf[span[0]:span[1]]``, as a read-only view."""
    dtype_of(tensor.data_type, what)
    start, end = span
    return np.frombuffer(memoryview(buf)[start:end], _NATIVE[tensor.data_type][0]).reshape(
        tuple(tensor.dims))


@cache
def format_numpy(fmt: str) -> np.dtype:
    """The numpy (ml_dtypes) dtype of an emulated format."""
    import ml_dtypes

    return np.dtype(getattr(ml_dtypes, FORMAT_ML_DTYPES[fmt]))


def format_of(elem_type: int) -> str | None:
    """The emulated format of an ONNX element type (None for a native one)."""
    return EMULATED.get(elem_type)


@cache
def _formats_by_dtype() -> dict[np.dtype, str]:
    return {format_numpy(f): f for f in FORMAT_ML_DTYPES}


def array_format(a: np.ndarray) -> str | None:
    """The emulated format of an array's dtype (None for a native one)."""
    if "ml_dtypes" not in sys.modules:  # then no array has one of its dtypes
        return None
    return _formats_by_dtype().get(a.dtype)


def to_carrier(a: np.ndarray) -> np.ndarray:
    """An array of an emulated type as its carrier dtype (others unchanged)."""
    fmt = array_format(a)
    if fmt is None:
        return a
    from tfrt_ray.ir.types import numpy_dtype

    return a.astype(numpy_dtype(CARRIERS[fmt]))


def onnx_type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"type {elem_type}"


def dtype_of(elem_type: int, what: str, emulated: bool = True) -> str:
    """The IR dtype token of an ONNX element type (the carrier of an emulated one);
    DTypeError if tfrt-ray has none."""
    token = ONNX_TO_TOKEN.get(elem_type)
    if token is None and emulated and elem_type in EMULATED:
        token = CARRIERS[EMULATED[elem_type]]
    if token is None:
        raise DTypeError(
            f"{what} has ONNX type {onnx_type_name(elem_type)}, which tfrt-ray does not support",
            hint="supported: " + ", ".join(onnx_type_name(t) for t in ONNX_TO_TOKEN),
        )
    return token


def to_array(tensor: TensorProto, what: str) -> np.ndarray:
    """A TensorProto (external data already loaded) as a numpy array of a supported dtype
    (an emulated type's stays of its ml_dtypes type; `to_carrier` converts it)."""
    dtype_of(tensor.data_type, what)
    native = _NATIVE.get(tensor.data_type)
    if native is None or sys.byteorder != "little" or tensor.HasField("data_location") and \
            tensor.data_location == TensorProto.EXTERNAL:
        return np.asarray(onnx_package().numpy_helper.to_array(tensor))
    dtype, field = native
    shape = tuple(tensor.dims)
    raw = tensor.raw_data  # each read of the field copies its bytes: read it once
    if raw:
        return np.frombuffer(raw, dtype).reshape(shape)
    values = getattr(tensor, field)
    if dtype is np.float16:
        return np.array(values, np.uint16).view(np.float16).reshape(shape)
    return np.array(values, dtype).reshape(shape)


def sparse_to_array(sparse: pb.SparseTensorProto, what: str) -> np.ndarray:
    values = to_array(sparse.values, what)
    indices = to_array(sparse.indices, what).astype(np.int64)
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


def tensor_type(type_proto: pb.TypeProto, what: str) -> TensorType | None:
    """The TensorType a value's declared ONNX type gives; None when its rank is unknown.

    A dim with ``dim_value`` is static, one with ``dim_param`` the symbol of that name,
    one with neither the anonymous ``"?"``.
    """
    kind = type_proto.WhichOneof("value")
    if kind == "optional_type" and type_proto.optional_type.elem_type.HasField("tensor_type"):
        # An optional tensor that is given is a tensor.
        return tensor_type(type_proto.optional_type.elem_type, what)
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


def sequence_elem(type_proto: pb.TypeProto) -> pb.TypeProto | None:
    """The element type of a sequence (or optional sequence) type; None for others."""
    if type_proto.WhichOneof("value") == "optional_type":
        type_proto = type_proto.optional_type.elem_type
    if type_proto.WhichOneof("value") == "sequence_type":
        return type_proto.sequence_type.elem_type
    return None


def elem_format(type_proto: pb.TypeProto) -> str | None:
    """The emulated format of a tensor (or optional / sequence) type; None if native."""
    while type_proto.WhichOneof("value") in ("optional_type", "sequence_type"):
        kind = type_proto.WhichOneof("value")
        type_proto = getattr(type_proto, kind).elem_type
    if type_proto.WhichOneof("value") != "tensor_type":
        return None
    return format_of(type_proto.tensor_type.elem_type)


def elem_dtype(type_proto: pb.TypeProto, what: str) -> str:
    """The IR dtype of a tensor type, or of the elements of an optional or sequence type;
    DTypeError for other kinds."""
    if type_proto.WhichOneof("value") == "optional_type":
        type_proto = type_proto.optional_type.elem_type
    if type_proto.WhichOneof("value") == "sequence_type":
        type_proto = type_proto.sequence_type.elem_type
    if type_proto.WhichOneof("value") != "tensor_type":
        tensor_type(type_proto, what)  # raises the kind error
    return dtype_of(type_proto.tensor_type.elem_type, what)


def type_proto_of(t: TensorType, fmt: str | None = None) -> pb.TypeProto:
    """The ONNX TypeProto of a TensorType, or of its emulated format (for ONNX's
    context-dependent functions)."""
    shape = [d if type(d) is int else (None if d == "?" else d) for d in t.shape]
    elem = FORMAT_TO_ONNX[fmt] if fmt else TOKEN_TO_ONNX[t.dtype]
    return onnx_package().helper.make_tensor_type_proto(elem, shape)
