"""The ONNX Runtime device's overhead: ResNet-50 (light, seeded weights) as one
``CompiledOrtStage`` over the whole optimized graph, in-process, against a plain ONNX
Runtime session on the original model, in the same run.

    python -m benchmarks.ort_device [--quick]

Both run with one intra-op thread. The stage re-exports the tfrt-ray graph (after
``optimize`` level 2) to ONNX, so its session runs that graph; the plain session runs the
original model with ``ORT_ENABLE_ALL``. Figures are min / median ms over repeats.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from benchmarks.common import machine, save, summary, timeit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = 5 if args.quick else 20

    from benchmarks.models import resnet50_input, resnet50_light
    from benchmarks.onnx_models import ort_session
    from device_actors.ort.device import CompiledOrtStage
    from tfrt_ray.frontends.onnx import import_model
    from tfrt_ray.passes import optimize

    print(f"machine: {machine()}; load average {os.getloadavg()}")
    model, feeds = resnet50_light(), resnet50_input()
    sess = ort_session(model)
    want = sess.run(None, feeds)[0]
    g = optimize(import_model(model).graph, 2)
    stage = CompiledOrtStage(g.nodes, g.types, g.inputs, g.outputs, "ort", "ort:0", cores=1)
    if stage.session is None:
        raise SystemExit(f"the ORT stage fell back: {stage.fallback_reason}")
    args_ = [feeds[n] for n in g.input_names]
    got = stage.run(args_)[0]
    if not np.allclose(got, want, rtol=1e-3, atol=1e-6):
        raise SystemExit("the ORT device's output differs from plain ONNX Runtime")
    stage_feed = dict(zip(stage.input_names, args_, strict=True))

    runs = [
        ("plain onnxruntime session (original model)", lambda: sess.run(None, feeds)),
        ("CompiledOrtStage.run (tfrt-ray ORT device)", lambda: stage.run(args_)),
        ("its session.run directly (exported graph)",
         lambda: stage.session.run(stage.output_names, stage_feed)),
        ("plain onnxruntime session (again)", lambda: sess.run(None, feeds)),
    ]
    rows = []
    for label, fn in runs:
        lo, med = summary(timeit(fn, 1, repeat))
        rows.append({"runtime": label, "min_ms": lo * 1e3, "median_ms": med * 1e3})
    base = rows[0]
    print(f"\n{'resnet50-light, batch 1, 1 thread':<46} {'min ms':>8} {'median ms':>10} "
          f"{'x plain min':>11} {'x plain med':>11}")
    for r in rows:
        r["ratio_min"] = r["min_ms"] / base["min_ms"]
        r["ratio_median"] = r["median_ms"] / base["median_ms"]
        print(f"{r['runtime']:<46} {r['min_ms']:>8.2f} {r['median_ms']:>10.2f} "
              f"{r['ratio_min']:>11.3f} {r['ratio_median']:>11.3f}")
    save("ort_device", rows)


if __name__ == "__main__":
    main()
