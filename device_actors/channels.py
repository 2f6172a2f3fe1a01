"""Shared-memory channels: values between processes on one node in microseconds.

A `Channel` is a ring of ``depth`` slots in one file under the session's directory in
``/dev/shm`` (mapped once by its writer and once by its reader) and two named POSIX
semaphores: free slots and filled ones. One process writes, one reads. A write waits for
a free slot and a read for a filled one by blocking on a semaphore: no busy polling, no
polling interval; an idle reader sleeps in the kernel. A full ring blocks its writer, which
is the back-pressure that reaches, in the end, the driver's ``submit``.

A slot holds a value inline (dtype, shape, bytes) when it fits, written there by its
kernel where it can (`reserve`: no copy); a resident tensor that lives in a shared-memory
block (`device_actors.arena`) goes by the block's name; anything else larger than a slot
goes to a spill file beside the ring. A slot can also hold an error (the
typed error's class name and message, as JSON: no pickle) or a stop. `read` hands out a
read-only view of the slot, valid until the next `read` on that channel (a stage never
keeps its inputs past a call); ``copy=True`` gives an array of the caller's own.

Waiting is bounded: ``timeout`` seconds, in slices of ``check_every`` seconds between which
``alive()`` is asked (a dead peer is noticed by its reader or writer, not waited on
forever), and a closed channel ends every wait.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import posix_ipc

from tfrt_ray import errors
from tfrt_ray.errors import ChannelClosedError, ChannelTimeoutError, PeerLostError
from tfrt_ray.ir.types import dtype_token, numpy_dtype

VALUE, ERROR, STOP, SPILLED, ERROR_SPILLED, BLOCK = 1, 2, 3, 4, 5, 6
MAX_DIMS = 16
CONTROL_BYTES = 64  # the file's first bytes: byte 0 is the closed flag
# kind, ndim, dtype, nbytes, extra (a block's name length), shape
_HEAD = struct.Struct(f"<BB6x8sQQ{MAX_DIMS}q")
HEAD_BYTES = 256
assert _HEAD.size <= HEAD_BYTES
DEFAULT_SLOT_BYTES = 64 * 1024


@dataclass(frozen=True)
class ChannelSpec:
    """What a process needs to open a channel: it travels through Ray as plain data."""

    name: str  # the semaphores' names start with it; the ring file is ``path``
    path: str
    depth: int
    slot_bytes: int  # payload bytes per slot


def create(directory: str, name: str, depth: int = 2,
           slot_bytes: int = DEFAULT_SLOT_BYTES) -> ChannelSpec:
    """Makes a channel's ring file and semaphores (the driver does, before any loop
    starts); `unlink` removes them."""
    spec = ChannelSpec(f"/{name}", os.path.join(directory, name), depth,
                       max(64, -(-slot_bytes // 64) * 64))
    size = CONTROL_BYTES + depth * (HEAD_BYTES + spec.slot_bytes)
    fd = os.open(spec.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        # Reserve the pages now, as the arena does: a full /dev/shm fails here (OSError),
        # instead of killing a device with SIGBUS when it writes a slot.
        os.posix_fallocate(fd, 0, size)
    except OSError:
        os.close(fd)
        os.unlink(spec.path)
        raise
    os.close(fd)
    posix_ipc.Semaphore(spec.name + ".free", posix_ipc.O_CREX, 0o600, depth).close()
    posix_ipc.Semaphore(spec.name + ".full", posix_ipc.O_CREX, 0o600, 0).close()
    return spec


def unlink(spec: ChannelSpec) -> None:
    """Removes what `create` made (each part once; missing parts are fine)."""
    for sem in (".free", ".full"):
        try:
            posix_ipc.unlink_semaphore(spec.name + sem)
        except posix_ipc.ExistentialError:
            pass
    for path in [spec.path] + [spec.path + f".spill{i}" for i in range(spec.depth)]:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


class Channel:
    """One end of a channel: its writer or its reader (each process makes its own).

    The hot path touches the mapping through cached typed views and packed headers (per
    slot, dtype and shape), so a write and a read cost a few microseconds of Python."""

    def __init__(self, spec: ChannelSpec, alive: Callable[[], bool] | None = None,
                 check_every: float = 1.0) -> None:
        self.spec = spec
        self.alive = alive
        self.check_every = check_every
        fd = os.open(spec.path, os.O_RDWR)
        try:
            self._map = mmap.mmap(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        self._buf = np.frombuffer(self._map, np.uint8)
        self._free = posix_ipc.Semaphore(spec.name + ".free")
        self._full = posix_ipc.Semaphore(spec.name + ".full")
        self._stride = HEAD_BYTES + spec.slot_bytes
        self._next = 0  # the next slot this end writes or reads
        self._held = False  # a reader holds the slot it last read
        self._reserved: int | None = None  # a writer's slot taken by `reserve`
        self._reserved_view: np.ndarray | None = None
        self._views: dict[tuple, np.ndarray] = {}  # (slot, dtype, shape) -> payload view
        self._heads: dict[tuple, bytes] = {}  # header fields -> packed header
        self._parsed: dict[bytes, tuple] = {}  # packed header -> its fields

    # ---- waiting ---------------------------------------------------------------------

    def _closed_error(self, what: str) -> ChannelClosedError:
        return ChannelClosedError(
            f"channel {self.spec.name} was closed while waiting for {what}")

    def _acquire(self, sem, timeout: float | None, what: str) -> None:
        if self._map[0]:
            raise self._closed_error(what)
        try:
            sem.acquire(0)  # most often there already
        except posix_ipc.BusyError:
            self._wait(sem, timeout, what)
        if self._map[0]:  # woken by `close`
            raise self._closed_error(what)

    def _wait(self, sem, timeout: float | None, what: str) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if self._map[0]:
                raise self._closed_error(what)
            wait = self.check_every
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise ChannelTimeoutError(
                        f"channel {self.spec.name}: {what} did not come within {timeout:g} s",
                        hint="raise the timeout, or check the device")
            try:
                sem.acquire(wait)
                return
            except posix_ipc.BusyError:
                if self.alive is not None and not self.alive():
                    raise PeerLostError(
                        f"channel {self.spec.name}: the other end died while waiting for "
                        f"{what}", hint="the program recovers or fails the steps in flight"
                    ) from None

    @property
    def closed(self) -> bool:
        return bool(self._map[0])

    def close(self) -> None:
        """Marks the channel closed for both ends: every wait on it ends (the driver does
        this at teardown; the semaphores are posted so sleepers wake now)."""
        self._map[0] = 1
        for sem in (self._free, self._full):
            sem.release()

    def detach(self) -> None:
        for sem in (self._free, self._full):
            sem.close()
        self._buf = None
        self._views.clear()
        try:
            self._map.close()
        except BufferError:  # a reader's view still points into it: the map goes with it
            pass

    # ---- slots -----------------------------------------------------------------------

    def _slot(self, i: int) -> tuple[int, int]:
        start = CONTROL_BYTES + i * self._stride
        return start, start + HEAD_BYTES

    def _view(self, i: int, dtype: np.dtype, shape: tuple, writeable: bool) -> np.ndarray:
        key = (i, dtype, shape, writeable)
        view = self._views.get(key)
        if view is None:
            body = CONTROL_BYTES + i * self._stride + HEAD_BYTES
            nbytes = dtype.itemsize
            for d in shape:
                nbytes *= d
            view = self._buf[body : body + nbytes].view(dtype).reshape(shape)
            view.flags.writeable = writeable
            if len(self._views) < _CACHE:
                self._views[key] = view
        return view

    def _head(self, at: int, kind: int, dtype: str, nbytes: int, shape, extra: int = 0
              ) -> None:
        key = (kind, dtype, nbytes, shape, extra)
        packed = self._heads.get(key)
        if packed is None:
            dims = list(shape) + [0] * (MAX_DIMS - len(shape))
            packed = _HEAD.pack(kind, len(shape), dtype.encode(), nbytes, extra, *dims)
            if len(self._heads) < _CACHE:
                self._heads[key] = packed
        self._map[at : at + _HEAD.size] = packed

    # ---- writing ---------------------------------------------------------------------

    def reserve(self, dtype, shape, timeout: float | None = None) -> np.ndarray | None:
        """A writable view of the next slot, for a kernel to write the next value into
        (then `write` it: a value already in its slot is not copied); None when it does
        not fit a slot."""
        dtype, shape = np.dtype(dtype), tuple(shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if nbytes > self.spec.slot_bytes or len(shape) > MAX_DIMS:
            return None
        if self._reserved is None:
            self._acquire(self._free, timeout, "a free slot")
            self._reserved = self._next
        self._reserved_view = self._view(self._reserved, dtype, shape, True)
        return self._reserved_view

    def _take_slot(self, timeout: float | None) -> int:
        i = self._reserved
        if i is None:
            self._acquire(self._free, timeout, "a free slot")
            i = self._next
        self._reserved = None
        self._next = (i + 1) % self.spec.depth
        return i

    def write(self, value: np.ndarray, timeout: float | None = None) -> None:
        a = value if type(value) is np.ndarray else np.asarray(value)
        if a.ndim > MAX_DIMS:
            raise errors.ShapeError(f"a channel carries at most {MAX_DIMS} dims, got {a.ndim}")
        written, self._reserved_view = self._reserved_view, None
        i = self._take_slot(timeout)
        head = CONTROL_BYTES + i * self._stride
        kind, nbytes = VALUE, a.nbytes
        if nbytes > self.spec.slot_bytes:
            kind = SPILLED
            with open(f"{self.spec.path}.spill{i}", "wb") as f:
                f.write(np.ascontiguousarray(a).data)
        elif nbytes and not (a is written or (written is not None and _same_memory(a, written))):
            np.copyto(self._view(i, a.dtype, a.shape, True), a, casting="no")
        self._head(head, kind, dtype_token(a.dtype), nbytes, a.shape)
        self._full.release()

    def write_block(self, path: str, value: np.ndarray, timeout: float | None = None) -> None:
        """Sends ``value``, which is all of the shared-memory block at ``path`` and lives
        as long as the channel (a resident tensor): only the block's name is written."""
        self._reserved_view = None
        i = self._take_slot(timeout)
        head, body = self._slot(i)
        name = path.encode()
        self._buf[body : body + len(name)] = np.frombuffer(name, np.uint8)
        self._head(head, BLOCK, dtype_token(value.dtype), value.nbytes, value.shape,
                   extra=len(name))
        self._full.release()

    def write_error(self, err: BaseException, timeout: float | None = None) -> None:
        self._write_bytes(ERROR, json.dumps(_error_doc(err)).encode(), timeout)

    def write_stop(self, timeout: float | None = None) -> None:
        self._write_bytes(STOP, b"", timeout)

    def _write_bytes(self, kind: int, data: bytes, timeout: float | None) -> None:
        self._reserved_view = None
        i = self._take_slot(timeout)
        head, body = self._slot(i)
        if len(data) > self.spec.slot_bytes:  # a long error message
            kind = ERROR_SPILLED
            with open(f"{self.spec.path}.spill{i}", "wb") as f:
                f.write(data)
        else:
            self._buf[body : body + len(data)] = np.frombuffer(data, np.uint8)
        self._head(head, kind, "u8", len(data), (len(data),))
        self._full.release()

    # ---- reading ---------------------------------------------------------------------

    def read(self, timeout: float | None = None, copy: bool = False):
        """The next value (a read-only view until the next read, or a copy); an error
        written as one is raised here as its typed error; a stop returns `STOPPED`."""
        if self._held:
            self._held = False
            self._free.release()  # the slot read last time: its reader is done with it
        self._acquire(self._full, timeout, "a value")
        i = self._next
        self._next = (i + 1) % self.spec.depth
        head = CONTROL_BYTES + i * self._stride
        raw = self._map[head : head + _HEAD.size]
        fields = self._parsed.get(raw)
        if fields is None:
            kind, ndim, dtype, nbytes, extra, *dims = _HEAD.unpack(raw)
            fields = (kind, numpy_dtype(dtype.rstrip(b"\0").decode()) if kind in
                      (VALUE, SPILLED, BLOCK) else None, tuple(dims[:ndim]), nbytes, extra)
            if len(self._parsed) < _CACHE:
                self._parsed[raw] = fields
        kind, dt, shape, nbytes, extra = fields
        if kind == VALUE:
            if copy:
                array = self._view(i, dt, shape, False).copy()
                self._free.release()
                return array
            self._held = True
            return self._view(i, dt, shape, False)
        return self._read_other(i, kind, dt, shape, nbytes, extra, copy)

    def _read_other(self, i: int, kind: int, dt, shape, nbytes: int, extra: int, copy: bool):
        body = self._slot(i)[1]
        if kind in (ERROR, STOP, ERROR_SPILLED):
            if kind == ERROR_SPILLED:
                with open(f"{self.spec.path}.spill{i}", "rb") as f:
                    data = f.read()
            else:
                data = bytes(self._buf[body : body + nbytes])
            self._free.release()
            if kind == STOP:
                return STOPPED
            raise _error_from(json.loads(data))
        if kind == BLOCK:
            from device_actors.arena import view as block_view

            path = bytes(self._buf[body : body + extra]).decode()
            array = block_view(path, nbytes).view(dt).reshape(shape)
            if copy:
                self._free.release()
                return array.copy()
            self._held = True  # as for a value in the slot (the block outlives it)
            return array
        array = np.fromfile(f"{self.spec.path}.spill{i}", dt).reshape(shape)  # SPILLED
        self._free.release()
        return array


_CACHE = 4096  # entries per channel in each of its caches


def _same_memory(a: np.ndarray, b: np.ndarray) -> bool:
    return a.__array_interface__["data"][0] == b.__array_interface__["data"][0]


class _Stopped:
    def __repr__(self) -> str:
        return "STOPPED"


STOPPED = _Stopped()  # what `read` returns for a stop


def _error_doc(err: BaseException) -> dict:
    if isinstance(err, errors.TfrtRayError):
        return {"type": type(err).__name__, "message": err.message, "op": err.op,
                "node": err.node, "device": err.device, "loc": err.loc, "hint": err.hint}
    return {"type": "OpExecutionError", "message": f"{type(err).__name__}: {err}"}


def _error_from(doc: dict) -> errors.TfrtRayError:
    cls = getattr(errors, str(doc.get("type")), None)
    if not (isinstance(cls, type) and issubclass(cls, errors.TfrtRayError)):
        cls = errors.OpExecutionError
    fields = {k: str(doc[k]) for k in ("op", "node", "device", "loc", "hint") if doc.get(k)}
    try:
        return cls(str(doc.get("message", "")), **fields)
    except TypeError:  # a class with a signature of its own
        return errors.OpExecutionError(str(doc.get("message", "")), **fields)
