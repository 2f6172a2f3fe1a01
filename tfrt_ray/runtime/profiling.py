"""Profiling a `Program`'s step: the per-device table of `Program.profile` and the
Chrome/Perfetto trace of `Program.run(trace=...)`, both from the devices' timelines of one
profiled step (the trace format itself is `tfrt_ray.runtime.trace`)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from tfrt_ray.runtime.trace import chrome_trace, write_trace

log = logging.getLogger("tfrt_ray.runtime")


def devices_used(program) -> list[str]:
    return sorted({s.device for s in program.plan.stages} | set(program.plan.replicas))


def _profiled_step(program, inputs, timeout: float | None):
    """(outputs, wall seconds, device id -> timeline) of one profiled step."""
    devices = devices_used(program)
    for device_id in devices:
        program.devices[device_id].take_timeline()  # start from a clean slate
    t0 = time.time()
    outs = program.submit(inputs, profile=True).result(timeout)
    wall = max(time.time() - t0, 1e-9)
    return outs, wall, {d: program.devices[d].take_timeline() for d in devices}


def run_traced(program, inputs: Any, timeout: float | None, path: str) -> list[np.ndarray]:
    """Runs one profiled step and writes its trace to ``path``: one track per device, op
    spans, stage calls and transfers."""
    outs, _wall, timelines = _profiled_step(program, inputs, timeout)
    stages = program.plan.stages
    producer = {v: s.id for s in stages for v in s.outputs}
    readers: dict[tuple[int, str], int] = {}
    for s in stages:
        for v in s.inputs:
            readers.setdefault((v, s.device), s.id)
    types = program.graph.types
    transfers = [(v, src, dst, types[v].nbytes) for v, src, dst in program.last_transfers]
    keys = {program.stage_key(s): s.id for s in stages}
    write_trace(path, chrome_trace(timelines, keys, transfers, producer, readers))
    return outs


def profile_table(program, inputs: Any) -> str:
    """Runs one profiled step; a table of per-device busy time, idle fraction and bytes
    received, then per-op time (slowest first)."""
    _outs, wall, timelines = _profiled_step(program, inputs, None)
    devices = sorted(timelines)
    types = program.graph.types
    received: dict[str, int] = {d: 0 for d in devices}
    for v, _src, dst in program.last_transfers:
        received[dst] = received.get(dst, 0) + types[v].nbytes
    lines = [f"step {wall * 1e3:.3f} ms on {len(devices)} device(s)",
             f"{'device':12s} {'busy ms':>10s} {'idle':>7s} {'bytes in':>12s}"]
    ops = []
    for d in devices:
        busy = sum(end - start for _n, kind, start, end in timelines[d] if kind == "stage")
        lines.append(f"{d:12s} {busy * 1e3:10.3f} {1 - min(busy / wall, 1):7.1%} "
                     f"{received.get(d, 0):12d}")
        ops += [(end - start, d, name, kind) for name, kind, start, end in timelines[d]
                if kind != "stage"]
    lines.append(f"{'device':12s} {'op':16s} {'node':36s} {'ms':>10s}")
    for secs, d, name, op in sorted(ops, reverse=True):
        lines.append(f"{d:12s} {op:16s} {name[:36]:36s} {secs * 1e3:10.3f}")
    report = "\n".join(lines)
    log.debug("profile of %s:\n%s", program.graph.name, report)
    return report
