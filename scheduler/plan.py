"""The Plan: what the runtime loads. Plain data: stages of nodes per device, the transfers
between them, and the predictions and notes that explain the choice. No Ray."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from tfrt_ray.errors import PlacementError


class Stage(NamedTuple):
    """A run of nodes on one device, called once per step (per micro-batch).

    ``inputs``: value ids read from outside the stage (graph inputs or outputs of earlier
    stages). ``outputs``: value ids produced here that later stages or the caller read.
    """

    id: int
    device: str
    nodes: tuple
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


class Transfer(NamedTuple):
    """Value ``value`` moves from device ``src`` (``"input"``: the caller) to ``dst``."""

    value: int
    src: str
    dst: str
    nbytes: int


INPUT = "input"


@dataclass(frozen=True, eq=True)
class Plan:
    """A partitioned program. ``devices``: the devices used, in cluster order.
    ``micro_batches`` > 1: the runtime pipelines the batch (GPipe). ``replicas``: devices
    that each run the whole graph on a slice of the batch (axis 0)."""

    graph: object
    stages: tuple[Stage, ...]
    transfers: tuple[Transfer, ...]
    devices: tuple[str, ...]
    strategy: str = "place"
    predicted_step_s: float = 0.0
    per_device_s: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    micro_batches: int = 1
    replicas: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (
            f"Plan(strategy={self.strategy!r}, stages={len(self.stages)}, "
            f"transfers={len(self.transfers)}, devices={len(self.devices)}, "
            f"predicted_step_s={self.predicted_step_s:.4g}, micro_batches={self.micro_batches}, "
            f"replicas={len(self.replicas)})"
        )

    def __str__(self) -> str:
        return self.describe()

    # ---- queries -------------------------------------------------------------------

    def device_of(self, node_name: str) -> str:
        """The device of a node (the first stage that holds it)."""
        for s in self.stages:
            for n in s.nodes:
                if n.name == node_name:
                    return s.device
        raise KeyError(node_name)

    def stages_on(self, device: str) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if s.device == device)

    # ---- serialisation -------------------------------------------------------------

    def to_dict(self) -> dict:
        """JSON-able. The graph goes in as IR text when ``tfrt_ray.ir.text`` is available;
        else only its name, and `from_dict` needs the graph passed in."""
        return {
            "format": "tfrt-ray-plan/1",
            "graph_name": getattr(self.graph, "name", None),
            "graph": self.graph.as_text(),
            "strategy": self.strategy,
            "devices": list(self.devices),
            "stages": [
                {
                    "id": s.id,
                    "device": s.device,
                    "nodes": [n.name for n in s.nodes],
                    "inputs": list(s.inputs),
                    "outputs": list(s.outputs),
                }
                for s in self.stages
            ],
            "transfers": [[t.value, t.src, t.dst, t.nbytes] for t in self.transfers],
            "predicted_step_s": self.predicted_step_s,
            "per_device_s": dict(self.per_device_s),
            "notes": list(self.notes),
            "micro_batches": self.micro_batches,
            "replicas": list(self.replicas),
        }

    @staticmethod
    def from_dict(data: dict, graph=None) -> Plan:
        """The inverse of `to_dict`; ``graph`` is parsed from the stored text when not given."""
        if graph is None:
            text = data.get("graph")
            if text is None:
                raise PlacementError(
                    "this plan was stored without its graph's text",
                    hint="pass the graph: Plan.from_dict(data, graph=g)",
                )
            from tfrt_ray.ir.text_parse import parse_graph

            graph = parse_graph(text)
        by_name = {n.name: n for n in graph.nodes}
        stages = []
        for s in data["stages"]:
            try:
                nodes = tuple(by_name[name] for name in s["nodes"])
            except KeyError as exc:
                raise PlacementError(
                    f"the plan names node {exc.args[0]!r}, which the graph does not have",
                    hint="pass the graph the plan was made for",
                ) from None
            stages.append(
                Stage(s["id"], s["device"], nodes, tuple(s["inputs"]), tuple(s["outputs"]))
            )
        return Plan(
            graph=graph,
            stages=tuple(stages),
            transfers=tuple(
                Transfer(int(v), src, dst, int(b)) for v, src, dst, b in data["transfers"]
            ),
            devices=tuple(data["devices"]),
            strategy=data["strategy"],
            predicted_step_s=float(data["predicted_step_s"]),
            per_device_s={k: float(v) for k, v in data["per_device_s"].items()},
            notes=tuple(data["notes"]),
            micro_batches=int(data["micro_batches"]),
            replicas=tuple(data["replicas"]),
        )

    # ---- printing ------------------------------------------------------------------

    def describe(self, max_devices: int = 64) -> str:
        """A placement table: per device its stages, ops, flops, predicted seconds and bytes
        moved in/out per step; then the notes (why this plan)."""
        from scheduler.costs import graph_costs

        costs = graph_costs(self.graph)
        index = {id(n): i for i, n in enumerate(self.graph.nodes)}
        rows: dict[str, list] = {d: [0, 0, 0.0, 0, 0] for d in self.devices}
        for s in self.stages:
            r = rows.setdefault(s.device, [0, 0, 0.0, 0, 0])
            r[0] += 1
            r[1] += len(s.nodes)
            r[2] += sum(costs.flops[index[id(n)]] for n in s.nodes if id(n) in index)
        for t in self.transfers:
            if t.dst in rows:
                rows[t.dst][3] += t.nbytes
            if t.src in rows:
                rows[t.src][4] += t.nbytes
        head = (
            f"plan '{getattr(self.graph, 'name', '?')}': strategy {self.strategy}, "
            f"{len(self.graph.nodes)} ops, {len(self.stages)} stages on {len(self.devices)} "
            f"device(s), {len(self.transfers)} transfers, predicted step "
            f"{_seconds(self.predicted_step_s)}"
        )
        if self.micro_batches > 1:
            head += f", {self.micro_batches} micro-batches"
        if self.replicas:
            head += f", {len(self.replicas)} replicas (batch split on axis 0)"
        lines = [head]
        fmt = "{:<16} {:>7} {:>9} {:>12} {:>11} {:>11} {:>11}"
        cols = ("device", "stages", "ops", "GFLOP", "predicted", "in/step", "out/step")
        lines.append(fmt.format(*cols))
        items = list(rows.items())
        for dev, (ns, no, fl, bi, bo) in items[:max_devices]:
            lines.append(
                fmt.format(
                    dev,
                    ns,
                    no,
                    f"{fl / 1e9:.4g}",
                    _seconds(self.per_device_s.get(dev, 0.0)),
                    _bytes(bi),
                    _bytes(bo),
                )
            )
        if len(items) > max_devices:
            lines.append(f"... and {len(items) - max_devices} more devices")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _seconds(s: float) -> str:
    if s >= 1.0:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
