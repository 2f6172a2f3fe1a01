"""Starting a session's device actors on the cluster's nodes (`tfrt_ray.cluster.session`):
one per slot of CPUs (or per device a plugin type finds), pinned to its node, and new
incarnations of one that died."""

from __future__ import annotations

import contextlib
from typing import Any

from scheduler import DeviceSpec
from tfrt_ray.errors import ClusterError, DeviceLostError
from tfrt_ray.runtime.devices import ActorDevice


def make_devices(session, devices, cores, per_node, mem_limit, recovery_timeout_s) -> None:

    slots = []
    for node in alive_nodes():
        cpus = int(node.get("Resources", {}).get("CPU", 0)) // max(cores, 1)
        if per_node is not None:
            cpus = min(cpus, per_node)
        slots += [node["NodeID"]] * cpus
    want = len(slots) if devices is None else devices
    if want > len(slots):
        raise ClusterError(
            f"asked for {want} devices of {cores} core(s); the cluster offers {len(slots)}",
            hint="ask for fewer devices or fewer cores per device, or add nodes",
        )

    def respawn(device_id: str, node_id: str):
        actor, node = _spawn(device_id, cores, mem_limit, node_id, True, recovery_timeout_s,
                             arena=session.arena)
        session.arena_nodes.add(node)
        return actor, node

    handles = []
    for i, node_id in enumerate(slots[:want]):
        device_id = f"cpu:{i}"
        actor = _actor(device_id, cores, mem_limit, node_id, soft=False, arena=session.arena)
        handles.append(actor)
        session.arena_nodes.add(node_id)
        session.devices[device_id] = ActorDevice(device_id, actor, node_id, cores, respawn,
                                                 arena_dir=session.arena_dir,
                                                 host=session.host)
        session.specs.append(
            DeviceSpec(
                device_id,
                "cpu",
                node_id[:12],
                cores=cores,
                mem_bytes=mem_limit or 4 << 30,
                flops_per_s=2e10 * cores,
            )
        )
    _wait_started(session, handles, recovery_timeout_s)  # fail here, not at the first step


def alive_nodes() -> list[dict]:
    """Ray's live nodes, the head first (it carries Ray's internal head resource)."""
    import ray

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    return sorted(
        nodes,
        key=lambda n: ("node:__internal_head__" not in n.get("Resources", {}), n["NodeID"]),
    )


def make_plugin_devices(session, device_types, cores, mem_limit, recovery_timeout_s) -> None:
    from tfrt_ray.cluster import device_discovery
    from tfrt_ray.core.device_types import get_device_type

    for name in device_types:
        get_device_type(name)  # a clear DeviceError for an unknown type
    nodes = [n["NodeID"] for n in alive_nodes()]
    handles = []
    for node_id, found in device_discovery.discover_on_nodes(nodes).items():
        for name in device_types:
            for local in found.get(name, []):
                device_id = f"{name}:{sum(s.type == name for s in session.specs)}"

                def respawn(did: str, nid: str, _t: str = name):
                    actor, node = _spawn(did, cores, mem_limit, nid, True, recovery_timeout_s,
                                         _t, arena=session.arena)
                    session.arena_nodes.add(node)
                    return actor, node

                actor = _actor(device_id, cores, mem_limit, node_id, soft=False,
                               device_type=name, arena=session.arena)
                handles.append(actor)
                session.arena_nodes.add(node_id)
                session.devices[device_id] = ActorDevice(device_id, actor, node_id, cores,
                                                         respawn, arena_dir=session.arena_dir,
                                                         host=session.host)
                session.specs.append(device_discovery.device_spec(
                    name, device_id, node_id[:12], local, cores, mem_limit))
    if not handles:
        raise ClusterError(
            f"no devices of type(s) {list(device_types)} were found on the cluster's nodes",
            hint="check `tfrt-ray devices` on a node; GPUs need CuPy and a visible GPU",
        )
    _wait_started(session, handles, recovery_timeout_s)


START_TIMEOUT_S = 120.0  # first start of the device actors, at least: a loaded machine is slow


def _wait_started(session, handles, timeout: float) -> None:
    """Waits for new device actors; one that cannot be scheduled is an error, not a hang.
    A short recovery timeout (the bound on replacing a lost device) never fails ``init``
    on a slow machine: the first start waits at least START_TIMEOUT_S."""
    import ray

    timeout = max(timeout, START_TIMEOUT_S)
    refs = {h.info.remote(): h for h in handles}
    ready, pending = ray.wait(list(refs), num_returns=len(refs), timeout=timeout)
    if pending:
        stuck = {refs[r] for r in pending}
        names = [d.device_id for d in session.devices.values()
                 if isinstance(d, ActorDevice) and d.actor in stuck]
        raise ClusterError(
            f"device actor(s) {names} did not start within {timeout:.0f} s: their nodes "
            "lack the CPUs/GPUs they need",
            hint="ask for fewer devices or cores per device, or add resources to the nodes",
        )
    infos = ray.get(ready)  # raises if an actor failed in its constructor
    without = {id(refs[r]) for r, info in zip(ready, infos) if not info["shared_memory"]}
    for device in session.devices.values():
        if isinstance(device, ActorDevice) and id(device.actor) in without:
            device.arena_dir = None  # no shared memory there: its readers ask Ray


def _actor(device_id: str, cores: int, mem_limit, node_id: str, soft: bool,
           device_type: str = "cpu", arena: tuple[str | None, int] = (None, 0)):
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from device_actors.actor import DeviceActor

    options: dict[str, Any] = {"num_cpus": cores}
    if device_type != "cpu":
        from tfrt_ray.cluster import device_discovery

        options.update(device_discovery.actor_options(device_type))
        options["num_cpus"] = cores
    return DeviceActor.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=soft),
        max_restarts=0,  # the runtime replaces dead devices itself (and reloads them)
        **options,
    ).remote(device_id, device_type, cores, mem_limit, *arena)


def _spawn(device_id, cores, mem_limit, node_id, soft: bool, timeout: float,
           device_type: str = "cpu", arena: tuple[str | None, int] = (None, 0)):
    """A new incarnation of a device: on ``node_id`` if it lives, else any live node."""
    import ray

    actor = _actor(device_id, cores, mem_limit, node_id, soft=soft, device_type=device_type,
                   arena=arena)
    try:
        info = ray.get(actor.info.remote(), timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - unschedulable or dead: recovery failed
        with contextlib.suppress(Exception):
            ray.kill(actor)
        raise DeviceLostError(
            f"device '{device_id}' died and no live node could host it again within "
            f"{timeout:.0f} s ({type(exc).__name__})",
            device=device_id,
            hint="add nodes or free CPUs on the cluster, then compile the program again",
        ) from None
    return actor, info["node_id"]
