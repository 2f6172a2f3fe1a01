"""The cluster-config schema: the pydantic models of a cluster config."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
)

from tfrt_ray.cluster.config.values import (
    Flops,
    Name,
    Size,
    _device_type,
    _jobs_address,
    _ray_address,
)

if TYPE_CHECKING:
    from scheduler.cluster_spec import ClusterSpec, DeviceSpec


# ---- the schema -----------------------------------------------------------------------------


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    what: ClassVar[str] = "this section"


class DeviceGroup(_Section):
    """``count`` identical devices of one type on a node."""

    what: ClassVar[str] = "a device entry"

    type: Annotated[str, AfterValidator(_device_type)] = Field(
        description="type picks the device's kernels: 'cpu', 'gpu' or a plugin's type, "
        "e.g. 'type: cpu'"
    )
    count: int = Field(
        1,
        ge=1,
        le=65_536,
        description="count is how many devices of this type the node has: a whole number "
        ">= 1, e.g. 'count: 2'",
    )
    cores_per_device: int = Field(
        1,
        ge=1,
        le=4096,
        description="cores_per_device is how many CPU cores each device runtime may use "
        "(its thread cap and Ray CPU request): a whole number >= 1, e.g. 'cores_per_device: 2'",
    )
    memory: Size = Field(
        4 << 30,
        description="memory is what each device may hold, e.g. 'memory: 4GiB' or 'memory: 512MiB'",
    )
    flops: Flops = Field(
        2e10,
        description="flops is each device's compute speed for the cost model, e.g. "
        "'flops: 20 GFLOP/s' or 'flops: 2e10'",
    )


class NodeGroup(_Section):
    """One machine, or ``count`` identical ones (``<name>-0`` ... ``<name>-<count-1>``)."""

    what: ClassVar[str] = "a node entry"

    name: Name = Field(
        description="name is the node's unique name, e.g. 'name: worker' (letters, digits, "
        "'-', '_', '.')"
    )
    count: int = Field(
        1,
        ge=1,
        le=10_000,
        description="count is how many identical machines this entry describes; they are "
        "named <name>-0, <name>-1, ... (a whole number >= 1, e.g. 'count: 2')",
    )
    devices: list[DeviceGroup] = Field(
        min_length=1,
        description="devices lists the node's devices, one '- type: ...' entry per kind, e.g. "
        "'devices: [{type: cpu, count: 2}]'",
    )

    def node_names(self) -> tuple[str, ...]:
        if self.count == 1:
            return (self.name,)
        return tuple(f"{self.name}-{i}" for i in range(self.count))


class Links(_Section):
    """Link speeds for the scheduler's cost model."""

    what: ClassVar[str] = "the links section"

    intra_node_gbps: float = Field(
        40.0,
        gt=0,
        allow_inf_nan=False,
        description="intra_node_gbps is the bandwidth between devices on one node in Gbit/s, "
        "a number > 0, e.g. 'intra_node_gbps: 40'",
    )
    inter_node_gbps: float = Field(
        10.0,
        gt=0,
        allow_inf_nan=False,
        description="inter_node_gbps is the bandwidth between nodes in Gbit/s (10 for 10GbE), "
        "a number > 0, e.g. 'inter_node_gbps: 10'",
    )
    call_overhead_us: float = Field(
        500.0,
        ge=0,
        allow_inf_nan=False,
        description="call_overhead_us is the cost of one stage call on a device in "
        "microseconds, a number >= 0, e.g. 'call_overhead_us: 500'",
    )


class RaySettings(_Section):
    """How to reach Ray. Leave it out to run in-process or start a local Ray."""

    what: ClassVar[str] = "the ray section"

    address: Annotated[str, AfterValidator(_ray_address)] | None = Field(
        None,
        description="address is where Ray runs: 'auto' (a Ray started on this machine), "
        "'local' (start one), 'host:6379' or 'ray://host:10001'",
    )
    namespace: Name | None = Field(
        None, description="namespace is the Ray namespace to use, e.g. 'namespace: tfrt-ray'"
    )
    jobs_address: Annotated[str, AfterValidator(_jobs_address)] | None = Field(
        None,
        description="jobs_address is the Ray Jobs API URL, e.g. 'http://127.0.0.1:8265' "
        "(the dashboard, bound to loopback; tunnel to it over SSH)",
    )


