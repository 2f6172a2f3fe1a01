"""Placement: which device runs each node.

Constraints first (`constraints.resolve`): device hints are soft (an impossible one is a
warning), colocation groups and device-type support are hard (impossible ones raise
PlacementError). Then the cost model (`list_schedule.ListScheduler`: a greedy list schedule in
topological order over the inputs' devices and the least-loaded device) places every other
node where it would finish first, under each device's memory. Deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from scheduler.cluster_spec import ClusterSpec
from scheduler.constraints import TypeSupport, resolve
from scheduler.costs import graph_costs
from scheduler.gc_pause import without_gc
from scheduler.list_schedule import ListScheduler
from tfrt_ray.errors import PlacementError


@dataclass(frozen=True)
class Placement:
    """``assign``: node name -> device id. ``predicted``: device id -> seconds of compute per
    step (devices with none are absent). ``makespan_s``: the op-level list schedule's step
    time (without per-stage call overheads; `partition` predicts those)."""

    assign: dict[str, str]
    warnings: tuple[str, ...] = ()
    predicted: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    makespan_s: float = 0.0
    cluster: ClusterSpec | None = field(default=None, repr=False, compare=False)
    # (graph, device ids, device index per node): lets partition skip name lookups.
    _fast: tuple | None = field(default=None, repr=False, compare=False)

    def devices_used(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.assign.values()))


@without_gc
def place(
    graph,
    cluster: ClusterSpec,
    *,
    hints: dict[str, str] | None = None,
    colocate: list[set[str]] | None = None,
    supports: Callable[[str, str], bool] | None = None,
    input_device: str | None = None,
    small_flops: float = 1e4,
) -> Placement:
    """Places every node of ``graph`` on a device of ``cluster``.

    ``hints``: node name -> device id, or a device type meaning any device of that type.
    ``colocate``: groups of node names that share a device (a hint on a member applies to
    the group). ``supports(op, device_type)``: whether a device type runs an op (default:
    all do). ``input_device``: where the graph inputs arrive (default: the first device).
    Nodes under ``small_flops`` follow their largest input.
    """
    devs = cluster.devices
    D = len(devs)
    if D == 0:
        raise PlacementError("the cluster has no devices", hint="add devices to the ClusterSpec")
    nodes = graph.nodes
    costs = graph_costs(graph)
    warnings: list[str] = []
    types = cluster.types()
    tpos = {t: k for k, t in enumerate(types)}
    type_of = [tpos[d.type] for d in devs]
    support = TypeSupport(supports, types)
    groups, node_group = resolve(graph, cluster, type_of, support, hints, colocate, warnings)
    group_dev: list[int] = [-1] * len(groups)
    home = 0
    if input_device is not None:
        if input_device in cluster:
            home = cluster.index(input_device)
        else:
            warnings.append(f"input_device '{input_device}' is not in the cluster; ignored")

    sched = ListScheduler(graph, cluster, costs, type_of, support, home, small_flops)
    sched.run(node_group, groups, group_dev)
    sched.place_leftovers(home)
    warnings.extend(sched.warnings)

    ids = cluster.ids
    node_dev = sched.node_dev
    assign = dict(zip((n.name for n in nodes), map(ids.__getitem__, node_dev), strict=True))
    if len(assign) != len(nodes):
        raise PlacementError(
            "node names are not unique, so a placement (node name -> device) cannot name them",
            hint="build graphs with GraphBuilder, which makes node names unique",
        )
    busy, free = sched.busy, sched.free
    predicted = {ids[d]: busy[d] for d in range(D) if busy[d] > 0.0}
    makespan = max(free, default=0.0)
    notes = (
        f"list schedule: {len(nodes)} nodes onto {len(set(node_dev))} of {D} devices, "
        f"predicted makespan {makespan:.3g} s; {sched.n_small} trivial nodes "
        f"(< {small_flops:g} flops) followed their inputs",
    )
    return Placement(
        assign, tuple(warnings), predicted, notes, makespan, cluster, (graph, ids, node_dev)
    )
