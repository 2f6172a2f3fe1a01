"""What the cluster needs of the device types (`tfrt_ray.core.device_types`): the devices
each Ray node has, the Ray actor options a device actor needs, and the scheduler's
`DeviceSpec` of each device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tfrt_ray.core.device_types import LocalDevice, discover_local, get_device_type


def actor_options(device_type: str) -> dict[str, Any]:
    """The Ray actor options (resources) a device actor of ``device_type`` needs."""
    return dict(get_device_type(device_type).resources)


def device_spec(device_type: str, device_id: str, node: str, device: LocalDevice | None = None,
                cores: int = 1, mem_limit_bytes: int | None = None):
    """The scheduler's `DeviceSpec` of one device of ``device_type`` (its cost figures)."""
    from scheduler import DeviceSpec

    dt = get_device_type(device_type)
    mem = mem_limit_bytes or (device.mem_bytes if device is not None else 4 << 30)
    flops = dt.flops_per_s * (cores if dt.name == "cpu" else 1)
    return DeviceSpec(device_id, dt.name, node, flops_per_s=flops, mem_bytes=mem, cores=cores)


def discover_on_nodes(node_ids: Sequence[str]) -> dict[str, dict[str, list[LocalDevice]]]:
    """`discover_local` run on each Ray node (a zero-CPU task pinned to the node)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0)(discover_local)
    refs = {
        nid: task.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(nid, soft=False)
        ).remote()
        for nid in node_ids
    }
    return {nid: ray.get(ref) for nid, ref in refs.items()}
