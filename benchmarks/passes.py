"""What the compiler passes buy at run time: three models through `CompiledStage` with the
passes off (level 0), the cleanup passes (level 1) and everything, fusions included
(level 2), side by side in one process, on one core.

    python -m benchmarks.passes [--quick]

Models: an MLP (matmul + bias + relu, x3), a small conv net (conv -> batch_norm -> relu,
x2, then pooling and a dense head), an elementwise-heavy block (gelu written out in
primitive ops, then a layer-norm-like normalization) and a chain of 17 cheap,
memory-bound elementwise ops. Figures are min / median ms per run
over repeats; ratios are level 0's time over this level's (above 1: faster). The
``optimize`` column is the one-off time of the passes themselves.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks.common import machine, save, summary, timeit
from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.core.executor import CompiledStage
from tfrt_ray.ir import Graph, GraphBuilder, TensorType
from tfrt_ray.passes import optimize


class _Model:
    def __init__(self, name: str, seed: int = 0) -> None:
        self.b = GraphBuilder(name)
        self.rng = np.random.default_rng(seed)

    def input(self, *shape: int) -> int:
        return self.b.add_input(TensorType("f32", shape), "x")

    def const(self, *shape: int, scale: float = 1.0, low: float | None = None) -> int:
        if low is None:
            a = self.rng.normal(0.0, scale, shape)
        else:
            a = self.rng.uniform(low, low + scale, shape)
        return self.b.add_node("constant", [], {"value": a.astype(np.float32)})[0]

    def scalar(self, value: float) -> int:
        return self.b.add_node("constant", [], {"value": np.float32(value)})[0]

    def op(self, op: str, *inputs: int, **attrs) -> int:
        return self.b.add_node(op, list(inputs), attrs)[0]

    def bn(self, v: int, c: int) -> int:
        params = [self.const(c, low=0.5), self.const(c), self.const(c), self.const(c, low=0.5)]
        return self.op("batch_norm", v, *params)


def mlp(batch: int = 64) -> tuple[Graph, np.ndarray]:
    m = _Model("mlp")
    v = m.input(batch, 256)
    for fan_in, fan_out in [(256, 512), (512, 512), (512, 10)]:
        v = m.op("matmul", v, m.const(fan_in, fan_out, scale=fan_in**-0.5))
        v = m.op("add", v, m.const(fan_out))
        if fan_out != 10:
            v = m.op("relu", v)
    return m.b.build([v]), m.rng.normal(size=(batch, 256)).astype(np.float32)


def convnet(batch: int = 8) -> tuple[Graph, np.ndarray]:
    m = _Model("convnet")
    v = m.input(batch, 3, 32, 32)
    for cin, cout, stride in [(3, 16, 1), (16, 32, 2)]:
        w = m.const(cout, cin, 3, 3, scale=(cin * 9) ** -0.5)
        v = m.op("conv2d", v, w, pads=(1, 1, 1, 1), strides=(stride, stride))
        v = m.op("relu", m.bn(v, cout))
    v = m.op("reshape", m.op("global_avg_pool", v), shape=(batch, 32))
    v = m.op("add", m.op("matmul", v, m.const(32, 10, scale=32**-0.5)), m.const(10))
    return m.b.build([v]), m.rng.normal(size=(batch, 3, 32, 32)).astype(np.float32)


def elementwise(rows: int = 256, cols: int = 1024) -> tuple[Graph, np.ndarray]:
    m = _Model("elementwise")
    x = m.input(rows, cols)
    # gelu(x) = x * 0.5 * (1 + erf(x / sqrt(2))), as a front end without a gelu op emits it
    inner = m.op("erf", m.op("div", x, m.scalar(math.sqrt(2.0))))
    g = m.op("mul", m.op("mul", x, m.scalar(0.5)), m.op("add", inner, m.scalar(1.0)))
    # layer-norm-like: (g - mean) / sqrt(var + eps) * scale + shift, then a residual
    d = m.op("sub", g, m.op("mean", g, axes=(-1,), keepdims=True))
    var = m.op("mean", m.op("mul", d, d), axes=(-1,), keepdims=True)
    y = m.op("div", d, m.op("sqrt", m.op("add", var, m.scalar(1e-5))))
    y = m.op("add", m.op("mul", y, m.const(cols)), m.const(cols))
    y = m.op("add", m.op("tanh", y), x)
    return m.b.build([y]), m.rng.normal(size=(rows, cols)).astype(np.float32)


LEVELS = (0, 1, 2)


def chain(rows: int = 512, cols: int = 1024) -> tuple[Graph, np.ndarray]:
    """Cheap, memory-bound elementwise ops: scale, shift and clamp, four times."""
    m = _Model("chain")
    v = x = m.input(rows, cols)
    for _ in range(4):
        v = m.op("add", m.op("mul", v, m.const(cols)), m.const(cols))
        v = m.op("minimum", m.op("maximum", v, m.scalar(-1.0)), m.scalar(1.0))
    v = m.op("add", v, x)
    return m.b.build([v]), m.rng.normal(size=(rows, cols)).astype(np.float32)


MODELS = {"mlp": mlp, "convnet": convnet, "elementwise": elementwise, "chain": chain}


def _stage(graph: Graph) -> CompiledStage:
    return compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat, number = (5, 10) if args.quick else (15, 20)
    threadpool_limits(1)  # one core, as a device actor with one core runs it
    rows = []
    for name, build in MODELS.items():
        graph, feed = build()
        stages, compile_ms = [], []
        for level in LEVELS:
            t0 = time.perf_counter()
            optimized = optimize(graph, level)
            compile_ms.append((time.perf_counter() - t0) * 1e3)
            stages.append((len(optimized.nodes), _stage(optimized)))
        (want,) = stages[0][1].run([feed])
        for _, stage in stages[1:]:
            np.testing.assert_allclose(stage.run([feed])[0], want, rtol=1e-4, atol=1e-4)
        # Levels take turns within each repeat, so drift in the machine's load hits all alike.
        samples: list[list[float]] = [[] for _ in LEVELS]
        for _ in range(repeat):
            for i, (_, stage) in enumerate(stages):
                samples[i] += timeit(lambda s=stage, f=[feed]: s.run(f), number, 1)
        base = summary(samples[0])
        for level, (n_nodes, _), times, opt_ms in zip(
            LEVELS, stages, samples, compile_ms, strict=True
        ):
            lo, med = summary(times)
            rows.append(
                {
                    "model": name,
                    "level": level,
                    "nodes": n_nodes,
                    "min_ms": lo * 1e3,
                    "median_ms": med * 1e3,
                    "speedup_min": base[0] / lo,
                    "speedup_median": base[1] / med,
                    "optimize_ms": opt_ms,
                }
            )
    print(f"# {machine()}; one core; level 0 time / level time (above 1: faster)")
    head = f"{'model':12s} {'level':>5s} {'nodes':>5s} {'min ms':>9s} {'median ms':>10s}"
    print(f"{head} {'x L0 (min/med)':>15s} {'optimize ms':>12s}")
    for r in rows:
        ratio = f"{r['speedup_min']:.2f} / {r['speedup_median']:.2f}"
        print(
            f"{r['model']:12s} {r['level']:5d} {r['nodes']:5d} {r['min_ms']:9.3f} "
            f"{r['median_ms']:10.3f} {ratio:>15s} {r['optimize_ms']:12.2f}"
        )
    save("passes", rows)


if __name__ == "__main__":
    main()
