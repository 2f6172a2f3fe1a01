"""Distributed runtime figures, side by side with hand-written Ray in the same run.

    python -m benchmarks.distributed [--quick]

1. step overhead of a 2-stage plan of tiny ops on 2 device actors, against a raw Ray
   2-actor call chain doing the same calls and the same chain as a Ray Compiled Graph;
   and steps/s with 32 steps in flight, step by step (`Program.submit`), packed 8 steps
   per stage call (`Program.submit_many`) and over channels (`Program.open_channels`);
   the CPU an idle device actor uses (from /proc), over channels and in a compiled graph;
2. a 100 MB tensor from the kernel that produces it on one actor to a kernel that reads
   every byte of it on another (same node), against a NumPy memcpy of the same bytes and
   against raw Ray actors doing the same with the same reading kernel (tfrt-ray's sum):
   once for a resident tensor the producer hands out, once for a fresh kernel output
   (``big * 2``, the multiply included);
3. throughput of a stream of 32 batches through an 8-layer MLP (hidden 2048, batch 256)
   on 2 device actors against 1, each actor limited to one core; and the same pipeline
   hand-written on Ray with the same kernels (oneDNN's matmul where installed).

Min and median over repeats.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import ray
from threadpoolctl import threadpool_limits

import tfrt_ray as tr
from benchmarks.common import save, summary, timeit
from device_actors.actor import configure_process
from tfrt_ray.core.kernels.reduce import reduce_sum

MB100 = 25_000_000  # float32 elements in 100 MB


@ray.remote(num_cpus=0)
class RawStage:
    """A hand-written Ray stage: the peer of a device actor (its process set up alike)."""

    def __init__(self, n: int = 0) -> None:
        configure_process(1)
        self.big = np.ones(n, np.float32) if n else None

    def tiny_a(self, x):
        return (x + 1.0) * 2.0

    def tiny_b(self, y):
        return (y - 1.0) * 0.5

    def produce(self):
        return self.big

    def produce_fresh(self):
        return self.big * np.float32(2.0)

    def pid(self) -> int:
        return os.getpid()

    def consume(self, a):
        # the same reading kernel as tfrt-ray's tr.sum, so the two differ only in transport
        return float(reduce_sum(a, axes=None, keepdims=False))


@ray.remote(num_cpus=0)
class RawMlpStage:
    """A hand-written Ray pipeline stage of ``relu(x @ w)`` layers, with the kernel a CPU
    device actor uses for them (oneDNN's matmul where installed, else NumPy's)."""

    def __init__(self, weights: list) -> None:
        from device_actors.cpu import onednn

        configure_process(1)
        if onednn.available():
            onednn.set_threads(1)
            self.layers = [onednn.MatMul((256, w.shape[0]), w, None, activation="relu")
                           for w in weights]
        else:
            self.layers = [lambda x, w=w: np.maximum(x @ w, 0) for w in weights]

    def run(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def step_overhead(repeat: int, steps: int, rows: list) -> None:
    x = np.ones((4, 4), np.float32)

    def tiny(x):
        with tr.device("cpu:0"):
            y = (x + 1.0) * 2.0
        with tr.device("cpu:1"):
            return (y - 1.0) * 0.5

    prog = tr.compile(tiny, (x,), strategy="place")
    assert {s.device for s in prog.plan.stages} == {"cpu:0", "cpu:1"}
    a, b = RawStage.remote(), RawStage.remote()
    ray.get([a.tiny_a.remote(x), b.tiny_b.remote(x)])
    np.testing.assert_allclose(prog.run([x])[0], ray.get(b.tiny_b.remote(a.tiny_a.remote(x))))

    raw = timeit(lambda: ray.get(b.tiny_b.remote(a.tiny_a.remote(x))), steps, repeat)
    ours = timeit(lambda: prog.run([x]), steps, repeat)
    _row(rows, "2-stage tiny step, ms", "raw Ray chain", raw, 1e3)
    _row(rows, "2-stage tiny step, ms", "tfrt-ray", ours, 1e3)

    def raw_burst():
        ray.get([b.tiny_b.remote(a.tiny_a.remote(x)) for _ in range(32)])

    def our_burst():
        prog.gather([prog.submit([x]) for _ in range(32)])

    def our_packed():
        prog.gather(prog.submit_many([[x]] * 32, pack=8))

    bursts = max(steps // 32, 3)
    raw_rate = [32 / t for t in timeit(raw_burst, bursts, repeat)]
    our_rate = [32 / t for t in timeit(our_burst, bursts, repeat)]
    packed_rate = [32 / t for t in timeit(our_packed, bursts, repeat)]
    # For rates, higher is better: report "min" as the worst (lowest) rate.
    rows.append(_rate_row("steps/s, 32 in flight", "raw Ray chain", raw_rate))
    rows.append(_rate_row("steps/s, 32 in flight", "tfrt-ray submit", our_rate))
    rows.append(_rate_row("steps/s, 32 in flight", "tfrt-ray submit_many pack=8",
                          packed_rate))
    with prog.open_channels() as ch:
        np.testing.assert_allclose(ch.run([x])[0], prog.run([x])[0])
        chan = timeit(lambda: ch.run([x]), steps, repeat)
        _row(rows, "2-stage tiny step, ms", "tfrt-ray channels (open_channels)", chan, 1e3)

        def chan_burst():
            futures = [ch.submit([x]) for _ in range(32)]
            for f in futures:
                f.result()

        chan_rate = [32 / t for t in timeit(chan_burst, bursts, repeat)]
        rows.append(_rate_row("steps/s, 32 in flight", "tfrt-ray channels submit", chan_rate))
        idle = idle_cpu([d.actor for d in prog.devices.values()])
    rows.append({"what": "idle device actor, % of a core", "who": "tfrt-ray channels (max of 2)",
                 "min": idle, "median": idle})
    compiled_graph_peer(a, b, x, steps, repeat, rows)
    for h in (a, b):
        ray.kill(h)


def _pid_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(actors, seconds: float = 3.0) -> float:
    """The busiest of these actors' processes while idle, in % of a core, from /proc."""
    pids = ray.get([h.info.remote() if hasattr(h, "info") else h.pid.remote()
                    for h in actors])
    pids = [p["pid"] if isinstance(p, dict) else p for p in pids]
    before, t0 = [_pid_cpu_seconds(p) for p in pids], time.monotonic()
    time.sleep(seconds)
    spent = time.monotonic() - t0
    return max(100 * (_pid_cpu_seconds(p) - b) / spent for p, b in zip(pids, before))


