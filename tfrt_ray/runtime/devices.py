"""Device handles: what the host runtime talks to. `HostDevice` runs stages in this
process; `ActorDevice` sends them to a `DeviceActor`. Both load stages once and return
one future per stage output for each call, so `Program` runs either the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from device_actors import transport
from tfrt_ray.core.runtime import DeviceRuntime
from tfrt_ray.errors import DeviceLostError, StepTimeoutError

INLINE_BYTES = 64 * 1024


class HostDevice:
    """The in-process host device. Calls run at once; futures are the values."""

    # No shared memory to plan for: its values are the driver's own arrays.
    arena_dir = None
    host = None
    near_host = False

    def __init__(self, device_id: str = "host:0", cores: int = 1) -> None:
        self.device_id = device_id
        self.runtime = DeviceRuntime(device_id, "cpu", cores)

    def load(self, key: str, nodes, types, inputs, outputs) -> None:
        self.runtime.load(key, nodes, types, inputs, outputs)

    def wait_loaded(self) -> None:
        pass

    def put(self, array: np.ndarray, tag: int | None = None) -> Any:
        return array

    def call(self, key: str, args: Sequence, n_outputs: int, profile: bool = False,
             shared: tuple | None = None) -> list:
        return self.runtime.run(key, list(args), profile=profile)

    def call_many(self, key: str, flat_args: Sequence, k: int, n_outputs: int) -> list:
        """The stage run for ``k`` steps whose inputs follow each other in ``flat_args``;
        per step, its outputs."""
        n = len(flat_args) // k
        return [self.runtime.run(key, list(flat_args[i * n : (i + 1) * n])) for i in range(k)]

    def release_later(self, tag: int) -> None:
        pass  # in-process values are plain arrays: nothing to release

    def flush_released(self) -> None:
        pass

    def fence(self) -> None:
        return None  # calls run at once: none is ever left over

    def unload(self, key: str) -> None:
        self.runtime.unload(key)

    def stats(self) -> dict:
        return self.runtime.stats()

    def take_timeline(self) -> list[tuple]:
        return self.runtime.take_timeline()


class RemoteValue:
    """A handle on a tensor held in the object store (an ObjectRef of a WireTensor)."""

    __slots__ = ("ref", "device_id")

    def __init__(self, ref: Any, device_id: str) -> None:
        self.ref = ref
        self.device_id = device_id

    def ready(self) -> bool:
        import ray

        done, _ = ray.wait([self.ref], timeout=0)
        return bool(done)

    def fetch(self, timeout: float | None = None):
        return fetch_values([self.ref], timeout)[0]


def fetch_values(refs: list, timeout: float | None = None) -> list:
    """Gets ObjectRefs' values as NumPy arrays (or error values). Raises
    StepTimeoutError after ``timeout`` seconds and DeviceError if an actor died."""
    import ray
    from ray.exceptions import GetTimeoutError, ObjectLostError, RayActorError

    try:
        objs = ray.get(refs, timeout=timeout)
    except GetTimeoutError:
        raise StepTimeoutError(
            f"the result was not ready within {timeout} s",
            hint="raise the timeout, or check `tfrt-ray cluster status` for a stuck device",
        ) from None
    except (RayActorError, ObjectLostError) as exc:
        raise DeviceLostError(
            f"a device actor (or its node) died while computing this result: "
            f"{type(exc).__name__}",
            hint="the runtime replaces dead devices and re-runs the step; if this reaches "
            "you, recovery was impossible (see the error's cause)",
        ) from None
    # A value in a device's shared-memory block is the user's to keep: copy it out, as
    # the block is reused once the step was read.
    return [np.array(transport.decode(o)) if type(o) is transport.ArenaTensor
            else transport.decode(o) for o in objs]


class ActorDevice:
    """A device runtime inside a Ray actor.

    It remembers every stage loaded on it, so that when its actor dies `revive` can make
    a new incarnation (on a live node) and load them all again.
    """

    def __init__(
        self, device_id: str, actor: Any, node_id: str, cores: int, respawn=None,
        arena_dir: str | None = None, host=None,
    ) -> None:
        self.device_id = device_id
        self.arena_dir = arena_dir  # the session's shared-memory directory (None: off)
        self.host = host  # the driver's `HostArena` (None: off), used when on its node
        self.actor = actor
        self.node_id = node_id
        self.cores = cores
        self.incarnation = 0
        self.loaded: dict[str, tuple] = {}
        self._respawn = respawn  # (device_id, preferred node id) -> (actor, node id)
        self._loads: list = []
        self._methods: dict[tuple[str, int], Any] = {}  # (method, outputs) -> handle
        self._released: list[int] = []  # step tags whose arena blocks may be reused
        self._release_lock = threading.Lock()

    def load(self, key: str, nodes, types, inputs, outputs) -> None:
        self.loaded[key] = (nodes, types, inputs, outputs)
        self._loads.append(self.actor.load.remote(key, nodes, types, inputs, outputs))

    def wait_loaded(self) -> None:
        import ray

        loads, self._loads = self._loads, []
        ray.get(loads)

    @property
    def near_host(self) -> bool:
        """Whether this device runs on the driver's node, with shared memory there."""
        return self.host is not None and self.arena_dir is not None \
            and self.host.node_id == self.node_id

    def put(self, array: np.ndarray, tag: int | None = None) -> Any:
        """An input for this device: small ones travel inline with the call (Ray puts
        them in the call itself); large ones of step ``tag`` go into the driver's
        shared memory when this device is on its node, else into the object store once."""
        if tag is not None and self.near_host:
            wire = self.host.encode(array, tag)
        else:
            wire = transport.encode(array)
        if type(wire) is transport.ArenaTensor or wire.nbytes < INLINE_BYTES:
            return wire
        import ray

        return ray.put(wire)

    def call(self, key: str, args: Sequence, n_outputs: int, profile: bool = False,
             shared: tuple | None = None) -> list:
        """Runs a loaded stage; one future per output. With ``shared = (step tag, output
        positions, mailbox paths)`` the outputs at those positions go through the actor's
        shared-memory arena (for readers on its node), each also posted to its mailbox
        (see `transport.Posted`), and the blocks of released steps are freed first.
        """
        name = "run_shared" if shared is not None else "run_profiled" if profile else "run"
        method = self._method(name, n_outputs)
        if shared is None:
            refs = method.remote(key, *args)
        else:
            with self._release_lock:
                released, self._released = tuple(self._released), []
            tag, positions, mailboxes = shared
            refs = method.remote(key, (tag, positions, released, profile, mailboxes), *args)
        return [refs] if n_outputs == 1 else list(refs)

    def call_many(self, key: str, flat_args: Sequence, k: int, n_outputs: int) -> list:
        """One actor call running the stage for ``k`` steps (their inputs follow each
        other in ``flat_args``); per step, one future per output."""
        n = k * n_outputs
        refs = self._method("run_many", n).remote(key, k, *flat_args)
        refs = [refs] if n == 1 else list(refs)
        return [refs[i * n_outputs : (i + 1) * n_outputs] for i in range(k)]

    def _method(self, name: str, n_outputs: int):
        """The actor's method ``name`` returning ``n_outputs`` values, made once."""
        method = self._methods.get((name, n_outputs))
        if method is None:
            base = getattr(self.actor, name)
            # One output: the plain method (Ray's options wrapper costs ~50 us a call).
            method = base if n_outputs == 1 else base.options(num_returns=n_outputs)
            self._methods[(name, n_outputs)] = method
        return method

    def release_later(self, tag: int) -> None:
        """Frees the step's arena blocks with the next call (the step was fully read)."""
        with self._release_lock:
            self._released.append(tag)

    def flush_released(self) -> None:
        if self._released:
            self.fence()

    def fence(self) -> Any:
        """A call queued behind every call made to this device so far (it also sends the
        releases waiting for a next call): when its future is ready, they are all over."""
        with self._release_lock:
            released, self._released = tuple(self._released), []
        return self.actor.release_shared.remote(released)

    def unload(self, key: str) -> None:
        self.loaded.pop(key, None)
        self.actor.unload.remote(key)

    def stats(self) -> dict:
        import ray

        return ray.get(self.actor.info.remote())

    def take_timeline(self) -> list[tuple]:
        import ray

        return ray.get(self.actor.take_timeline.remote())

    def alive(self, timeout: float = 10.0) -> bool:
        import ray

        try:
            ray.get(self.actor.ping.remote(), timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - dead, unreachable or hung: not alive
            return False

    def revive(self) -> None:
        """Replaces a dead actor with a new incarnation and reloads its stages.

        Raises DeviceLostError when no live node can host it (within the session's
        recovery timeout).
        """
        import ray

        if self._respawn is None:
            raise DeviceLostError(f"device '{self.device_id}' died", device=self.device_id)
        actor, node_id = self._respawn(self.device_id, self.node_id)
        self.actor, self.node_id = actor, node_id
        self.incarnation += 1
        self._methods.clear()
        ray.get([actor.load.remote(k, *payload) for k, payload in self.loaded.items()])
        if self.arena_dir and not ray.get(actor.info.remote())["shared_memory"]:
            self.arena_dir = None  # no shared memory where it came back: readers ask Ray

    # ---- eager ops under `tr.device(...)` (`tfrt_ray.frontends.dispatch`) ----------

    def run_op(self, op: str, attrs: dict, n_outputs: int, args: Sequence) -> list:
        """Runs one eager op on the actor; returns its outputs' ObjectRefs at once (of
        WireTensors, or of the op's error). ``args``: ObjectRefs or `put` values."""
        refs = self.actor.run_op.options(num_returns=n_outputs).remote(op, attrs, n_outputs,
                                                                       *args)
        return [refs] if n_outputs == 1 else list(refs)
