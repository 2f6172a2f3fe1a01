"""Partitioning: cut a placed graph into per-device stages and the transfers between them.

level(n) = max over n's producers p of (level(p) if p is on n's device else level(p) + 1),
0 without producers; a stage is the nodes of one (device, level), in topological order, and
stages are emitted by (level, device order). A stage only reads values from lower levels or
from its own device at a lower or equal level, so every stage's inputs are graph inputs or
outputs of earlier stages: the list is a valid schedule. A -> B -> A gives three stages.

One Transfer per (value, destination device), however many stages there read it. Small
input-free nodes (constants) are never transferred: a stage on another device that reads one
holds its own copy. The step
time is predicted by simulating the stages in order: a stage starts when its device is free
and its inputs have arrived, and costs one call overhead plus its nodes' flops / speed.
"""

from __future__ import annotations

from scheduler.cluster_spec import ClusterSpec, DeviceSpec
from scheduler.costs import graph_costs
from scheduler.gc_pause import without_gc
from scheduler.placement import Placement
from scheduler.plan import INPUT, Plan, Stage, Transfer
from tfrt_ray.errors import PlacementError

# Input-free nodes up to this size are copied into each stage that reads them.
COPY_BYTES = 1 << 20


@without_gc
def partition(
    graph,
    placement: Placement,
    cluster: ClusterSpec | None = None,
    *,
    strategy: str = "place",
    notes: tuple[str, ...] = (),
    micro_batches: int = 1,
) -> Plan:
    """The Plan of ``graph`` placed by ``placement`` (see the module docstring)."""
    cluster = cluster or placement.cluster
    ids, node_dev = _device_indices(graph, placement, cluster)
    if cluster is None:
        cluster = ClusterSpec(tuple(DeviceSpec(d, "cpu", "node0") for d in ids))
        notes = (*notes, "no ClusterSpec given: default device speeds and links assumed")
    costs = graph_costs(graph)
    stages, transfers, vdev, work = _cut(graph, ids, node_dev, costs)
    step, per_dev = simulate(graph, stages, work, vdev, costs.vbytes, cluster, ids)
    used = tuple(d for d in ids if d in per_dev)
    all_notes = (*notes, *placement.notes, *(f"warning: {w}" for w in placement.warnings))
    return Plan(
        graph=graph,
        stages=stages,
        transfers=transfers,
        devices=used,
        strategy=strategy,
        predicted_step_s=step,
        per_device_s=per_dev,
        notes=all_notes,
        micro_batches=micro_batches,
    )


def _device_indices(graph, placement: Placement, cluster) -> tuple[tuple[str, ...], list[int]]:
    """(device ids in order, device index per node)."""
    fast = placement._fast
    if fast is not None and fast[0] is graph and (cluster is None or cluster.ids == fast[1]):
        return fast[1], fast[2]
    assign = placement.assign
    if cluster is not None:
        ids = cluster.ids
    else:  # order of first use
        ids = tuple(dict.fromkeys(assign.get(n.name) for n in graph.nodes if n.name in assign))
    pos = {d: k for k, d in enumerate(ids)}
    node_dev = []
    for n in graph.nodes:
        dev = assign.get(n.name)
        k = pos.get(dev)
        if k is None:
            what = "has no device in the placement" if dev is None else f"is on unknown '{dev}'"
            raise PlacementError(
                f"node {what}",
                op=n.op,
                node=n.name,
                loc=n.loc,
                device=dev,
                hint="place every node on a device of the cluster",
            )
        node_dev.append(k)
    return ids, node_dev