def compiled_graph_peer(a, b, x, steps: int, repeat: int, rows: list) -> None:
    """The same 2-actor chain as a Ray Compiled Graph (its actors busy-poll: measured
    last, torn down with its actors, so it disturbs nothing else)."""
    from ray.dag import InputNode

    a2, b2 = RawStage.remote(), RawStage.remote()
    with InputNode() as inp:
        dag = b2.tiny_b.bind(a2.tiny_a.bind(inp))
    pids = ray.get([a2.pid.remote(), b2.pid.remote()])
    cdag = dag.experimental_compile()
    try:
        np.testing.assert_allclose(ray.get(cdag.execute(x)), ray.get(b.tiny_b.remote(
            a.tiny_a.remote(x))))
        cg = timeit(lambda: ray.get(cdag.execute(x)), steps, repeat)
        _row(rows, "2-stage tiny step, ms", "Ray Compiled Graphs (peer)", cg, 1e3)
        before, t0 = [_pid_cpu_seconds(p) for p in pids], time.monotonic()
        time.sleep(3.0)
        spent = time.monotonic() - t0
        idle = max(100 * (_pid_cpu_seconds(p) - q) / spent for p, q in zip(pids, before))
        rows.append({"what": "idle device actor, % of a core",
                     "who": "Ray Compiled Graphs (max of 2)", "min": idle, "median": idle})
    finally:
        cdag.teardown(kill_actors=True)