class ClusterConfig(_Section):
    """A validated cluster config. Build one with :func:`load_cluster_config`."""

    what: ClassVar[str] = "a cluster config"

    name: Name = Field(description="name is the cluster's name, e.g. 'name: laptop'")
    description: str | None = Field(None, description="description is free text")
    ray: RaySettings = Field(
        default_factory=RaySettings,
        description="ray holds how to reach Ray: address, namespace, jobs_address",
    )
    links: Links = Field(
        default_factory=Links,
        description="links holds the cost model's link speeds: intra_node_gbps, "
        "inter_node_gbps, call_overhead_us",
    )
    nodes: list[NodeGroup] = Field(
        min_length=1,
        description="nodes lists the cluster's machines, at least one, e.g. "
        "'nodes: [{name: head, devices: [{type: cpu, count: 2}]}]'",
    )

    _source: str | None = PrivateAttr(None)

    @field_validator("ray", "links", mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        return {} if value is None else value  # "ray:" with nothing under it: the defaults

    @classmethod
    def from_data(cls, data: Any, source: str = "<data>") -> ClusterConfig:
        """Validates a config given as Python data (what the YAML would load to); errors are
        ConfigErrors naming ``source`` and the field (no line numbers)."""
        from tfrt_ray.cluster.config import _validate  # the loader imports this module

        return _validate(data, source, {})

    # ---- views ------------------------------------------------------------------------

    @property
    def source(self) -> str | None:
        """The file this config was loaded from."""
        return self._source

    def node_names(self) -> tuple[str, ...]:
        """Every node, replicas expanded, in file order."""
        return tuple(n for group in self.nodes for n in group.node_names())

    def _expanded(self) -> Iterator[tuple[str, NodeGroup]]:
        for group in self.nodes:
            for node in group.node_names():
                yield node, group

    def device_count(self) -> int:
        return sum(g.count * sum(d.count for d in g.devices) for g in self.nodes)

    def device_counts(self) -> dict[str, int]:
        """Devices per type, in order of first appearance."""
        counts: dict[str, int] = {}
        for group in self.nodes:
            for dev in group.devices:
                counts[dev.type] = counts.get(dev.type, 0) + group.count * dev.count
        return counts

    def devices(self) -> tuple[DeviceSpec, ...]:
        """One DeviceSpec per device, ids ``<type>:<k>`` numbered per type in file order."""
        from scheduler.cluster_spec import DeviceSpec

        next_index: dict[str, int] = {}
        out = []
        for node, group in self._expanded():
            for dev in group.devices:
                for _ in range(dev.count):
                    k = next_index.get(dev.type, 0)
                    next_index[dev.type] = k + 1
                    out.append(
                        DeviceSpec(
                            id=f"{dev.type}:{k}",
                            type=dev.type,
                            node=node,
                            flops_per_s=float(dev.flops),
                            mem_bytes=int(dev.memory),
                            cores=int(dev.cores_per_device),
                        )
                    )
        return tuple(out)

    def to_cluster_spec(self) -> ClusterSpec:
        """The scheduler's view of this cluster (link speeds converted from Gbit/s)."""
        from scheduler.cluster_spec import ClusterSpec

        return ClusterSpec(
            self.devices(),
            intra_node_bytes_per_s=self.links.intra_node_gbps * 1e9 / 8,
            inter_node_bytes_per_s=self.links.inter_node_gbps * 1e9 / 8,
            call_overhead_s=self.links.call_overhead_us * 1e-6,
        )

    def node_resources(self) -> dict[str, dict[str, float]]:
        """The Ray resources each node must offer to host its device actors: every device
        reserves ``cores_per_device`` CPUs, and every ``gpu`` device one GPU."""
        out: dict[str, dict[str, float]] = {}
        for node, group in self._expanded():
            cpus = sum(d.count * d.cores_per_device for d in group.devices)
            gpus = sum(d.count for d in group.devices if d.type == "gpu")
            out[node] = {"CPU": float(cpus), "GPU": float(gpus)}
        return out

    def summary(self) -> str:
        """One line: ``cluster 'x': 3 nodes (a, b, c), 10 devices (cpu: 8, gpu: 2)``."""
        names = self.node_names()
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        per_type = ", ".join(f"{t}: {n}" for t, n in self.device_counts().items())
        n_dev = self.device_count()
        return (
            f"cluster '{self.name}': {len(names)} node{'s' * (len(names) != 1)} ({shown}), "
            f"{n_dev} device{'s' * (n_dev != 1)} ({per_type})"
        )
