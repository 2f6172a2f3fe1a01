"""`DeviceActor`: a `DeviceRuntime` inside a Ray actor.

Its methods take and return tensors as `transport.WireTensor` (Arrow buffers in Ray's
object store). Stage inputs arrive as ObjectRefs passed by the host runtime; Ray
resolves them to zero-copy views before the call, so bytes go actor to actor and the
driver never touches them.
"""

from __future__ import annotations

import ctypes
import os
from typing import Any

import ray

from device_actors import transport
from device_actors.arena import Arena, adopt_resident, blocks_to_write
from tfrt_ray.core.runtime import DeviceRuntime

# glibc's allocator, told to keep freed memory up to these sizes for reuse (mallopt's
# M_MMAP_THRESHOLD and M_TRIM_THRESHOLD). By default it gives a large block back to the
# kernel when it is freed (munmap, or a trim of the heap), so a stage's intermediate tensors
# land on fresh pages every step: a page fault and a zeroed page per 4 KiB, which on 2
# cores cost about 5% of each actor's compute in an 8-layer MLP (1,500 to 2,500 faults per
# batch, down to under 500 with these).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
MALLOC_OPTIONS = {
    _M_MMAP_THRESHOLD: 64 << 20,  # blocks below this come from the heap
    _M_TRIM_THRESHOLD: 256 << 20,  # free heap kept before it is trimmed
}