def big_transfer(repeat: int, rows: list) -> None:
    """Producer returns a resident 100 MB tensor (as the raw Ray peer does), or a fresh
    kernel output; the consumer on the other actor reads every byte (a sum)."""
    big = tr.tensor(np.ones(MB100, np.float32))

    def move(x):
        with tr.device("cpu:0"):
            y = tr.identity(big)  # the producing kernel: hands out the resident tensor
        with tr.device("cpu:1"):
            return tr.sum(y) + x  # reads every byte

    def move_fresh(x):
        with tr.device("cpu:0"):
            y = big * 2.0  # a kernel that writes a new 100 MB tensor
        with tr.device("cpu:1"):
            return tr.sum(y) + x

    x = np.zeros(1, np.float32)
    warm = 3
    ours = {}
    for name, fn in (("resident", move), ("fresh", move_fresh)):
        # opt_level=0: the compiler would (rightly) drop the identity and move no bytes.
        prog = tr.compile(fn, (x,), strategy="place", opt_level=0)
        assert {s.device for s in prog.plan.stages} == {"cpu:0", "cpu:1"}
        for _ in range(warm):  # first pages are cold (page faults)
            prog.run([x])
        ours[name] = timeit(lambda prog=prog: prog.run([x]), 1, repeat)
        with prog.open_channels() as ch:
            for _ in range(warm):
                ch.run([x])
            ours[name + " channels"] = timeit(lambda ch=ch: ch.run([x]), 1, repeat)
        prog.close()

    a, b = RawStage.remote(MB100), RawStage.remote()
    raw = {}
    for name, produce in (("resident", a.produce), ("fresh", a.produce_fresh)):
        for _ in range(warm):
            ray.get(b.consume.remote(produce.remote()))
        raw[name] = timeit(lambda p=produce: ray.get(b.consume.remote(p.remote())), 1, repeat)
    src = np.ones(MB100, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    memcpy_warm = timeit(lambda: np.copyto(dst, src), 1, repeat)
    memcpy_fresh = timeit(lambda: src.copy(), 1, repeat)
    with threadpool_limits(1):  # as in a device actor of one core
        read_alone = timeit(lambda: reduce_sum(src, axes=None, keepdims=False), 1, repeat)
    _row(rows, "100 MB actor to actor, ms", "numpy memcpy (np.copyto, warm dst)", memcpy_warm, 1e3)
    _row(rows, "100 MB actor to actor, ms", "numpy memcpy (a.copy(), fresh)", memcpy_fresh, 1e3)
    _row(rows, "100 MB actor to actor, ms", "the reading kernel alone (sum, in the driver)",
         read_alone, 1e3)
    _row(rows, "100 MB actor to actor, ms", "raw Ray (return -> read all)", raw["resident"],
         1e3)
    _row(rows, "100 MB actor to actor, ms", "tfrt-ray (produce -> read all)",
         ours["resident"], 1e3)
    _row(rows, "100 MB actor to actor, ms", "tfrt-ray channels (produce -> read all)",
         ours["resident channels"], 1e3)
    what = "100 MB fresh output (x*2) to actor, ms"
    _row(rows, what, "raw Ray (return x*2 -> read all)", raw["fresh"], 1e3)
    _row(rows, what, "tfrt-ray (x*2 -> read all)", ours["fresh"], 1e3)
    _row(rows, what, "tfrt-ray channels (x*2 -> read all)", ours["fresh channels"], 1e3)
    for h in (a, b):
        ray.kill(h)


def mlp_throughput(repeat: int, batches: int, rows: list, layers: int = 8) -> None:
    rng = np.random.default_rng(0)
    arrays = [(rng.standard_normal((2048, 2048)) * 0.02).astype(np.float32)
              for _ in range(layers)]
    ws = [tr.tensor(a) for a in arrays]
    x = rng.standard_normal((256, 2048)).astype(np.float32)

    def mlp(x):
        for w in ws:
            x = tr.relu(x @ w)
        return x

    def rate(prog):
        def stream():
            prog.gather([prog.submit([x]) for _ in range(batches)])

        return [batches / t for t in timeit(stream, 1, repeat)]

    one = tr.compile(mlp, (x,), strategy="place", devices=["cpu:0"])
    two = tr.compile(mlp, (x,), strategy="pipeline", micro_batches=1)
    assert len({s.device for s in two.plan.stages}) == 2
    np.testing.assert_allclose(one.run([x])[0], two.run([x])[0], rtol=1e-4, atol=1e-4)
    rows.append(_rate_row("MLP 8x2048 batch 256, batches/s", "1 device actor", rate(one)))
    rows.append(_rate_row("MLP 8x2048 batch 256, batches/s", "2 device actors", rate(two)))
    for name, prog in (("1 device actor, channels", one), ("2 device actors, channels", two)):
        with prog.open_channels() as ch:
            def stream(ch=ch):
                futures = [ch.submit([x]) for _ in range(batches)]
                for f in futures:
                    f.result()

            stream()
            rows.append(_rate_row("MLP 8x2048 batch 256, batches/s", name,
                                  [batches / t for t in timeit(stream, 1, repeat)]))

    # The peer: the same pipeline hand-written on Ray, with the same kernels.
    whole = RawMlpStage.remote(arrays)
    half = layers // 2
    a, b = RawMlpStage.remote(arrays[:half]), RawMlpStage.remote(arrays[half:])
    np.testing.assert_allclose(ray.get(b.run.remote(a.run.remote(x))), one.run([x])[0],
                               rtol=1e-4, atol=1e-4)

    def raw_rate(call):
        return [batches / t for t in timeit(lambda: ray.get([call() for _ in range(batches)]),
                                             1, repeat)]

    rows.append(_rate_row("MLP, raw Ray pipeline, batches/s", "1 actor, same kernels",
                          raw_rate(lambda: whole.run.remote(x))))
    rows.append(_rate_row("MLP, raw Ray pipeline, batches/s", "2 actors, same kernels",
                          raw_rate(lambda: b.run.remote(a.run.remote(x)))))
    for h in (whole, a, b):
        ray.kill(h)


def _row(rows, what, who, samples, scale):
    lo, med = summary(samples)
    rows.append({"what": what, "who": who, "min": lo * scale, "median": med * scale})


def _rate_row(what, who, rates):
    # The worst of the repeats is the "min" figure here; the median is the median.
    return {"what": what, "who": who, "min": min(rates), "median": float(np.median(rates))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 3 if args.quick else 7
    tr.init(devices=2, cores_per_device=1)
    rows: list = []
    try:
        step_overhead(repeat, 100 if args.quick else 300, rows)
        big_transfer(repeat, rows)
        mlp_throughput(3 if args.quick else 5, 8 if args.quick else 32, rows)
    finally:
        tr.shutdown()
    base = {}
    print(f"{'measure':36s} {'who':30s} {'min':>10s} {'median':>10s} {'ratio (min/med)':>16s}")
    for r in rows:
        ref = base.setdefault(r["what"], r)
        ratio = (
            "" if ref is r else f"{r['min'] / ref['min']:.2f} / {r['median'] / ref['median']:.2f}"
        )
        print(f"{r['what']:36s} {r['who']:30s} {r['min']:10.3f} {r['median']:10.3f} {ratio:>16s}")
    print("ratios are against the first row of each measure, from the same run")
    save("distributed", rows)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.0f} s)")
