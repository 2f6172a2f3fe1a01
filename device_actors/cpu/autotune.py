"""Kernel choices measured on this machine, as cuDNN's and TVM's autotuners make them.

Which kernel is faster depends on the CPU: on an AVX-512 machine oneDNN's matmul beat
OpenBLAS by 10-25% on BERT's shapes, on an AVX2-only EPYC it lost by 20%. So when a CPU
stage compiles, an op with more than one kernel runs each on its real shapes for a short
timed trial (a warm-up call each, then up to `ROUNDS` alternating rounds or `TRIAL_S`
seconds; the minimum counts) and keeps the faster.

A choice is cached per op, shapes and machine (`machine_key`: CPU model and flags, NumPy
and the BLAS/OpenMP libraries with their versions and thread counts) in a JSON file
(`tfrt_ray.config.autotune_cache_path`), so a second load on the same machine measures
nothing. Trials are bounded per process (`tfrt_ray.config.autotune_budget_s`); past the
budget, and under ``TFRT_RAY_KERNELS=rule``, the caller's rule decides. `report` says what
the trials cost; each trial is logged on the ``tfrt_ray.autotune`` logger.
"""

from __future__ import annotations

import functools
import logging
import platform
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from tfrt_ray import cache_file
from tfrt_ray.config import autotune_budget_s, autotune_cache_path, kernel_choice

log = logging.getLogger("tfrt_ray.autotune")

ROUNDS = 5  # timed rounds per candidate, at most
TRIAL_S = 0.25  # seconds one op's trial may take (after its warm-up calls)
CACHE_ENTRIES = 2048
# The CPU flags that decide which kernels are fast (BENCHMARKS.md quotes them too).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
                "amx_tile")


@dataclass
class Report:
    trials: int = 0  # ops measured in this process
    cached: int = 0  # ops whose choice came from the cache
    seconds: float = 0.0  # time the trials took, warm-ups included
    over_budget: int = 0  # ops the rule decided because the budget was spent


_report = Report()
_lock = threading.Lock()


def report() -> Report:
    """What kernel trials have cost this process so far (a copy)."""
    with _lock:
        return Report(**vars(_report))


@functools.lru_cache(maxsize=1)
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
    return f"{model} [{' '.join(f for f in KERNEL_FLAGS if f in flags) or 'no AVX2'}]"


def machine_key() -> str:
    """What a measured choice holds for: the CPU, NumPy, and each thread pool's library,
    version and thread count now (a stage compiled under other limits measures anew)."""
    from threadpoolctl import threadpool_info

    pools = sorted(f"{p.get('internal_api')}-{p.get('version')}-{p.get('architecture', '')}"
                   f"x{p.get('num_threads')}" for p in threadpool_info())
    return f"{cpu()}|numpy-{np.__version__}|{','.join(pools)}"


def _measure(candidates: Mapping[str, Callable[[], object]]) -> dict[str, float]:
    """Microseconds per call of each candidate: the minimum over alternating rounds."""
    for fn in candidates.values():
        fn()  # warm-up: first-touch of buffers, primitive caches
    best = dict.fromkeys(candidates, float("inf"))
    start = time.perf_counter()
    for _ in range(ROUNDS):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
        if time.perf_counter() - start > TRIAL_S:
            break
    return {name: round(s * 1e6, 1) for name, s in best.items()}


def choose(op: str, shapes: str, candidates: Mapping[str, Callable[[], object]], rule: str,
           key: str | None = None) -> str:
    """The name of the faster candidate for ``op`` on ``shapes``; each candidate is a
    call of that kernel on inputs of those shapes. ``rule`` is the choice without a trial
    (``TFRT_RAY_KERNELS=rule``, or the budget spent). ``key`` is `machine_key` if the
    caller has it already (it costs a threadpoolctl query)."""
    if kernel_choice() == "rule":
        return rule
    entry = f"{op}|{shapes}|{key or machine_key()}"
    path = autotune_cache_path()
    hit = cache_file.load(path).get(entry)
    if isinstance(hit, dict) and hit.get("choice") in candidates:
        with _lock:
            _report.cached += 1
        return hit["choice"]
    with _lock:
        if _report.seconds >= autotune_budget_s():
            _report.over_budget += 1
            if _report.over_budget == 1:
                log.warning("kernel trials spent their %.1f s budget "
                            "(TFRT_RAY_AUTOTUNE_BUDGET_S); the rest are chosen by rule",
                            autotune_budget_s())
            return rule
    t0 = time.perf_counter()
    us = _measure(candidates)
    spent = time.perf_counter() - t0
    choice = min(us, key=us.get)
    with _lock:
        _report.trials += 1
        _report.seconds += spent
    log.info("%s %s: %s (%s; trial %.0f ms)", op, shapes, choice,
             ", ".join(f"{n} {t:.0f} us" for n, t in us.items()), spent * 1e3)
    cache_file.store(path, {entry: {"choice": choice, "us": us}}, CACHE_ENTRIES)
    return choice
