"""What one actor call costs on this cluster, measured once per session for the planner.

The scheduler charges every stage call ``ClusterSpec.call_overhead_s``; the default (0.5 ms)
is a guess, and a call's real cost differs 2-4x between machines (RAY_NOTES.md: 0.6-0.7 ms
a round trip on one 2-core machine, 1.6-2.5 ms for a 2-actor chain on another). A pipeline
split into micro-batches, or more replicas, pays that cost per call, so the planner needs
the figure of the machine it plans for. A cluster config's ``call_overhead_us`` says it
instead of measuring.
"""

from __future__ import annotations

import statistics
import time

DEFAULT_S = 5e-4
_REPEATS = 9


def measure_call_overhead_s(actor) -> float:
    """The median round trip of a no-op call to ``actor`` (one warm-up call first).
    ``ping``, not ``info``: ``info`` inspects the process's thread pools, which costs
    about as much as the call itself."""
    import ray

    ray.get(actor.ping.remote())
    times = []
    for _ in range(_REPEATS):
        t0 = time.perf_counter()
        ray.get(actor.ping.remote())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
