"""`DeviceActor`: a `DeviceRuntime` inside a Ray actor.

Its methods take and return tensors as `transport.WireTensor` (Arrow buffers in Ray's
object store). Stage inputs arrive as ObjectRefs passed by the host runtime; Ray
resolves them to zero-copy views before the call, so bytes go actor to actor and the
driver never touches them.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import ray

from device_actors import transport
from device_actors.arena import Arena, as_tensor
from device_actors.runtime import DeviceRuntime
from tfrt_ray.ir.types import numpy_dtype

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def actor_env(cores: int) -> dict[str, str]:
    """Environment that caps an actor's BLAS/OpenMP pools to its cores (read by NumPy's
    BLAS when it loads, so it must be set when the process starts)."""
    return {var: str(cores) for var in THREAD_VARS}


@ray.remote
class DeviceActor:
    """One device: loads stages once, runs them per step, runs eager ops."""

    def __init__(
        self, device_id: str, device_type: str, cores: int, mem_limit_bytes: int | None,
        arena_dir: str | None = None, arena_bytes: int = 0,
    ) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(cores)
        self.runtime = DeviceRuntime(device_id, device_type, cores, mem_limit_bytes)
        prefix = ray.get_runtime_context().get_actor_id() or device_id.replace(":", "_")
        self.arena = Arena.open(arena_dir, prefix, arena_bytes)

    def info(self) -> dict[str, Any]:
        from threadpoolctl import threadpool_info

        ctx = ray.get_runtime_context()
        return {
            **self.runtime.stats(),
            **(self.arena.stats() if self.arena is not None else {}),
            "node_id": ctx.get_node_id(),
            "pid": os.getpid(),
            "blas_threads": max((p["num_threads"] for p in threadpool_info()), default=1),
        }

    def load(self, key: str, nodes, types, inputs, outputs) -> int:
        return self.runtime.load(key, nodes, types, inputs, outputs)

    def unload(self, key: str) -> None:
        self.runtime.unload(key)

    def run(self, key: str, *wire_inputs):
        outs = self.runtime.run(key, [transport.decode(x) for x in wire_inputs])
        encoded = [transport.encode(v) for v in outs]
        return encoded[0] if len(encoded) == 1 else tuple(encoded)

    def run_profiled(self, key: str, *wire_inputs):
        outs = self.runtime.run(key, [transport.decode(x) for x in wire_inputs], profile=True)
        encoded = [transport.encode(v) for v in outs]
        return encoded[0] if len(encoded) == 1 else tuple(encoded)

    def run_many(self, key: str, k: int, *wire_inputs):
        """`run` for ``k`` steps in one call: their inputs follow each other; returns
        every step's outputs, step after step."""
        n = len(wire_inputs) // k
        encoded = []
        for i in range(k):
            outs = self.runtime.run(key, [transport.decode(x)
                                          for x in wire_inputs[i * n : (i + 1) * n]])
            encoded += [transport.encode(v) for v in outs]
        return encoded[0] if len(encoded) == 1 else tuple(encoded)

    def run_shared(self, key: str, shared: tuple, *wire_inputs):
        """`run`, sending the outputs at the positions ``shared = (tag, positions,
        released tags, profile)`` names through the shared-memory arena (readers on this
        node), after releasing the blocks of the steps the host says are done."""
        tag, positions, released, profile = shared
        arena = self.arena
        if arena is not None and released:
            arena.release(released)
        into = (self._blocks_to_write(key, positions, tag)
                if arena is not None and not profile else None)
        outs = self.runtime.run(key, [transport.decode(x) for x in wire_inputs], profile, into)
        shared_at = positions if arena is not None else ()
        encoded = [
            transport.encode_shared(self._resident(key, v), arena, tag) if i in shared_at
            else transport.encode(v)
            for i, v in enumerate(outs)
        ]
        return encoded[0] if len(encoded) == 1 else tuple(encoded)

    def _blocks_to_write(self, key: str, positions, tag) -> dict:
        """Arena blocks for the outputs whose kernels can write straight into them, so
        the value is produced in shared memory and sent without a copy."""
        stage = self.runtime.stages.get(key)
        into = {}
        if stage is None or not hasattr(stage, "writes_into"):
            return into
        for i in positions:
            t = stage.out_types[i]
            if t.nbytes >= self.arena.min_bytes and stage.writes_into(i):
                block = self.arena.alloc(t.nbytes, tag)
                if block is None:
                    break
                into[i] = as_tensor(block.array, numpy_dtype(t.dtype), t.shape)
        return into

    def _resident(self, key: str, value):
        """``value``, moved into a resident arena block first if it is one of the stage's
        own tensors (a weight it hands out): every later step then sends it without a copy."""
        arena = self.arena
        if type(value) is not np.ndarray or value.nbytes < arena.min_bytes \
                or arena.owner(value) is not None:
            return value
        stage = self.runtime.stages.get(key)
        if stage is None or not any(v is value for v in stage.template):
            return value
        shared = arena.adopt(value)
        if shared is None:
            return value
        stage.template = [shared if v is value else v for v in stage.template]
        return shared

    def release_shared(self, tags) -> None:
        if self.arena is not None:
            self.arena.release(tags)

    def close_shared(self) -> None:
        """Removes the arena's files (before the actor is stopped)."""
        if self.arena is not None:
            self.arena.close()

    def run_op(self, op: str, attrs: dict, n_outputs: int, *wire_inputs):
        inputs = [transport.decode(x) for x in wire_inputs]
        outs = [transport.encode(v) for v in self.runtime.run_op(op, attrs, inputs, n_outputs)]
        return outs[0] if n_outputs == 1 else tuple(outs)

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    def take_timeline(self) -> list[tuple]:
        return self.runtime.take_timeline()
