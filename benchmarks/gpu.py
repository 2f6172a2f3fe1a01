"""The "gpu" device type (CuPy kernels) against the NumPy CPU kernels, side by side.

Two programs, each compiled once per device type and run many times: an MLP and a small
conv net. The GPU figure includes copying the inputs to the GPU and the outputs back (what a
device actor does per stage call). Prints "no GPU: skipped" where CuPy or a GPU is missing.

    python -m benchmarks.gpu [--quick]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks.common import machine, save, summary, timeit
from tfrt_ray.core import device_types as plugins
from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType


def _weights(b: GraphBuilder, rng, *shape: int) -> int:
    value = (rng.standard_normal(shape) / np.sqrt(shape[0] if len(shape) > 1 else 1))
    return b.add_node("constant", [], {"value": value.astype("f4")})[0]


def mlp(batch: int, width: int, depth: int):
    rng = np.random.default_rng(0)
    b = GraphBuilder("mlp")
    h = b.add_input(TensorType("f32", (batch, width)), "x")
    for _ in range(depth):
        h = b.add_node("matmul", [h, _weights(b, rng, width, width)])[0]
        h = b.add_node("relu", [b.add_node("add", [h, _weights(b, rng, width)])[0]])[0]
    out = b.add_node("softmax", [h], {"axis": -1})[0]
    return b.build([out]), [rng.standard_normal((batch, width)).astype("f4")]


def convnet(batch: int, size: int, channels: int):
    rng = np.random.default_rng(1)
    b = GraphBuilder("convnet")
    h = b.add_input(TensorType("f32", (batch, 3, size, size)), "image")
    c_in = 3
    for c in (channels, channels * 2):
        w = _weights(b, rng, c, c_in, 3, 3)
        h = b.add_node("conv2d", [h, w, _weights(b, rng, c)], {"pads": (1, 1, 1, 1)})[0]
        scale, shift = _weights(b, rng, c), _weights(b, rng, c)
        mean = _weights(b, rng, c)
        var = b.add_node("constant", [], {"value": np.ones(c, "f4")})[0]
        h = b.add_node("batch_norm", [h, scale, shift, mean, var])[0]
        h = b.add_node("relu", [h])[0]
        h = b.add_node("max_pool2d", [h], {"kernel_shape": (2, 2), "strides": (2, 2)})[0]
        c_in = c
    h = b.add_node("flatten", [b.add_node("global_avg_pool", [h])[0]], {"axis": 1})[0]
    out = b.add_node("gemm", [h, _weights(b, rng, c_in, 1000), _weights(b, rng, 1000)])[0]
    feeds = [rng.standard_normal((batch, 3, size, size)).astype("f4")]
    return b.build([out]), feeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller programs, fewer runs")
    args = parser.parse_args()
    gpus = plugins.safe_discover(plugins.get_device_type("gpu"))
    if not gpus:
        print("no GPU: skipped")
        return
    cores = os.cpu_count() or 1
    q = args.quick
    programs = {
        "mlp": mlp(batch=64 if q else 512, width=512 if q else 2048, depth=4),
        "convnet": convnet(batch=4 if q else 32, size=32 if q else 96, channels=32),
    }
    number, repeat = (3, 3) if q else (10, 7)
    print(f"{machine()}; GPU: {gpus[0].name}, {gpus[0].mem_bytes / 2**30:.0f} GiB")
    print(f"{'program':10} {'cpu min ms':>11} {'cpu med ms':>11} {'gpu min ms':>11} "
          f"{'gpu med ms':>11} {'speedup (min)':>14}")
    rows = []
    for name, (g, feeds) in programs.items():
        cpu = compile_stage(g.nodes, g.types, g.inputs, g.outputs, "cpu", "cpu:0", cores)
        gpu = plugins.compile_stage(g.nodes, g.types, g.inputs, g.outputs, "gpu", "gpu:0")
        want, got = cpu.run(feeds), gpu.run(feeds)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
        c_min, c_med = summary(timeit(lambda s=cpu, f=feeds: s.run(f), number, repeat))
        g_min, g_med = summary(timeit(lambda s=gpu, f=feeds: s.run(f), number, repeat))
        print(f"{name:10} {c_min * 1e3:11.3f} {c_med * 1e3:11.3f} {g_min * 1e3:11.3f} "
              f"{g_med * 1e3:11.3f} {c_min / g_min:14.2f}")
        rows.append({"program": name, "cpu_min_s": c_min, "cpu_median_s": c_med,
                     "gpu_min_s": g_min, "gpu_median_s": g_med, "cpu_cores": cores,
                     "gpu": gpus[0].name, "speedup_min": c_min / g_min})
    save("gpu", rows)


if __name__ == "__main__":
    main()
