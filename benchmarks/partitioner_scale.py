"""How place() + partition() scale with graph size and device count.

Random layered graphs of elementwise ops (scheduler.synthetic.random_layered_graph) onto
simulated clusters (8 devices per node). Two workloads:

* light: width 256, tensor<64x64xf32>, 4 GiB devices. Most ops are trivial (< 1e4 flops) and
  a hop costs a 0.5 ms call, so the cost model keeps the graph on one device until its memory
  is full, then spills to the next: few stages.
* spread: width 1024, tensor<128x128xf32>, 64 GiB devices. Ops are heavy enough that the
  cost model spreads every layer over the devices: up to tens of thousands of stages and
  half a million transfers at 1M ops (the partitioner's hard case).

Timed: place() + partition() only, including the per-node cost lookups (the cost table
cache is cleared before each repeat); graph generation is not timed.

    .venv/bin/python benchmarks/partitioner_scale.py           # 1k .. 1M ops
    .venv/bin/python benchmarks/partitioner_scale.py --quick   # 1k .. 100k ops
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time

from scheduler import ClusterSpec, partition, place
from scheduler.costs import clear_cache
from scheduler.synthetic import random_layered_graph

SIZES = (1_000, 10_000, 100_000, 1_000_000)
DEVICES = (8, 64, 1024)
REPEATS = {1_000: 7, 10_000: 5, 100_000: 3, 1_000_000: 1}
WORKLOADS = {  # name: (layer width, value shape, device memory)
    "light": (256, (64, 64), 4 << 30),
    "spread": (1024, (128, 128), 64 << 30),
}


def time_once(graph, cluster) -> tuple[float, float, object]:
    clear_cache()
    t0 = time.perf_counter()
    placement = place(graph, cluster)
    t1 = time.perf_counter()
    plan = partition(graph, placement, cluster)
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, plan


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of log(time) against log(ops)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only up to 100k ops")
    ap.add_argument(
        "--workload", choices=(*WORKLOADS, "both"), default="both", help="see the docstring"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sizes = [n for n in SIZES if not args.quick or n <= 100_000]
    print(
        f"# partitioner scale: python {platform.python_version()}, {os.cpu_count()} cores, "
        f"{platform.machine()}"
    )
    print("# time = place() + partition() (cost lookups included, graph generation not)")
    names = list(WORKLOADS) if args.workload == "both" else [args.workload]
    for name in names:
        run_workload(name, sizes, args.seed)
    if max(sizes) == max(SIZES):
        print("# 1M-op rows: 1 repeat (min = median)")
    return 0


def run_workload(name: str, sizes: list[int], seed: int) -> None:
    width, shape, mem = WORKLOADS[name]
    print(
        f"\n## {name}: width {width}, tensor<{shape[0]}x{shape[1]}xf32>, {mem >> 30} GiB per device"
    )
    header = (
        f"{'ops':>9} {'devices':>7} {'reps':>4} {'min s':>8} {'median s':>9} "
        f"{'place s':>8} {'part. s':>8} {'us/op':>7} {'used':>5} {'stages':>7} {'transfers':>9}"
    )
    print(header)
    results: dict[int, list[tuple[float, float]]] = {d: [] for d in DEVICES}
    for n in sizes:
        graph = random_layered_graph(n, width, seed, shape=shape)
        for d in DEVICES:
            if d > n // 4 and not (n == max(SIZES) and d == max(DEVICES)):
                continue  # more devices than ops/4: not an interesting shape
            cluster = ClusterSpec.simulated(d, mem_bytes=mem)
            reps = REPEATS[n]
            runs = [time_once(graph, cluster) for _ in range(reps)]
            totals = [a + b for a, b, _ in runs]
            plan = runs[-1][2]
            med = statistics.median(totals)
            results[d].append((n, med))
            print(
                f"{n:>9} {d:>7} {reps:>4} {min(totals):>8.3f} {med:>9.3f} "
                f"{statistics.median(a for a, _, _ in runs):>8.3f} "
                f"{statistics.median(b for _, b, _ in runs):>8.3f} {med / n * 1e6:>7.2f} "
                f"{len(plan.devices):>5} {len(plan.stages):>7} {len(plan.transfers):>9}",
                flush=True,
            )
            del runs, plan
        del graph
    print("# growth exponent (log-log slope of median time vs ops, per device count):")
    for d, pts in results.items():
        if len(pts) >= 2:
            print(f"#   {d:>5} devices: {slope(pts):.2f}  ({pts[0][0]}..{pts[-1][0]} ops)")
    everything = [p for pts in results.values() for p in pts]
    if len({n for n, _ in everything}) >= 2:
        print(f"#   all rows: {slope(everything):.2f}")


if __name__ == "__main__":
    sys.exit(main())
