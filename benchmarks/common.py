"""Shared benchmark plumbing: repeat timings, report min and median, record results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable

from device_actors.cpu.autotune import cpu  # the model and flags the kernel choices key on


def timeit(fn: Callable[[], object], number: int, repeat: int) -> list[float]:
    """Seconds per call of ``fn``, one figure per repeat (each the mean of ``number`` calls)."""
    fn()  # warm up
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        out.append((time.perf_counter() - t0) / number)
    return out


def summary(samples: list[float]) -> tuple[float, float]:
    return min(samples), statistics.median(samples)


def machine() -> str:
    return (f"{cpu()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def save(name: str, rows: list[dict]) -> None:
    """Writes ``bench_results/<name>.json`` for BENCHMARKS.md to quote."""
    os.makedirs("bench_results", exist_ok=True)
    with open(os.path.join("bench_results", f"{name}.json"), "w") as f:
        json.dump({"machine": machine(), "rows": rows}, f, indent=2)
