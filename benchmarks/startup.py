"""Start-up: ``tfrt-ray run`` of a 1-op ONNX model against an ONNX Runtime one-liner.

    python -m benchmarks.startup [--repeat N]

Both are fresh processes, wall clock, alternating (so a drift in machine load hits both):
- tfrt-ray: ``tfrt-ray run relu.onnx --inputs in.npz --output out.npz --overwrite``;
- ONNX Runtime: ``python -c`` that makes an InferenceSession, runs it on the same .npz
  and saves the output with ``np.savez``.
Reports min and median seconds and their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.common import machine, save, summary

ORT_ONE_LINER = (
    "import numpy as np, onnxruntime as ort; s = ort.InferenceSession('relu.onnx'); "
    "np.savez('ort.npz', **dict(zip(['y'], s.run(None, dict(np.load('in.npz'))))))"
)


def _model(folder: str) -> None:
    from onnx import TensorProto, helper, save_model

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])])
    save_model(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
               os.path.join(folder, "relu.onnx"))
    np.savez(os.path.join(folder, "in.npz"), x=np.ones((2, 4), np.float32))


def _wall(cmd: list[str], cwd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args()
    tfrt_ray_cli = [sys.executable, "-m", "tfrt_ray.cli", "run", "relu.onnx", "--inputs",
                    "in.npz", "--output", "out.npz", "--overwrite"]
    ort = [sys.executable, "-c", ORT_ONE_LINER]
    with tempfile.TemporaryDirectory() as folder:
        _model(folder)
        _wall(tfrt_ray_cli, folder), _wall(ort, folder)  # warm the page cache
        ours, theirs = [], []
        for _ in range(args.repeat):
            ours.append(_wall(tfrt_ray_cli, folder))
            theirs.append(_wall(ort, folder))
    (o_min, o_med), (t_min, t_med) = summary(ours), summary(theirs)
    print(f"machine: {machine()}")
    print(f"tfrt-ray run, 1-op model   min {o_min:.3f} s  median {o_med:.3f} s")
    print(f"ONNX Runtime one-liner      min {t_min:.3f} s  median {t_med:.3f} s")
    print(f"ratio                       min {o_min / t_min:.2f}x  median {o_med / t_med:.2f}x")
    save("startup", [{"runtime": "tfrt-ray run", "min_s": o_min, "median_s": o_med,
                      "ratio_vs_ort_min": o_min / t_min, "ratio_vs_ort_median": o_med / t_med},
                     {"runtime": "onnxruntime one-liner", "min_s": t_min, "median_s": t_med}])


if __name__ == "__main__":
    main()
