"""Plan shapes and the choice between them.

* ``place``: the cost-model placement (`place`) cut into stages (`partition`); kept only if
  it beats running everything on one device, which it is also compared with.
* ``pipeline``: the topological order cut into N contiguous chunks of about equal flops, one
  per device, run GPipe-style with m micro-batches. A step takes about
  ``sum_k t_k + (m - 1) * max_k t_k`` where ``t_k`` is chunk k's time per micro-batch (its
  compute and input transfers over m, plus one call overhead per stage call). Asked for by
  name it uses every device (at most one per op); under ``auto`` N is the best of 2, 4, 8,
  ..., all devices by that formula. m is the fewest of 1, 2, 4, ..., 2N that predicts the
  fastest step (unless given), so a step too small to pay for its calls is not split.
* ``replicate``: the whole graph on R devices, each on 1/R of the batch (axis 0): a step
  takes one split/gather overhead, the driver's serial dispatch of R calls, plus one
  replica's (calls, compute / R, its inputs' and outputs' share of the bytes); R is the
  fewest that predicts the fastest step. Only when every graph input has the same static leading
  batch dim > 1 (or `scheduler.batching` finds the batch and that no op mixes its rows)
  and ``batch_axis_ok``.
* ``auto``: predicts each and takes the fastest; ``place`` (the simplest) unless another is
  at least 10% faster. Every prediction counts ``call_overhead_s`` per stage call, so a
  small program stays on one device.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import replace
from itertools import accumulate

from scheduler.cluster_spec import ClusterSpec
from scheduler.costs import graph_costs
from scheduler.partition import partition
from scheduler.placement import Placement, place
from scheduler.plan import INPUT, Plan, Stage, Transfer
from tfrt_ray.errors import PlacementError, TfrtRayError

STRATEGIES = ("auto", "place", "pipeline", "replicate")
_MARGIN = 0.9  # another shape must predict < 90% of place's step time to be chosen
_DISPATCH_SHARE = 0.5  # of a call's overhead, the driver's serial part (see _replica_step)


def plan(
    graph,
    cluster: ClusterSpec,
    strategy: str = "auto",
    *,
    hints: dict[str, str] | None = None,
    colocate: list[set[str]] | None = None,
    supports: Callable[[str, str], bool] | None = None,
    micro_batches: int | None = None,
    batch_axis_ok: bool = True,
    input_device: str | None = None,
) -> Plan:
    """The Plan of ``graph`` on ``cluster`` with ``strategy`` (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise PlacementError(
            f"unknown strategy '{strategy}'", hint=f"use one of {', '.join(STRATEGIES)}"
        )
    constrained = bool(hints or colocate)
    if strategy == "place" or (strategy == "auto" and constrained):
        p = _place_plan(graph, cluster, hints, colocate, supports, input_device)
        if strategy == "auto":
            p = _note(p, "auto: hints/colocation given, and only 'place' honours them")
        return p
    extra = ("hints/colocation are honoured by 'place' only; ignored here",) if constrained else ()
    info = batch_info(graph) if batch_axis_ok else None
    if strategy == "pipeline":
        p, why = _pipeline_plan(graph, cluster, supports, micro_batches, info, auto=False)
        if p is None:
            raise PlacementError(f"no pipeline plan: {why}", hint="use strategy 'place'")
        return _note(p, *extra) if extra else p
    if strategy == "replicate":
        p, why = _replicate_plan(graph, cluster, supports, info)
        if p is None:
            raise PlacementError(f"no replicate plan: {why}", hint="use 'place' or 'pipeline'")
        return _note(p, *extra) if extra else p

    # auto
    best = _place_plan(graph, cluster, None, None, supports, input_device)
    said = [f"place {_fmt(best)}"]
    for build in (
        lambda: _pipeline_plan(graph, cluster, supports, micro_batches, info, auto=True),
        lambda: _replicate_plan(graph, cluster, supports, info),
    ):
        p, why = build()
        if p is None:
            said.append(why)
            continue
        said.append(f"{p.strategy} {_fmt(p)}")
        if p.predicted_step_s < _MARGIN * best.predicted_step_s:
            best = p
    return _note(
        best,
        f"auto chose '{best.strategy}': predicted " + "; ".join(said) + " (another shape must "
        f"beat 'place' by {1 - _MARGIN:.0%})",
    )


def batch_info(graph) -> tuple[int, frozenset[int]] | None:
    """(batch size, the input ids sliced on axis 0) when the graph may run on slices of its
    batch, else None. With `scheduler.batching` present its row analysis decides (weights
    given as inputs stay whole, an op that mixes rows rules splitting out); without it,
    every input must share one static leading dim > 1."""
    try:
        from scheduler.batching import batch_split
    except ImportError:
        batch_split = None
    if batch_split is not None:
        try:
            found = batch_split(graph)
        except (TfrtRayError, LookupError, TypeError, ValueError, AttributeError):
            return None  # the row analysis could not follow this graph: do not split it
        return (found[0], frozenset(found[1])) if found else None
    dims = set()
    for v in graph.inputs:
        shape = graph.types[v].shape
        if not shape or type(shape[0]) is not int:
            return None
        dims.add(shape[0])
    if len(dims) != 1 or min(dims) < 2:
        return None
    return dims.pop(), frozenset(graph.inputs)


# ---- place ----------------------------------------------------------------------------


def _place_plan(graph, cluster, hints, colocate, supports, input_device) -> Plan:
    placement = place(
        graph, cluster, hints=hints, colocate=colocate, supports=supports, input_device=input_device
    )
    p = partition(graph, placement, cluster, strategy="place")
    if len(p.devices) <= 1 or hints or colocate:
        return p
    one = _one_device(graph, cluster, supports, input_device)
    if one is not None:
        single = partition(graph, one, cluster, strategy="place")
        if single.predicted_step_s <= p.predicted_step_s:
            return _note(
                single,
                f"one device ({single.devices[0]}) predicted {_fmt(single)} vs the cost model's "
                f"{len(p.devices)}-device placement {_fmt(p)}: kept on one device",
            )
    return p


def _one_device(graph, cluster, supports, input_device) -> Placement | None:
    costs = graph_costs(graph)
    need = sum(costs.out_bytes)
    ops = set(graph.op_counts())
    order = list(cluster.devices)
    if input_device in cluster:
        order.insert(0, cluster.device(input_device))
    for dev in order:
        if need <= dev.mem_bytes and (supports is None or all(supports(o, dev.type) for o in ops)):
            assign = dict.fromkeys((n.name for n in graph.nodes), dev.id)
            return Placement(assign, notes=(f"whole graph on {dev.id}",), cluster=cluster)
    return None


# ---- pipeline -------------------------------------------------------------------------


def _eligible(graph, cluster, supports) -> list:
    if supports is None:
        return list(cluster.devices)
    ops = set(graph.op_counts())
    return [d for d in cluster.devices if all(supports(o, d.type) for o in ops)]


def _chunks(prefix: list[float], n: int) -> list[int]:
    """Boundaries b_0=0 < b_1 < ... < b_n = len: n contiguous chunks of about equal sums."""
    total, size = prefix[-1], len(prefix) - 1
    bounds = [0]
    for k in range(1, n):
        target = total * k / n
        j = bisect.bisect_left(prefix, target)
        if j > 0 and target - prefix[j - 1] < prefix[min(j, size)] - target:
            j -= 1
        j = max(j, bounds[-1] + 1)
        j = min(j, size - (n - k))
        bounds.append(j)
    bounds.append(size)
    return bounds


def _gpipe(times: list[float], calls: list[int], m: int, ov: float) -> float:
    t = [x / m + c * ov for x, c in zip(times, calls, strict=True)]
    return sum(t) + (m - 1) * max(t) + (ov if m > 1 else 0.0)


def _pipeline_plan(graph, cluster, supports, micro_batches, info, *, auto: bool):
    devs = _eligible(graph, cluster, supports)
    nodes = graph.nodes
    if len(devs) < 2 or len(nodes) < 2:
        return None, "pipeline: needs 2+ devices that run every op and 2+ ops"
    costs = graph_costs(graph)
    speed = min(d.flops_per_s for d in devs)
    ov = cluster.call_overhead_s
    prefix = [0.0, *accumulate(costs.flops)]

    batch = info[0] if info else None

    # Asked for: every device (or one per op). Under auto: the best of 2, 4, 8, ..., all.
    # Micro-batches: the fewest that predict the fastest step (each costs its calls).
    most = min(len(devs), len(nodes))
    sizes = sorted({*(2**k for k in range(1, 32) if 2**k < most), most}) if auto else [most]
    best = None
    for n in sizes:
        b = _chunks(prefix, n)
        times = [(prefix[b[k + 1]] - prefix[b[k]]) / speed for k in range(n)]
        for m in _micro_choices(batch, n, micro_batches, every=False):
            t = _gpipe(times, [1] * n, m, ov)
            if best is None or t < best[0]:
                best = (t, n, b)
    _, n, b = best
    assign: dict[str, str] = {}
    for k in range(n):
        dev = devs[k]
        need = sum(costs.out_bytes[b[k] : b[k + 1]])
        if need > dev.mem_bytes:
            return None, (
                f"pipeline: chunk {k} needs {need} bytes resident, more than {dev.id}'s "
                f"{dev.mem_bytes}"
            )
        for node in nodes[b[k] : b[k + 1]]:
            assign[node.name] = dev.id
    p = partition(graph, Placement(assign, cluster=cluster), cluster, strategy="pipeline")
    # The micro-batch count from the partitioned plan's own calls and transfers.
    p = min(
        (_pipeline_predict(p, costs, cluster, devs[:n], m)
         for m in _micro_choices(batch, n, micro_batches)),
        key=lambda q: q.predicted_step_s,  # min() keeps the first: the fewest micro-batches
    )
    why = (
        f"pipeline: {len(nodes)} ops in {n} contiguous chunks balanced by flops, "
        f"{p.micro_batches} micro-batch(es)"
        + ("" if batch else " (no batch axis to split)")
        + (f", predicted fastest at {ov * 1e6:.0f} us per stage call" if batch else "")
    )
    return _note(p, why), None


def _micro_choices(batch: int | None, n: int, given: int | None, every: bool = True) -> list[int]:
    """Micro-batch counts to predict, fewest first: the one asked for, else every count
    (or, not ``every``, 1, 2, 4, ...) up to 2 x the stages, never more than the rows."""
    if batch is None:
        return [1]
    if given:
        return [max(1, min(given, batch))]
    top = min(2 * n, batch)
    if every:
        return list(range(1, top + 1))
    return sorted({1, *(2**k for k in range(1, 32) if 2**k < top), top})


def _pipeline_predict(p: Plan, costs, cluster, devs, m: int) -> Plan:
    """The GPipe step time from the partitioned plan's calls, flops and transfers."""
    pos = {d.id: k for k, d in enumerate(devs)}
    times = [0.0] * len(devs)
    calls = [0] * len(devs)
    index = {id(n): i for i, n in enumerate(p.graph.nodes)}
    for s in p.stages:
        k = pos[s.device]
        calls[k] += 1
        times[k] += sum(costs.flops[index[id(n)]] for n in s.nodes) / devs[k].flops_per_s
    for t in p.transfers:
        k = pos[t.dst]
        bw = cluster.inter_node_bytes_per_s if t.src == INPUT else cluster.bandwidth(t.src, t.dst)
        times[k] += t.nbytes / bw
    out = sum(costs.vbytes[v] for v in p.graph.outputs) / cluster.inter_node_bytes_per_s
    step = _gpipe(times, calls, m, cluster.call_overhead_s) + out / m
    per_dev = {d.id: times[k] + m * calls[k] * cluster.call_overhead_s for k, d in enumerate(devs)}
    return replace(p, predicted_step_s=step, per_device_s=per_dev, micro_batches=m)


# ---- replicate ------------------------------------------------------------------------


def _replicate_plan(graph, cluster, supports, info):
    if info is None:
        return None, "replicate: needs a batch dim > 1 on axis 0 of the inputs that no op mixes"
    if not graph.nodes:
        return None, "replicate: the graph has no ops"
    devs = _eligible(graph, cluster, supports)
    if len(devs) < 2:
        return None, "replicate: needs 2+ devices that run every op"
    batch, sliced = info
    costs = graph_costs(graph)
    # The fewest replicas that fit and predict the fastest step: each one costs a call.
    best = None
    for r in range(2, min(len(devs), batch) + 1):
        step, per_dev, share, need = _replica_step(costs, graph, sliced, cluster, devs[:r])
        small = min(devs[:r], key=lambda d: d.mem_bytes)
        if need <= small.mem_bytes and (best is None or step < best[0]):
            best = step, per_dev, share
    if best is None:
        return None, f"replicate: a replica needs {need} bytes, more than {small.id}'s"
    step, per_dev, share = best
    r = len(per_dev)
    ids = tuple(per_dev)
    stages = tuple(
        Stage(k, dev, graph.nodes, graph.inputs, graph.outputs) for k, dev in enumerate(ids)
    )
    transfers = tuple(Transfer(v, INPUT, dev, share[v]) for dev in ids for v in graph.inputs)
    note = f"replicate: whole graph on {r} devices, batch {batch} split on axis 0"
    p = Plan(graph, stages, transfers, ids, "replicate", step, per_dev, (note,), 1, ids)
    return p, None


def _replica_step(costs, graph, sliced, cluster, devs) -> tuple[float, dict, dict, int]:
    """(step seconds, device -> busy seconds, input -> bytes per replica, bytes a replica
    holds) of the whole graph on each of ``devs``, on 1/R of the batch each."""
    r = len(devs)
    fixed = sum(b for n, b in zip(graph.nodes, costs.out_bytes, strict=True) if not n.inputs)
    need = fixed + (sum(costs.out_bytes) - fixed) // r
    ov = cluster.call_overhead_s
    share = {v: costs.vbytes[v] // r if v in sliced else costs.vbytes[v] for v in graph.inputs}
    io = (sum(share.values()) + sum(costs.vbytes[v] for v in graph.outputs) / r)
    io /= cluster.inter_node_bytes_per_s
    per_dev = {d.id: ov + costs.total_flops / r / d.flops_per_s for d in devs}
    # The driver sends the R calls one after another: with Ray, 1000 calls submitted
    # without waiting go at 2.3k-4.7k/s against a 0.6-0.7 ms round trip (RAY_NOTES.md),
    # so each replica past the first delays the step by up to half a call.
    dispatch = (r - 1) * ov * _DISPATCH_SHARE
    return dispatch + ov + max(per_dev.values()) + io, per_dev, share, need


def _fmt(p: Plan) -> str:
    s = p.predicted_step_s
    t = f"{s * 1e3:.3g} ms" if s < 1 else f"{s:.3g} s"
    shape = f"{len(p.devices)} device(s)"
    if p.micro_batches > 1:
        shape += f", {p.micro_batches} micro-batches"
    return f"{t} ({shape})"


def _note(p: Plan, *notes: str) -> Plan:
    return replace(p, notes=(*notes, *p.notes))
