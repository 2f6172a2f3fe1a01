"""Peak resident memory of one inference: tfrt-ray's default path against ONNX Runtime.

    python -m benchmarks.memory [--model bert|gpt2|resnet] [--repeat 3]

Each runtime runs in a fresh process of its own (so neither sees the other's pages): it
loads the model file, runs it twice on one thread, and reports its peak RSS (``VmHWM``).
The processes alternate, ``--repeat`` times each; figures are min and median in MiB, and
the ratio to ONNX Runtime's. A third process that only imports NumPy and reads the input
shows what the interpreter costs before any model.

- ONNX Runtime: ``InferenceSession(path)`` (1 intra-op thread, ORT_ENABLE_ALL), ``run``.
- tfrt-ray: ``tr.load_onnx(path).run(feeds)``, all defaults.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from benchmarks.common import machine, save, summary

_CHILD = r"""
import json, sys
import numpy as np
path, feeds_path, runtime = sys.argv[1:4]
feeds = dict(np.load(feeds_path))
if runtime == "onnxruntime":
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    for _ in range(2):
        sess.run(None, feeds)
elif runtime == "tfrt-ray":
    from threadpoolctl import threadpool_limits
    import tfrt_ray as tr
    with threadpool_limits(1):
        prog = tr.load_onnx(path)
        for _ in range(2):
            prog.run(feeds)
# VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over the exec)
with open("/proc/self/status") as f:
    hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"peak_kib": hwm}))
"""

RUNTIMES = ("onnxruntime", "tfrt-ray", "numpy only")


def build(name: str):
    from benchmarks import models

    if name == "bert":
        return models.bert_base(128), models.bert_input(128)
    if name == "gpt2":
        return models.gpt2_small(128), models.bert_input(128, vocab=50257)
    model = models.resnet50_light()
    return model, models.resnet50_input()


def peak_mib(path: str, feeds_path: str, runtime: str) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, path, feeds_path, runtime],
                         capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{runtime} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["peak_kib"] / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", choices=("bert", "gpt2", "resnet"), default="bert")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import onnx

    model, feeds = build(args.model)
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        path, feeds_path = os.path.join(tmp, "model.onnx"), os.path.join(tmp, "feeds.npz")
        onnx.save(model, path)
        np.savez(feeds_path, **feeds)
        size_mib = os.path.getsize(path) / 2**20
        del model
        samples: dict[str, list[float]] = {r: [] for r in RUNTIMES}
        for _ in range(args.repeat):
            for runtime in RUNTIMES:
                samples[runtime].append(peak_mib(path, feeds_path, runtime))
    ort_min, ort_med = summary(samples["onnxruntime"])
    rows = []
    print(f"\n{args.model}: model file {size_mib:.0f} MiB; peak RSS, MiB, {args.repeat} "
          "processes each")
    print(f"{'runtime':<14} {'min':>8} {'median':>8} {'x ORT min':>10} {'x ORT med':>10}")
    for runtime, values in samples.items():
        lo, med = summary(values)
        rows.append({"model": args.model, "runtime": runtime, "min_mib": round(lo, 1),
                     "median_mib": round(med, 1), "ratio_vs_ort_min": lo / ort_min,
                     "ratio_vs_ort_median": med / ort_med, "model_file_mib": round(size_mib)})
        print(f"{runtime:<14} {lo:>8.0f} {med:>8.0f} {lo / ort_min:>10.2f} "
              f"{med / ort_med:>10.2f}")
    save(f"memory_{args.model}", rows)


if __name__ == "__main__":
    main()
