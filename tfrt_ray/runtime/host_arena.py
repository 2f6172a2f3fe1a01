"""The driver's shared-memory blocks: a step's large inputs, for device actors on the
driver's own node, go into a block in the session's arena directory
(`device_actors.arena`) and travel as its name, not through Ray's object store.

Ray's path for an input is a ``ray.put`` (a copy onto object-store pages, and the
raylet's bookkeeping for every object created, sealed, read and freed: on a 2-core
machine streaming 2 MB batches, about 6% of a core in the raylet alone). A block is a
copy into pages that stay mapped and warm from step to step, and its reader maps it once.

A step's blocks carry its tag and are reused only after the step was read in full: by
then every stage of it has returned, so none reads them any more. A step that is never
read holds its blocks until the session ends. When the arena is full, an input takes
Ray's path. The driver may submit from several threads: one lock guards the arena.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from device_actors.arena import Arena
from device_actors.transport import encode_shared


class HostArena:
    """The blocks this driver process hands to device actors on its node."""

    def __init__(self, arena: Arena, node_id: str) -> None:
        self.node_id = node_id
        self._arena = arena
        self._lock = threading.Lock()

    @staticmethod
    def open(directory: str | None, capacity_bytes: int, node_id: str | None) -> HostArena | None:
        """The driver's arena, or None without shared memory or a node of its own (a
        Ray Client driver)."""
        if not node_id:
            return None
        arena = Arena.open(directory, f"host{os.getpid()}", capacity_bytes)
        return HostArena(arena, node_id) if arena is not None else None

    def encode(self, array: np.ndarray, tag: int):
        """``array`` copied into a block of step ``tag`` (an `ArenaTensor`), or a
        `WireTensor` for Ray's path when it is small or the arena is full."""
        with self._lock:
            return encode_shared(array, self._arena, tag)

    def release(self, tags) -> None:
        """The steps of ``tags`` were read in full: their blocks may be reused."""
        with self._lock:
            self._arena.release(tags)

    def stats(self) -> dict:
        with self._lock:
            return self._arena.stats()

    def close(self) -> None:
        with self._lock:
            self._arena.close()
