"""`tfrt_ray.init()` and `shutdown()`: the devices this process runs on.

- ``init()``: the embedded default, the in-process host device only; no Ray.
- ``init(devices=N)``: N CPU device actors on a local Ray that tfrt-ray starts itself (its
  own temp dir, no dashboard, token authentication as Ray 2.60 sets it up), or on the
  Ray this process is already connected to. On Linux, Ray's own processes listen on the
  node's address, not loopback (Ray resolves "127.0.0.1" to the reachable address and
  offers no setting to keep a local cluster on loopback); its token authentication is
  what keeps other machines out. tfrt-ray itself starts no server.
- ``init(address=...)``: joins a running cluster (``"auto"``, ``RAY_ADDRESS``, or
  ``host:port``) and makes a device actor per CPU it offers (or ``devices`` of them).

``shutdown()`` kills the actors it made and stops Ray only if it started it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scheduler import ClusterSpec, DeviceSpec
from tfrt_ray.cluster import reaper
from tfrt_ray.cluster.call_cost import DEFAULT_S as DEFAULT_CALL_S
from tfrt_ray.cluster.call_cost import measure_call_overhead_s
from tfrt_ray.cluster.shared_memory import (
    new_arena_dir,
    remove_on_nodes,
    remove_semaphores,
    sweep_stale_arenas,
)
from tfrt_ray.cluster.spawn import alive_nodes, make_devices, make_plugin_devices
from tfrt_ray.errors import ClusterError
from tfrt_ray.runtime.devices import ActorDevice, HostDevice
from tfrt_ray.runtime.host_arena import HostArena

HOST_ID = "host:0"
log = logging.getLogger("tfrt_ray.cluster")


@dataclass
class Session:
    """The devices of this process, and what tfrt-ray started to get them."""

    devices: dict[str, Any] = field(default_factory=dict)
    specs: list[DeviceSpec] = field(default_factory=list)
    started_ray: bool = False
    temp_dir: str | None = None
    reaper_fd: int | None = None
    # What one stage call costs the planner: measured on a device actor at `init`.
    call_overhead_s: float = DEFAULT_CALL_S
    # Where device actors keep their shared-memory blocks (one directory per session,
    # on each node's /dev/shm); None: no arena.
    arena_dir: str | None = None
    arena_bytes: int = 0  # per device actor
    host: Any = None  # the driver's `HostArena`: large step inputs for devices on its node
    # Every node a device actor of the session ran on (its arena directory is there).
    arena_nodes: set[str] = field(default_factory=set)

    @property
    def arena(self) -> tuple[str | None, int]:
        """(directory, bytes) each device actor of the session gets."""
        return self.arena_dir, self.arena_bytes

    def cluster_spec(self) -> ClusterSpec:
        return ClusterSpec(tuple(self.specs), call_overhead_s=self.call_overhead_s)

    @property
    def device_ids(self) -> list[str]:
        return [s.id for s in self.specs]


_host = HostDevice(HOST_ID, cores=os.cpu_count() or 1)
_session: Session | None = None


def host_session() -> Session:
    return Session(
        {HOST_ID: _host}, [DeviceSpec(HOST_ID, "cpu", "local", cores=_host.runtime.cores)]
    )


def current() -> Session:
    """The active session (the host-only embedded default when `init` was not called)."""
    return _session if _session is not None else host_session()


def init(
    devices: int | None = None,
    address: str | None = None,
    *,
    cores_per_device: int = 1,
    devices_per_node: int | None = None,
    mem_limit_bytes: int | None = None,
    object_store_memory: int | None = None,
    recovery_timeout_s: float = 60.0,
    device_types: Sequence[str] = (),
    shared_memory_bytes: int = 2 << 30,
) -> Session:
    """Starts or joins the devices this process runs on. See the module docstring.

    Args:
        devices: how many device actors to make (default: one per CPU offered).
        address: a Ray cluster to join; None starts a local Ray when devices are asked for.
        cores_per_device: cores (and BLAS threads) each device actor gets.
        devices_per_node: at most this many devices per Ray node (spreads them out).
        mem_limit_bytes: the memory each device may hold for weights.
        object_store_memory: for a local Ray that tfrt-ray starts.
        recovery_timeout_s: how long replacing a dead device may take before the steps
            that need it fail with DeviceLostError.
        device_types: plugin device types (``"ort"``, ``"gpu"``, an installed plugin's)
            to make device actors for too: one per device each finds on each node.
        shared_memory_bytes: per device actor, the most bytes of step outputs it keeps in
            shared memory for readers on its node (`device_actors.arena`), and the same
            for the step inputs this driver hands to devices on its node
            (`runtime.host_arena`); beyond that, values take Ray's object store. 0 turns
            the arena off.
    """
    global _session
    if _session is not None:
        shutdown()
    wants_ray = devices is not None or devices_per_node is not None or address is not None
    if not wants_ray and not os.environ.get("RAY_ADDRESS"):
        _session = host_session()
        return _session
    import ray

    session = Session()
    if shared_memory_bytes > 0:
        sweep_stale_arenas()
        session.arena_dir = new_arena_dir()
    session.arena_bytes = shared_memory_bytes
    if not ray.is_initialized():
        session.started_ray = address is None and not os.environ.get("RAY_ADDRESS")
        _start_or_join(session, address, devices, cores_per_device, object_store_memory)
    session.host = HostArena.open(session.arena_dir, session.arena_bytes, _driver_node())
    try:
        make_devices(
            session,
            devices,
            cores_per_device,
            devices_per_node,
            mem_limit_bytes,
            recovery_timeout_s,
        )
        if device_types:
            make_plugin_devices(
                session, device_types, cores_per_device, mem_limit_bytes, recovery_timeout_s
            )
        actors = [d.actor for d in session.devices.values() if isinstance(d, ActorDevice)]
        if actors:
            session.call_overhead_s = measure_call_overhead_s(actors[0])
    except Exception:
        _stop(session)
        raise
    _session = session
    log.info("tfrt-ray session: %d device(s) %s%s; a stage call costs %.0f us",
             len(session.devices), session.device_ids,
             " on a local Ray started here" if session.started_ray else "",
             session.call_overhead_s * 1e6)
    return session


def _driver_node() -> str | None:
    """The Ray node this driver runs on (None for a Ray Client driver: it runs on no
    node, and its files are not on the cluster's machines)."""
    import ray
    from ray.util.client import ray as client

    if client.is_connected():
        return None
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # noqa: BLE001 - no local node: inputs take Ray's path
        return None


def _start_or_join(session, address, devices, cores, object_store_memory) -> None:
    import ray

    kwargs: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "namespace": "tfrt_ray",
    }
    if session.started_ray:
        session.temp_dir = tempfile.mkdtemp(prefix="tfrt-ray-")
        # Ray keeps some files under $RAY_TMPDIR/ray even when given a temp dir.
        os.environ.setdefault("RAY_TMPDIR", session.temp_dir)
        # A Ray started for this process reports no usage to Ray's servers (Ray's
        # documented opt-out); a user who wants it sets RAY_USAGE_STATS_ENABLED=1.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        want = max((devices or 1) * cores, os.cpu_count() or 1)
        kwargs.update(
            num_cpus=want,
            _temp_dir=session.temp_dir,
            object_store_memory=object_store_memory or 512 * 1024**2,
        )
    else:
        kwargs["address"] = address or os.environ.get("RAY_ADDRESS")
    tagged = session.started_ray and session.temp_dir
    if tagged:  # every process this Ray starts inherits the tag its reaper looks for
        os.environ[reaper.TAG] = session.temp_dir
    try:
        ray.init(**kwargs)
        if tagged:
            session.reaper_fd = reaper.start(session.temp_dir, session.temp_dir)
    except Exception as exc:  # noqa: BLE001 - Ray's own errors vary; say what to do
        what = "start a local Ray" if session.started_ray else f"join {kwargs.get('address')}"
        raise ClusterError(
            f"could not {what}: {exc}",
            hint="for a secured cluster set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or "
            "RAY_AUTH_TOKEN_PATH) to the cluster's token; check the address and that Ray "
            "2.60 runs there",
        ) from exc
    finally:
        if tagged:
            os.environ.pop(reaper.TAG, None)


def shutdown() -> None:
    """Releases what `init` started: its device actors, and Ray if it started it."""
    global _session
    session, _session = _session, None
    if session is not None:
        log.info("tfrt-ray shutdown: releasing %d device(s)%s", len(session.devices),
                 " and the local Ray" if session.started_ray else "")
        _stop(session)


def _stop(session: Session) -> None:
    ray = sys.modules.get("ray")  # an in-process session never imported it
    if ray is None or not ray.is_initialized():
        return
    actors = [h.actor for h in session.devices.values() if isinstance(h, ActorDevice)]
    with contextlib.suppress(Exception):  # each removes its shared-memory files
        closing = [a.close_shared.remote() for a in actors]
        ray.wait(closing, num_returns=len(closing), timeout=10)
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)
    if session.host is not None:
        session.host.close()
    if session.arena_dir:  # and what dead incarnations left, here and on other nodes
        shutil.rmtree(session.arena_dir, ignore_errors=True)
        remove_semaphores(session.arena_dir)  # of channels left open
        alive = {n["NodeID"] for n in alive_nodes()}
        with contextlib.suppress(Exception):
            remove_on_nodes(session.arena_dir, (session.arena_nodes & alive) - {_driver_node()})
    if session.started_ray:
        ray.shutdown()
        if session.reaper_fd is not None:
            fd, session.reaper_fd = session.reaper_fd, None
            reaper.release(fd)
