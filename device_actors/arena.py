"""Shared-memory arena: large tensors handed between device actors on one node without a copy.

Ray's path for a value one actor returns and another reads is a copy into the object store
(onto fresh pages) and a zero-copy view on the reader: for 100 MB that costs about 2.8x a
warm memcpy here. The arena skips the copy where it can:

* a resident tensor (a weight or captured tensor of a stage) that a stage sends to another
  device moves into a block of shared memory once, and from then on every step sends only
  its name;
* any other large stage output is copied into a block whose pages stay mapped and warm from
  step to step (a memcpy, not a copy onto fresh pages plus Ray's bookkeeping).

A block is a file under the session's directory in ``/dev/shm``, mapped once by the
producing actor and once by each reader (`view`), so reuse costs no page faults. What
travels through Ray is an `ArenaTensor`: the block's path, dtype and shape.

Lifetime: blocks for a step's outputs carry the step's tag. The host runtime releases a tag
(with the next call it makes to this device) only after every output of that step was
fetched, and so after every stage of the step, the readers included, has returned; only
then can the block be reused. Stages never keep their inputs past a call (an output that
is a view of an arena input is copied by Ray like any other), so a released block has no
reader. Blocks of resident tensors live until the arena closes. When the arena is full,
or ``/dev/shm`` is not there, a value simply takes Ray's path.
"""

from __future__ import annotations

import mmap
import os
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from tfrt_ray.ir.types import numpy_dtype

# Values below this size take Ray's path: for them a copy is cheaper than a block.
MIN_BYTES = 1 << 20
SHM_ROOT = "/dev/shm"


@dataclass
class Block:
    path: str
    nbytes: int
    array: np.ndarray  # uint8, writable, over the whole mapping


class Arena:
    """The blocks one device actor hands out. Not thread-safe: one actor, one caller."""

    def __init__(self, directory: str, prefix: str, capacity_bytes: int) -> None:
        self.directory = directory
        self.prefix = prefix
        self.capacity = capacity_bytes
        self.used = 0  # bytes in blocks held for steps (resident blocks are not counted)
        self.resident = 0
        self._count = 0
        self._free: dict[int, list[Block]] = {}  # nbytes -> released blocks
        self._held: dict[object, list[Block]] = {}  # tag -> blocks
        self._mailboxes: dict[object, list[str]] = {}  # tag -> mailbox files posted
        self._by_address: dict[int, Block] = {}
        self._resident: set[str] = set()  # paths of the blocks that live until close
        self.sent = 0  # values sent as ArenaTensor
        self.copied = 0  # of those, values copied into a block

    @staticmethod
    def open(directory: str | None, prefix: str, capacity_bytes: int) -> Arena | None:
        """An arena in ``directory`` (created if needed), or None where there is no
        shared memory to use."""
        if not directory or capacity_bytes <= 0 or not os.path.isdir(SHM_ROOT):
            return None
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError:
            return None
        return Arena(directory, prefix, capacity_bytes)

    # ---- producer side ------------------------------------------------------------

    def owner(self, array: np.ndarray) -> Block | None:
        """The block ``array`` is exactly (same start and size, C order), if any: a
        transposed or strided view of a block is not the block."""
        block = self._by_address.get(array.__array_interface__["data"][0])
        if block is not None and block.nbytes == array.nbytes and array.flags.c_contiguous:
            return block
        return None

    def resident_block(self, array: np.ndarray) -> Block | None:
        """The resident block ``array`` is exactly (it lives until the arena closes)."""
        block = self.owner(array)
        return block if block is not None and block.path in self._resident else None

    def alloc(self, nbytes: int, tag: object) -> Block | None:
        """A block of ``nbytes`` held for ``tag``; None when the arena is full."""
        free = self._free.get(nbytes)
        if free:
            block = free.pop()
        else:
            if self.used + nbytes > self.capacity:
                return None
            block = self._new_block(nbytes)
            if block is None:
                return None
        self.used += nbytes
        self._held.setdefault(tag, []).append(block)
        return block

    def place(self, value: np.ndarray, tag: object) -> Block | None:
        """The block ``value`` goes out in: its own (a resident tensor, or a kernel wrote
        it there), or a new block of step ``tag`` that it is copied into; None when the
        arena is full."""
        block = self.owner(value)
        if block is None:
            block = self.alloc(value.nbytes, tag)
            if block is None:
                return None
            np.copyto(as_tensor(block.array, value.dtype, value.shape), value)
            self.copied += 1
        self.sent += 1
        return block

    def adopt(self, array: np.ndarray) -> np.ndarray | None:
        """A read-only copy of ``array`` in a resident block (None if there is no room:
        /dev/shm full)."""
        block = self._new_block(array.nbytes)
        if block is None:
            return None
        self.resident += array.nbytes
        self._resident.add(block.path)
        view = as_tensor(block.array, array.dtype, array.shape)
        np.copyto(view, array)
        view.flags.writeable = False
        return view

    def posted(self, path: str, tag: object) -> None:
        """Records a mailbox file posted for ``tag`` (removed when the tag is released)."""
        self._mailboxes.setdefault(tag, []).append(path)

    def release(self, tags) -> None:
        """The blocks of these steps may be reused (and their mailboxes go)."""
        for tag in tags:
            for path in self._mailboxes.pop(tag, ()):
                _unlink(path)
            for block in self._held.pop(tag, ()):
                self.used -= block.nbytes
                self._free.setdefault(block.nbytes, []).append(block)

    def close(self) -> None:
        """Removes every block's file (readers' mappings stay valid until they drop them)."""
        for block in self._by_address.values():
            _unlink(block.path)
        for paths in self._mailboxes.values():
            for path in paths:
                _unlink(path)
        self._mailboxes.clear()
        self._by_address.clear()
        self._free.clear()
        self._held.clear()
        self._resident.clear()
        self.used = self.resident = 0
        try:
            os.rmdir(self.directory)  # the last actor out removes the session's directory
        except OSError:
            pass

    def stats(self) -> dict:
        return {"arena_bytes_held": self.used, "arena_bytes_resident": self.resident,
                "arena_blocks": len(self._by_address), "arena_sent": self.sent,
                "arena_copied": self.copied}

    def _new_block(self, nbytes: int) -> Block | None:
        path = os.path.join(self.directory, f"{self.prefix}-{self._count}")
        self._count += 1
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except OSError:
            return None
        try:
            # Reserve the pages now: a full /dev/shm fails here with ENOSPC, instead of
            # killing the actor with SIGBUS when a kernel writes to the mapping.
            os.posix_fallocate(fd, 0, max(nbytes, 1))
            mapping = mmap.mmap(fd, max(nbytes, 1))
        except OSError:
            os.close(fd)
            os.unlink(path)
            return None
        os.close(fd)
        array = np.frombuffer(mapping, np.uint8, count=nbytes)
        block = Block(path, nbytes, array)
        self._by_address[array.__array_interface__["data"][0]] = block
        return block


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def as_tensor(raw: np.ndarray, dtype, shape) -> np.ndarray:
    return raw.view(np.dtype(dtype)).reshape(shape)


