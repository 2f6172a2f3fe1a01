"""Shared benchmark plumbing: repeat timings, report min and median, record results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable


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


# The CPU flags that decide which kernels are fast (BENCHMARKS.md quotes them with figures).
_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "amx_tile")


def cpu() -> str:
    """The CPU model and its kernel-relevant flags, from /proc/cpuinfo."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    return f"{model} [{' '.join(f for f in _FLAGS if f in flags) or 'no AVX2'}]"


def machine() -> str:
    return (f"{cpu()}, {platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}")


def save(name: str, rows: list[dict]) -> None:
    """Writes ``bench_results/<name>.json`` for BENCHMARKS.md to quote."""
    os.makedirs("bench_results", exist_ok=True)
    with open(os.path.join("bench_results", f"{name}.json"), "w") as f:
        json.dump({"machine": machine(), "rows": rows}, f, indent=2)
