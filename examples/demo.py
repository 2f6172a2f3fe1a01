"""The tfrt-ray tour that `make demo` runs: eager ops, a traced function, and the same
program compiled across device actors on a local Ray that tfrt-ray starts itself.

    python examples/demo.py [--devices N]     # N=0: in-process only (no Ray)
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import tfrt_ray as tr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, default=2, help="device actors (0: no Ray)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    print("1. Eager ops on the in-process host device (the embedded default)")
    x = tr.tensor(rng.random((64, 128), dtype=np.float32))
    w = tr.tensor(rng.random((128, 10), dtype=np.float32))
    y = tr.softmax(tr.relu(x @ w) + 1.0, axis=-1)
    print(f"   y = softmax(relu(x @ w) + 1): {y.shape} {y.dtype}; rows sum to "
          f"{y.numpy().sum(-1)[:3].round(5)}")

    print("2. A traced function: traced once per input signature, then run compiled")
    w1 = tr.tensor((rng.standard_normal((128, 256)) * 0.05).astype(np.float32))
    w2 = tr.tensor((rng.standard_normal((256, 10)) * 0.05).astype(np.float32))

    @tr.function
    def mlp(x):
        return tr.softmax(tr.relu(x @ w1) @ w2, axis=-1)

    out = mlp(x)
    t0 = time.perf_counter()
    for _ in range(100):
        mlp(x)
    per_call = (time.perf_counter() - t0) / 100 * 1e6
    print(f"   mlp(x): {out.shape}; {mlp.trace_count} trace, {per_call:.0f} us per call")
    print("   its IR (constants elided):")
    for line in mlp.lower(x).as_text(elide_constants=True).splitlines():
        print("     " + line[:110])

    if args.devices <= 0:
        return
    print(f"3. The same program on {args.devices} device actors (a local Ray started here)")
    t0 = time.perf_counter()
    tr.init(devices=args.devices)
    print(f"   started in {time.perf_counter() - t0:.1f} s")
    try:
        batch = rng.random((64, 128), dtype=np.float32)
        want = mlp(batch).numpy()
        for strategy in ("auto", "pipeline", "replicate"):
            prog = tr.compile(mlp, (batch,), strategy=strategy)
            steps = [prog.submit([batch]) for _ in range(8)]  # 8 steps in flight
            results = [s.result(timeout=60)[0] for s in steps]
            same = all(np.allclose(r, want, rtol=1e-4, atol=1e-6) for r in results)
            print(f"   strategy={strategy:9s} -> {prog.plan.strategy:9s} "
                  f"{len(prog.plan.stages)} stage(s); 8 steps match in-process: {same}")
        print("   placement table of the last program:")
        for line in prog.placement_table().splitlines():
            print("     " + line)
        with tr.device("cpu:1"):
            z = tr.tensor(batch) @ w1
        print(f"   eager op under tr.device('cpu:1'): {z!r}")
        print(f"   its value, fetched: mean {z.numpy().mean():.4f}")
    finally:
        tr.shutdown()


if __name__ == "__main__":
    main()
