"""Tensor types: a dtype token and a shape whose dims are ints or symbols."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfrt_ray.errors import DTypeError

# IR dtype tokens, MLIR-style, and the numpy dtypes they stand for.
_TOKEN_TO_NUMPY = {
    "i1": np.dtype(np.bool_),
    "i8": np.dtype(np.int8),
    "i16": np.dtype(np.int16),
    "i32": np.dtype(np.int32),
    "i64": np.dtype(np.int64),
    "ui8": np.dtype(np.uint8),
    "ui16": np.dtype(np.uint16),
    "ui32": np.dtype(np.uint32),
    "ui64": np.dtype(np.uint64),
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
}
_NUMPY_TO_TOKEN = {v: k for k, v in _TOKEN_TO_NUMPY.items()}
DTYPES = tuple(_TOKEN_TO_NUMPY)
FLOAT_DTYPES = ("f16", "f32", "f64")
INT_DTYPES = ("i8", "i16", "i32", "i64", "ui8", "ui16", "ui32", "ui64")

Dim = int | str  # a static size, or a symbol name ("?" is an anonymous unknown)
Shape = tuple[Dim, ...]


def dtype_token(dtype) -> str:
    """The IR token of a numpy dtype, a dtype token, or anything ``np.dtype`` accepts."""
    if isinstance(dtype, str) and dtype in _TOKEN_TO_NUMPY:
        return dtype
    try:
        return _NUMPY_TO_TOKEN[np.dtype(dtype)]
    except (KeyError, TypeError) as exc:
        raise DTypeError(
            f"dtype {dtype!r} is not supported",
            hint=f"use one of {', '.join(DTYPES)} (or the numpy dtypes they name)",
        ) from exc


def numpy_dtype(token: str) -> np.dtype:
    return _TOKEN_TO_NUMPY[token]


def is_static(shape: Shape) -> bool:
    return all(type(d) is int for d in shape)


@dataclass(frozen=True, slots=True)
class TensorType:
    """The static type of a value: dtype token and shape."""

    dtype: str
    shape: Shape

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def np_dtype(self) -> np.dtype:
        return _TOKEN_TO_NUMPY[self.dtype]

    @property
    def numel(self) -> int:
        """Number of elements, counting each symbolic dim as 1 (for cost estimates)."""
        n = 1
        for d in self.shape:
            if type(d) is int:
                n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.numel * self.np_dtype.itemsize

    @property
    def is_static(self) -> bool:
        return is_static(self.shape)

    def __str__(self) -> str:
        dims = "".join(f"{format_dim(d)}x" for d in self.shape)
        return f"tensor<{dims}{self.dtype}>"

    @staticmethod
    def of(array: np.ndarray) -> TensorType:
        return TensorType(dtype_token(array.dtype), tuple(array.shape))


def format_dim(d: Dim) -> str:
    if type(d) is int:
        return str(d)
    return "?" if d == "?" else "{" + d + "}"
