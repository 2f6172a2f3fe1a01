"""The one module that turns tensors into Arrow buffers and back.

Every tensor that crosses an actor boundary travels as a `WireTensor`: the Arrow tensor
layout (value type, shape, and one contiguous data buffer) with the data in a
``pyarrow.Buffer``. Ray moves a ``pyarrow.Buffer`` out of band: the producer's return
value is copied once into the object store, and a reader on the same node gets a
read-only ``pyarrow.Buffer`` that points into the store's shared memory, which
`decode` wraps as a NumPy view without copying. (``pyarrow.Tensor`` itself cannot be
pickled, and writing a full Arrow IPC tensor message would cost one more copy of the
body on every send, so the header travels as plain fields beside the buffer.)

Errors travel as themselves: a failed op's outputs are its `TfrtRayError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.ir.types import dtype_token, numpy_dtype


@dataclass(frozen=True)
class WireTensor:
    """A tensor on the wire: dtype token, shape, and its bytes as an Arrow buffer."""

    dtype: str
    shape: tuple[int, ...]
    body: pa.Buffer

    @property
    def nbytes(self) -> int:
        return self.body.size


def encode(value):
    """A kernel's value as a WireTensor (errors pass through unchanged)."""
    if isinstance(value, TfrtRayError):
        return value
    array = np.ascontiguousarray(value)  # copies only a strided view
    return WireTensor(dtype_token(array.dtype), array.shape, pa.py_buffer(array))


def decode(obj):
    """A WireTensor as a read-only NumPy view of its buffer (no copy); errors and
    anything already a NumPy value pass through."""
    if type(obj) is WireTensor:
        dtype = numpy_dtype(obj.dtype)
        if obj.body.size == 0:
            return np.empty(obj.shape, dtype)
        array = np.frombuffer(obj.body, dtype=dtype).reshape(obj.shape)
        array.flags.writeable = False
        return array
    return obj
