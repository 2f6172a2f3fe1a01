"""The one module that turns tensors into Arrow buffers and back.

Every tensor that crosses an actor boundary travels as a `WireTensor`: the Arrow tensor
layout (value type, shape, and one contiguous data buffer) with the data in a
``pyarrow.Buffer``. Ray moves a ``pyarrow.Buffer`` out of band: the producer's return
value is copied once into the object store, and a reader on the same node gets a
read-only ``pyarrow.Buffer`` that points into the store's shared memory, which
`decode` wraps as a NumPy view without copying. (``pyarrow.Tensor`` itself cannot be
pickled, and writing a full Arrow IPC tensor message would cost one more copy of the
body on every send, so the header travels as plain fields beside the buffer.)

Between actors on one node a large value may travel as an `ArenaTensor` instead: the path
of a shared-memory block that the producing actor wrote (`device_actors.arena`), which the
reader maps once and views without a copy.

Errors travel as themselves: a failed op's outputs are its `TfrtRayError`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from device_actors import arena
from tfrt_ray.errors import DeviceError, TfrtRayError
from tfrt_ray.ir.types import dtype_token, numpy_dtype

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class WireTensor:
    """A tensor on the wire: dtype token, shape, and its bytes as an Arrow buffer."""

    dtype: str
    shape: tuple[int, ...]
    body: pa.Buffer

    @property
    def nbytes(self) -> int:
        return self.body.size


@dataclass(frozen=True)
class ArenaTensor:
    """A tensor in a shared-memory block of a device actor on this node."""

    dtype: str
    shape: tuple[int, ...]
    path: str
    nbytes: int


@dataclass(frozen=True)
class Posted:
    """A stage input that another actor on this node posts to a mailbox file: the reader
    starts without waiting for the driver to pass the value on (one hop through the
    driver less). ``refs`` holds the producer's ObjectRef, nested so that Ray does not
    wait for it: the reader falls back to it when the producer posts no block (a small
    value, an error, a full arena) or posts nothing within `POST_WAIT_S`."""

    path: str
    refs: list


POST_WAIT_S = 2.0  # how long a reader polls a mailbox before it asks Ray instead


def post(path: str, wire) -> None:
    """Posts ``wire`` (an `ArenaTensor`, or anything else: "ask Ray") to a mailbox, as
    JSON written to a temporary name and renamed, so a reader never sees half of it."""
    if type(wire) is ArenaTensor:
        body = {"dtype": wire.dtype, "shape": list(wire.shape), "path": wire.path,
                "nbytes": wire.nbytes}
    else:
        body = {"ray": True}
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(body, f)
    os.replace(tmp, path)


def _await_post(posted: Posted):
    deadline = time.monotonic() + POST_WAIT_S
    delay = 20e-6
    while True:
        try:
            with open(posted.path) as f:
                body = json.load(f)
            break
        except (FileNotFoundError, ValueError):
            if time.monotonic() > deadline:
                body = {"ray": True}
                break
            time.sleep(delay)
            delay = min(2 * delay, 2e-4)
    if body.get("ray"):
        import ray

        return ray.get(posted.refs[0])
    return ArenaTensor(body["dtype"], tuple(body["shape"]), body["path"], body["nbytes"])


def encode(value):
    """A kernel's value as a WireTensor (errors pass through unchanged)."""
    if isinstance(value, TfrtRayError):
        return value
    import pyarrow as pa  # here: the host device never encodes, and start-up skips its import

    array = np.ascontiguousarray(value)  # copies only a strided view
    # np.shape: ascontiguousarray makes a 0-d value 1-d, the wire keeps its own shape
    return WireTensor(dtype_token(array.dtype), np.shape(value), pa.py_buffer(array))


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
    if type(obj) is Posted:
        obj = _await_post(obj)
        if type(obj) is not ArenaTensor:
            return decode(obj)
    if type(obj) is ArenaTensor:
        try:
            raw = arena.view(obj.path, obj.nbytes)
        except OSError as exc:
            raise DeviceError(
                f"cannot map the shared-memory block {obj.path}: {exc}",
                hint="its producer was restarted or the session shut down; run the step again",
            ) from None
        return arena.as_tensor(raw, numpy_dtype(obj.dtype), obj.shape)
    return obj


def encode_shared(value, shared: arena.Arena, tag):
    """``value`` as an `ArenaTensor` in the ``shared`` arena, or as a WireTensor when it
    is small, not a NumPy array, or the arena is full."""
    if type(value) is not np.ndarray or value.nbytes < arena.MIN_BYTES:
        return encode(value)
    block = shared.place(value, tag)
    if block is None:
        return encode(value)
    return ArenaTensor(dtype_token(value.dtype), value.shape, block.path, block.nbytes)
