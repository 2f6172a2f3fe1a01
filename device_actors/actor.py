"""`DeviceActor`: a `DeviceRuntime` inside a Ray actor.

Its methods take and return tensors as `transport.WireTensor` (Arrow buffers in Ray's
object store). Stage inputs arrive as ObjectRefs passed by the host runtime; Ray
resolves them to zero-copy views before the call, so bytes go actor to actor and the
driver never touches them.
"""

from __future__ import annotations

import os
from typing import Any

import ray

from device_actors import transport
from device_actors.runtime import DeviceRuntime

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def actor_env(cores: int) -> dict[str, str]:
    """Environment that caps an actor's BLAS/OpenMP pools to its cores (read by NumPy's
    BLAS when it loads, so it must be set when the process starts)."""
    return {var: str(cores) for var in THREAD_VARS}


@ray.remote
class DeviceActor:
    """One device: loads stages once, runs them per step, runs eager ops."""

    def __init__(
        self, device_id: str, device_type: str, cores: int, mem_limit_bytes: int | None
    ) -> None:
        from threadpoolctl import threadpool_limits

        threadpool_limits(cores)
        self.runtime = DeviceRuntime(device_id, device_type, cores, mem_limit_bytes)

    def info(self) -> dict[str, Any]:
        from threadpoolctl import threadpool_info

        ctx = ray.get_runtime_context()
        return {
            **self.runtime.stats(),
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

    def run_op(self, op: str, attrs: dict, n_outputs: int, *wire_inputs):
        inputs = [transport.decode(x) for x in wire_inputs]
        outs = [transport.encode(v) for v in self.runtime.run_op(op, attrs, inputs, n_outputs)]
        return outs[0] if n_outputs == 1 else tuple(outs)

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    def take_timeline(self) -> list[tuple]:
        return self.runtime.take_timeline()
