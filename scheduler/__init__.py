"""The scheduler: ``(Graph, ClusterSpec) -> Plan``. Placement under hints, colocation,
device-type support and memory, then a cost model; partitioning into per-device stages with
one transfer per (value, destination); pipeline and replica plan shapes. Imports no Ray."""

from scheduler.cluster_spec import ClusterSpec, DeviceSpec
from scheduler.partition import partition
from scheduler.placement import Placement, place
from scheduler.plan import Plan, Stage, Transfer
from scheduler.strategies import plan

__all__ = [
    "ClusterSpec",
    "DeviceSpec",
    "Placement",
    "Plan",
    "Stage",
    "Transfer",
    "partition",
    "place",
    "plan",
]
