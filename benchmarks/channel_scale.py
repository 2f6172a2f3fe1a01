"""Scale on paper: what the driver does per step as a program grows to many stages.

    python -m benchmarks.channel_scale [--quick]

A chain of N stages (N = 1, 16, 256, 1024), each run by the same device loop the device
actors run (`device_actors.device_loop.run_loop`), here in a thread of one process, wired
by the same shared-memory channels (`device_actors.channels`). The driver submits steps
(8 in flight) and reads them; we record the driver thread's CPU time per step
(`time.thread_time`: what the driver pays, whatever the loops cost) and the wall time per
step (which grows with N here, as N loops share one process and its GIL; on a cluster each
loop has its own core). The driver touches only the first and the last channel, so its
time per step should stay flat as N grows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import threading
import time
import uuid

import numpy as np

from benchmarks.common import save
from device_actors import channels
from device_actors.device_loop import Device, LoopCall, LoopSpec, run_loop


def _chain(n: int, root: str, tag: str):
    specs = [channels.create(root, f"{tag}-{i}", 8, 256) for i in range(n + 1)]
    loops = [LoopSpec(f"{tag}-s{i}", (specs[i],), (specs[i + 1],),
                      (LoopCall("add1", ((True, 0),), (0,), ((0, 0),)),))
             for i in range(n)]
    return specs, loops


def _add1(key, args, into=None):
    return [args[0] + 1.0]


def measure(n: int, steps: int, in_flight: int = 8) -> dict:
    root = f"/dev/shm/tfrt-ray-{os.getpid()}-scale-{uuid.uuid4().hex[:6]}"
    os.makedirs(root)
    tag = os.path.basename(root)
    specs, loops = _chain(n, root, tag)
    stop = threading.Event()
    device = Device(_add1, lambda key: None)
    threads = [threading.Thread(target=run_loop, args=(spec, device, stop), daemon=True)
               for spec in loops]
    for t in threads:
        t.start()
    first, last = channels.Channel(specs[0]), channels.Channel(specs[-1])
    x = np.zeros(4, np.float32)
    try:
        for _ in range(in_flight):  # warm
            first.write(x)
        for _ in range(in_flight):
            last.read(copy=True)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        pending = 0
        for _ in range(steps):
            if pending == in_flight - 1:
                got = last.read(copy=True)
                pending -= 1
            first.write(x)
            pending += 1
        while pending:
            got = last.read(copy=True)
            pending -= 1
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
        assert float(got[0]) == n  # every stage added one
    finally:
        first.write_stop()
        for t in threads:
            t.join(timeout=30)
        stop.set()
        for spec in specs:
            channels.unlink(spec)
        shutil.rmtree(root, ignore_errors=True)
    return {"stages": n, "steps": steps, "driver_cpu_us_per_step": cpu / steps * 1e6,
            "wall_us_per_step": wall / steps * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer steps")
    args = parser.parse_args()
    rows = []
    print(f"{'stages':>7} {'steps':>6} {'driver CPU us/step':>19} {'wall us/step':>13}")
    for n in (1, 16, 256, 1024):
        steps = max(50, (2000 if not args.quick else 400) // max(1, n // 16))
        runs = [measure(n, steps) for _ in range(3)]
        best = min(runs, key=lambda r: r["driver_cpu_us_per_step"])
        med = sorted(r["driver_cpu_us_per_step"] for r in runs)[1]
        best["driver_cpu_us_median"] = med
        rows.append(best)
        print(f"{n:7d} {steps:6d} {best['driver_cpu_us_per_step']:10.1f} (med {med:5.1f})"
              f" {best['wall_us_per_step']:13.1f}")
    save("channel_scale", rows)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.0f} s)")
