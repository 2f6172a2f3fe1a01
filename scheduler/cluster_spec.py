"""What the scheduler knows about a cluster: its devices, their speed and memory, and the
links between them. Plain data (device ids are strings); no Ray."""

from __future__ import annotations

from dataclasses import dataclass, field

from tfrt_ray.errors import ConfigError, DeviceError


@dataclass(frozen=True)
class DeviceSpec:
    """One device runtime: ``id`` is unique in the cluster (``"cpu:3"``), ``type`` picks its
    kernels (``"cpu"``), ``node`` is the machine it lives on."""

    id: str
    type: str
    node: str
    flops_per_s: float = 2e10
    mem_bytes: int = 4 << 30
    cores: int = 1

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "type": self.type,
            "node": self.node,
            "flops_per_s": self.flops_per_s,
            "mem_bytes": self.mem_bytes,
            "cores": self.cores,
        }


@dataclass(frozen=True)
class ClusterSpec:
    """The devices a plan may use and a simple link model.

    A transfer of ``n`` bytes between two devices takes ``n / bandwidth`` seconds, with the
    intra-node bandwidth when both devices are on one node, else the inter-node one. Every
    stage call on a device costs ``call_overhead_s`` (dispatch, argument handling).
    """

    devices: tuple[DeviceSpec, ...]
    intra_node_bytes_per_s: float = 5e9
    inter_node_bytes_per_s: float = 1.2e9
    call_overhead_s: float = 5e-4
    _index: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        devices = tuple(self.devices)
        object.__setattr__(self, "devices", devices)
        index: dict[str, int] = {}
        for i, d in enumerate(devices):
            if d.id in index:
                raise ConfigError(
                    f"device id '{d.id}' appears twice in the cluster spec",
                    hint="give every device a unique id",
                )
            if d.flops_per_s <= 0 or d.mem_bytes < 0:
                raise ConfigError(
                    f"device '{d.id}' has flops_per_s={d.flops_per_s}, mem_bytes={d.mem_bytes}",
                    hint="flops_per_s must be > 0 and mem_bytes >= 0",
                )
            index[d.id] = i
        if self.intra_node_bytes_per_s <= 0 or self.inter_node_bytes_per_s <= 0:
            raise ConfigError("link bandwidths must be > 0")
        object.__setattr__(self, "_index", index)

    # ---- lookups -------------------------------------------------------------------

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(d.id for d in self.devices)

    def __len__(self) -> int:
        return len(self.devices)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._index

    def index(self, device_id: str) -> int:
        """The position of a device in ``devices`` (the cluster's device order)."""
        try:
            return self._index[device_id]
        except KeyError:
            raise DeviceError(
                f"no device '{device_id}' in the cluster spec",
                device=device_id,
                hint=f"devices are {_preview(self.ids)}",
            ) from None

    def device(self, device_id: str) -> DeviceSpec:
        return self.devices[self.index(device_id)]

    def types(self) -> tuple[str, ...]:
        """Device types present, in order of first appearance."""
        return tuple(dict.fromkeys(d.type for d in self.devices))

    def same_node(self, a: str, b: str) -> bool:
        return self.device(a).node == self.device(b).node

    def bandwidth(self, src: str, dst: str) -> float:
        if self.same_node(src, dst):
            return self.intra_node_bytes_per_s
        return self.inter_node_bytes_per_s

    def transfer_time(self, nbytes: float, src: str, dst: str) -> float:
        """Seconds to move ``nbytes`` from device ``src`` to ``dst`` (0 when they are one)."""
        if src == dst:
            return 0.0
        return nbytes / self.bandwidth(src, dst)

    # ---- construction --------------------------------------------------------------

    @staticmethod
    def simulated(
        n_devices: int,
        devices_per_node: int = 8,
        type: str = "cpu",
        *,
        flops_per_s: float = 2e10,
        mem_bytes: int = 4 << 30,
        cores: int = 1,
        **links: float,
    ) -> ClusterSpec:
        """``n_devices`` identical fake devices ``"<type>:<i>"``, ``devices_per_node`` per
        node ``"node<k>"``; ``links`` sets the ClusterSpec link fields."""
        if n_devices < 1 or devices_per_node < 1:
            raise ConfigError("a simulated cluster needs n_devices >= 1 and devices_per_node >= 1")
        devices = tuple(
            DeviceSpec(
                f"{type}:{i}", type, f"node{i // devices_per_node}", flops_per_s, mem_bytes, cores
            )
            for i in range(n_devices)
        )
        return ClusterSpec(devices, **links)

    def to_dict(self) -> dict:
        return {
            "devices": [d.to_dict() for d in self.devices],
            "intra_node_bytes_per_s": self.intra_node_bytes_per_s,
            "inter_node_bytes_per_s": self.inter_node_bytes_per_s,
            "call_overhead_s": self.call_overhead_s,
        }

    @staticmethod
    def from_dict(data: dict) -> ClusterSpec:
        devices = tuple(DeviceSpec(**d) for d in data["devices"])
        rest = {k: v for k, v in data.items() if k != "devices"}
        return ClusterSpec(devices, **rest)


def _preview(ids: tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")