# ---- a stage's outputs in the arena ---------------------------------------------------


def blocks_to_write(arena: Arena, stage, positions, tag) -> dict[int, np.ndarray]:
    """Blocks (as tensors of the output's type) for the outputs of ``stage`` at
    ``positions`` whose kernels can write straight into them (`CompiledStage.writes_into`):
    the value is produced in shared memory and sent without a copy."""
    into: dict[int, np.ndarray] = {}
    if stage is None:
        return into  # not loaded
    for i in positions:
        t = stage.out_types[i]
        if t.nbytes >= MIN_BYTES and stage.writes_into(i):
            block = arena.alloc(t.nbytes, tag)
            if block is None:
                break
            into[i] = as_tensor(block.array, numpy_dtype(t.dtype), t.shape)
    return into


def adopt_resident(arena: Arena, stage, value):
    """``value``, moved into a resident block first if it is one of ``stage``'s own
    tensors (a weight it hands out), so every later step sends it without a copy."""
    if type(value) is not np.ndarray or value.nbytes < MIN_BYTES \
            or arena.owner(value) is not None:
        return value
    if stage is None or not any(v is value for v in stage.template):
        return value
    shared = arena.adopt(value)
    if shared is None:
        return value
    stage.template = [shared if v is value else v for v in stage.template]
    return shared


# ---- reader side ------------------------------------------------------------------

_MAPPED: OrderedDict[str, np.ndarray] = OrderedDict()
MAX_MAPPED = 256  # mappings a reader keeps open; older ones close when their views die


def view(path: str, nbytes: int) -> np.ndarray:
    """A read-only uint8 view of a block, mapped once per process."""
    raw = _MAPPED.get(path)
    if raw is not None and raw.nbytes == nbytes:
        _MAPPED.move_to_end(path)
        return raw
    fd = os.open(path, os.O_RDONLY)
    try:
        mapping = mmap.mmap(fd, max(nbytes, 1), prot=mmap.PROT_READ)
    finally:
        os.close(fd)
    raw = np.frombuffer(mapping, np.uint8, count=nbytes)
    _MAPPED[path] = raw
    while len(_MAPPED) > MAX_MAPPED:
        _MAPPED.popitem(last=False)  # the mapping closes when the last view of it goes
    return raw
