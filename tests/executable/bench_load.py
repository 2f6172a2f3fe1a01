"""Load time of an executable with ~100 MB of weights: memory-mapped (checksums skipped or
checked) against reading the file into memory, warm and cold page cache.

    python tests/executable/bench_load.py [--mb 100] [--tensors 20] [--repeat 7]

A benchmark, not a test: it prints min and median seconds per way of loading.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from tests.executable.programs import big_graph  # noqa: E402
from tfrt_ray.executable import read_executable, write_executable  # noqa: E402
from tfrt_ray.executable.reader import load_buffer  # noqa: E402


def _evict(path: str) -> None:
    """Drops the file's pages from the page cache (this file only)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def _in_memory(path: str, verify: bool):
    with open(path, "rb") as f:
        data = f.read()
    return load_buffer(pa.py_buffer(data), path, verify)


def _mapped_then_read(path: str) -> float:
    exe = read_executable(path, verify_weights=False)
    return float(sum(ct.array.sum(dtype=np.float64) for ct in exe.weights))


WAYS = {
    "mmap, verify_weights=False": lambda p: read_executable(p, verify_weights=False),
    "mmap, verify_weights=True": lambda p: read_executable(p, verify_weights=True),
    "mmap, False, then sum every weight": _mapped_then_read,
    "read into memory, no checksums": lambda p: _in_memory(p, False),
    "read into memory, checksums": lambda p: _in_memory(p, True),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--tensors", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    g = big_graph(args.mb << 20, args.tensors)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "big.trx")
        t0 = time.perf_counter()
        size = write_executable(path, g)
        print(
            f"write: {time.perf_counter() - t0:.3f} s, {size / 2**20:.1f} MiB, "
            f"{len(g.nodes)} nodes, {args.tensors} weights"
        )
        print(f"{'way':<38} {'warm min':>9} {'warm med':>9} {'cold min':>9} {'cold med':>9}")
        for name, way in WAYS.items():
            times = {}
            for cache in ("warm", "cold"):
                ts = []
                for _ in range(args.repeat):
                    if cache == "cold":
                        _evict(path)
                    else:
                        way(path)  # warm the cache
                    t0 = time.perf_counter()
                    way(path)
                    ts.append(time.perf_counter() - t0)
                times[cache] = ts
            cells = [f(times[c]) for c in ("warm", "cold") for f in (min, statistics.median)]
            print(f"{name:<38} " + " ".join(f"{t * 1e3:>7.2f}ms" for t in cells))


if __name__ == "__main__":
    main()