def configure_process(cores: int) -> None:
    """Sets up a device actor's process when the actor starts: the BLAS and OpenMP pools
    loaded so far capped to its cores (oneDNN's OpenMP, loaded with its first stage, is
    set to them before every run: `onednn.set_threads`), and glibc's `MALLOC_OPTIONS`.

    Done here rather than through a Ray ``runtime_env``: an actor with one of its own
    cannot take one of the worker processes Ray starts ahead, so it waits for a fresh
    process and for Ray's runtime-env agent. With Ray's pool of pre-started workers full,
    four device actors started in 2.4 s this way against 4.1 s with ``env_vars`` (2-core
    EPYC, unloaded); sessions started back to back often find the pool spent."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(cores)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: its own allocator's defaults
        return
    for option, value in MALLOC_OPTIONS.items():
        mallopt(option, value)


# `wait_loop` blocks while a loop runs, and `stop_loop` must get through meanwhile: they run
# in a group of their own, beside the default one (one method at a time, as before).
@ray.remote(concurrency_groups={"loop_watch": 2})
class DeviceActor:
    """One device: loads stages once, runs them per step, runs eager ops."""

    def __init__(
        self, device_id: str, device_type: str, cores: int, mem_limit_bytes: int | None,
        arena_dir: str | None = None, arena_bytes: int = 0,
    ) -> None:
        configure_process(cores)
        self.runtime = DeviceRuntime(device_id, device_type, cores, mem_limit_bytes)
        prefix = ray.get_runtime_context().get_actor_id() or device_id.replace(":", "_")
        self.arena = Arena.open(arena_dir, prefix, arena_bytes)

    def ping(self) -> None:
        """Does nothing: what a bare call costs (`tfrt_ray.cluster.call_cost`)."""

    def info(self) -> dict[str, Any]:
        from threadpoolctl import threadpool_info

        ctx = ray.get_runtime_context()
        return {
            **self.runtime.stats(),
            "shared_memory": self.arena is not None,
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
        return _returns(self._run_encoded(key, wire_inputs))

    def run_profiled(self, key: str, *wire_inputs):
        return _returns(self._run_encoded(key, wire_inputs, profile=True))

    def run_many(self, key: str, k: int, *wire_inputs):
        """`run` for ``k`` steps in one call: their inputs follow each other; returns
        every step's outputs, step after step."""
        n = len(wire_inputs) // k
        return _returns([w for i in range(k)
                         for w in self._run_encoded(key, wire_inputs[i * n : (i + 1) * n])])

    def _run_encoded(self, key: str, wire_inputs, profile: bool = False) -> list:
        outs = self.runtime.run(key, [transport.decode(x) for x in wire_inputs], profile)
        return [transport.encode(v) for v in outs]

    def run_shared(self, key: str, shared: tuple, *wire_inputs):
        """`run` with ``shared = (step tag, positions, released tags, profile, mailbox
        paths)``: the outputs at those positions go through the shared-memory arena
        (readers on this node, the driver among them) and are posted to their mailboxes
        (a path of None: no mailbox), after the blocks of the steps the host says are
        done were released."""
        tag, positions, released, profile, mailboxes = shared
        arena = self.arena
        encoded: list = []
        try:
            if arena is not None and released:
                arena.release(released)
            stage = self.runtime.stages.get(key)
            into = (blocks_to_write(arena, stage, positions, tag)
                    if arena is not None and not profile else None)
            outs = self.runtime.run(key, [transport.decode(x) for x in wire_inputs], profile,
                                    into)
            shared_at = positions if arena is not None else ()
            encoded = [
                transport.encode_shared(adopt_resident(arena, stage, v), arena, tag)
                if i in shared_at else transport.encode(v)
                for i, v in enumerate(outs)
            ]
        finally:  # readers on this node wait on these: post even when the call fails
            self._post(positions, mailboxes, encoded, tag)
        return _returns(encoded)

    def _post(self, positions, mailboxes, encoded, tag) -> None:
        arena = self.arena
        for i, path in zip(positions, mailboxes):
            if path is None:
                continue  # a result only the driver reads: nothing waits on a mailbox
            if arena is None or os.path.dirname(path) != arena.directory:
                continue  # not this session's directory here: readers ask Ray
            transport.post(path, encoded[i] if i < len(encoded) else None)
            arena.posted(path, tag)

    def release_shared(self, tags) -> None:
        if self.arena is not None:
            self.arena.release(tags)

    def close_shared(self) -> None:
        """Removes the arena's files (before the actor is stopped)."""
        if self.arena is not None:
            self.arena.close()

    # ---- the persistent loop (`device_actors.device_loop`) ---------------------------

    def start_loop(self, spec) -> None:
        """Starts running ``spec`` (a `LoopSpec`) in a thread of its own, over its channels;
        `wait_loop` returns when it ends."""
        import threading

        from device_actors.device_loop import Device, run_loop

        loops = self.__dict__.setdefault("_loops", {})
        stop, done = threading.Event(), threading.Event()
        result: dict = {}

        def body() -> None:
            try:
                device = Device(self._run_arrays, self.runtime.stages.get, self.arena)
                result["steps"] = run_loop(spec, device, stop)
            except BaseException as err:  # noqa: BLE001 - reported by wait_loop
                result["error"] = f"{type(err).__name__}: {err}"
            finally:
                done.set()

        thread = threading.Thread(target=body, name=f"loop-{spec.loop_id}", daemon=True)
        loops[spec.loop_id] = (stop, done, result)
        thread.start()

    @ray.method(concurrency_group="loop_watch")
    def wait_loop(self, loop_id: str, timeout: float | None = None) -> dict:
        """Blocks until the loop ends (or ``timeout``): its steps, or its error. The
        driver keeps one call of this in flight: Ray fails it when this actor dies."""
        stop, done, result = self.__dict__.get("_loops", {})[loop_id]
        done.wait(timeout)
        return dict(result, done=done.is_set())

    @ray.method(concurrency_group="loop_watch")
    def stop_loop(self, loop_id: str) -> None:
        loop = self.__dict__.get("_loops", {}).get(loop_id)
        if loop is not None:
            loop[0].set()

    def _run_arrays(self, key: str, args, into=None) -> list:
        return self.runtime.run(key, list(args), False, into)

    def run_op(self, op: str, attrs: dict, n_outputs: int, *wire_inputs):
        inputs = [transport.decode(x) for x in wire_inputs]
        return _returns([transport.encode(v)
                         for v in self.runtime.run_op(op, attrs, inputs, n_outputs)])

    def stats(self) -> dict[str, Any]:
        return self.runtime.stats()

    def take_timeline(self) -> list[tuple]:
        return self.runtime.take_timeline()


def _returns(encoded: list):
    """A method's return value for Ray: the value itself for one output (``num_returns``
    1), else a tuple."""
    return encoded[0] if len(encoded) == 1 else tuple(encoded)