def _cut(graph, ids, node_dev, costs) -> tuple:
    """(stages, transfers, device index per value (-1: graph input), flops per stage)."""
    nodes = graph.nodes
    vbytes, flops = costs.vbytes, costs.flops
    nd = len(ids)
    nv = len(graph.types)
    vdev = [-1] * nv  # -1: a graph input
    vlev = [0] * nv
    vkey = [-1] * nv
    is_out = bytearray(nv)
    crossing: set[int] = set()
    buckets: dict[int, tuple[list, list, list]] = {}  # key -> (node idxs, inputs, outputs)
    get = buckets.get
    # Input-free nodes (constants, weights) join the stage of their first consumer on
    # their device, so no stage exists only to hand out constants; they get a level-0
    # stage of their own only when they are a graph output and no stage on their device
    # reads them. A stage on another device that reads one gets its own copy of the node
    # (loaded with the stage, once) instead of a transfer on every step, when it is small
    # (under COPY_BYTES: placement's memory accounting does not see copies).
    pending: dict[int, int] = {}  # value id -> index of its input-free producer, unsettled
    copyable: dict[int, int] = {}  # value id -> index of its small input-free producer
    copied: set[int] = set()  # key * nv + value: an input-free node copied into stage key
    copied_values: set[int] = set()
    reordered: set[int] = set()  # keys of buckets that got an input-free node late

    def bucket(key: int) -> tuple[list, list, list]:
        b = get(key)
        if b is None:
            b = buckets[key] = ([], [], [])
        return b

    def settle(v: int, key: int, level: int) -> None:
        j = pending.pop(v)
        bucket(key)[0].append(j)
        reordered.add(key)
        for w in nodes[j].outputs:
            pending.pop(w, None)
            vlev[w] = level
            vkey[w] = key

    def copy_into(v: int, key: int) -> None:
        if key * nv + v in copied:
            return
        j = copyable[v]
        bucket(key)[0].append(j)
        reordered.add(key)
        copied.update(key * nv + w for w in nodes[j].outputs)
        copied_values.update(nodes[j].outputs)

    for i, n in enumerate(nodes):
        d = node_dev[i]
        ins = n.inputs
        if not ins:
            small = all(vbytes[v] <= COPY_BYTES for v in n.outputs)
            for v in n.outputs:
                vdev[v] = d
                pending[v] = i
                if small:
                    copyable[v] = i
            continue
        level = 0
        for v in ins:
            pd = vdev[v]
            if pd >= 0:
                if v in pending and pd == d or v in copyable and pd != d:
                    continue  # settled with this stage, or copied into it
                lv = vlev[v] if pd == d else vlev[v] + 1
                if lv > level:
                    level = lv
        key = level * nd + d
        for v in ins:
            if v in copyable and vdev[v] != d:
                copy_into(v, key)
            elif v in pending and vdev[v] == d:
                settle(v, key, level)
            elif v in pending:  # large and read elsewhere: a level-0 stage on its device
                settle(v, vdev[v], 0)
        b = bucket(key)
        b[0].append(i)
        for v in ins:
            pk = vkey[v]
            if pk != key and key * nv + v not in copied:
                ck = key * nv + v
                if ck not in crossing:
                    crossing.add(ck)
                    b[1].append(v)
                    if not is_out[v]:
                        is_out[v] = 1
                        if pk >= 0:
                            buckets[pk][2].append(v)
        for v in n.outputs:
            vdev[v] = d
            vlev[v] = level
            vkey[v] = key
    outputs = set(graph.outputs)
    for v in list(pending):
        # Read only by copies on other devices: its own device needs it only as an output.
        if v in pending and (v in outputs or v not in copied_values):
            settle(v, vdev[v], 0)
    for v in graph.outputs:
        if not is_out[v]:
            is_out[v] = 1
            if vkey[v] >= 0:
                buckets[vkey[v]][2].append(v)

    stages = []
    work = []
    transfers = []
    seen: set[int] = set()
    getnode = nodes.__getitem__
    for sid, key in enumerate(sorted(buckets)):
        idxs, ins, outs = buckets[key]
        if key in reordered:
            idxs.sort()
        d = key % nd
        dst = ids[d]
        if len(outs) > 1:
            outs.sort()
        stages.append(Stage(sid, dst, tuple(map(getnode, idxs)), tuple(ins), tuple(outs)))
        work.append(sum(map(flops.__getitem__, idxs)))
        for v in ins:
            src = vdev[v]
            if src != d:
                tk = v * nd + d
                if tk not in seen:
                    seen.add(tk)
                    transfers.append(Transfer(v, INPUT if src < 0 else ids[src], dst, vbytes[v]))
    return tuple(stages), tuple(transfers), vdev, work


def simulate(graph, stages, work, vdev, vbytes, cluster: ClusterSpec, ids) -> tuple[float, dict]:
    """(predicted step seconds, device id -> busy seconds) of running ``stages`` in order;
    ``work[k]`` is stage k's flops, ``vdev[v]`` the device index of value v (-1: input)."""
    pos = {d: k for k, d in enumerate(ids)}
    specs = [cluster.device(d) for d in ids]
    inv_speed = [1.0 / s.flops_per_s for s in specs]
    node_ids: dict[str, int] = {}
    host = [node_ids.setdefault(s.node, len(node_ids)) for s in specs]
    ov = cluster.call_overhead_s
    inv_intra = 1.0 / cluster.intra_node_bytes_per_s
    inv_inter = 1.0 / cluster.inter_node_bytes_per_s
    dfree = [0.0] * len(ids)
    busy = [0.0] * len(ids)
    vfin: dict[int, float] = {}
    step = 0.0
    for s, f in zip(stages, work, strict=True):
        d = pos[s.device]
        hd = host[d]
        start = dfree[d]
        for v in s.inputs:
            src = vdev[v]
            if src < 0:
                t = vbytes[v] * inv_inter  # from the caller
            elif src == d:
                t = vfin.get(v, 0.0)
            else:
                t = vfin.get(v, 0.0) + vbytes[v] * (inv_intra if host[src] == hd else inv_inter)
            if t > start:
                start = t
        cost = ov + f * inv_speed[d]
        fin = start + cost
        dfree[d] = fin
        busy[d] += cost
        for v in s.outputs:
            vfin[v] = fin
        if fin > step:
            step = fin
    for v in graph.outputs:  # results go back to the caller
        t = vfin.get(v, 0.0) + vbytes[v] * inv_inter
        if t > step:
            step = t
    return step, {ids[d]: busy[d] for d in range(len(ids)) if busy[d] > 0.0}
