"""Single-thread, batch-1 latency of real-size ONNX models: tfrt-ray in-process against
ONNX Runtime, in one run. Also the compiler's pass levels, and executable load time.

    python -m benchmarks.onnx_models [--quick] [--keep-openblas-env]

Models (built locally by `benchmarks.models`, seeded random weights): ResNet-50 and
SqueezeNet (the light models of the onnx wheel, 1x3x224x224), a BERT-base-size encoder and
a GPT-2-small-size decoder (seq 128).

- tfrt-ray ``tr.load_onnx(path).run(feeds)``: the default path (opt_level 2 and the CPU
  stage's compilation, kernels chosen by trial: `device_actors.cpu.autotune`), held to one
  thread like the rest; the row gives the first run's time (import, compile, trials) and
  how many kernel trials it ran or found cached.
- tfrt-ray: import -> ``optimize(level)`` -> ``CompiledStage(..., cores=1)``, run
  in-process with BLAS and OpenMP held to one thread (threadpoolctl). The stage's
  convolutions run through oneDNN on channels-last values where it is installed
  (`device_actors.cpu.onednn_lowering`); "kernels by rule" is -O2 with oneDNN wherever it
  applies (``TFRT_RAY_KERNELS=rule``), "oneDNN off" -O2 on the NumPy kernels only.
- ONNX Runtime: ``intra_op_num_threads=1``, ``inter_op_num_threads=1``, sequential,
  ``ORT_ENABLE_ALL``.
- Levels 0 / 1 / 2: no passes / cleanup / cleanup + batch-norm folding and fusions.
- Load: a compiled ResNet-50 executable (``read_executable`` + ``CompiledStage``) against
  importing the ONNX model from scratch (import + optimize + ``CompiledStage``).

Every tfrt-ray output is checked against ONNX Runtime's (rtol 1e-3). Figures are min /
median over repeats, in ms.

BLAS: on some machines OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set (for old OpenBLAS
builds); they make numpy's OpenBLAS run an older, slower kernel. Unless
``--keep-openblas-env``, this script re-executes itself once with both unset, for its own
process only, and prints the BLAS kernel threadpoolctl then reports.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from unittest import mock

import numpy as np

from benchmarks.common import machine, save, summary, timeit

_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def _reexec_without_openblas_env(argv: list[str]) -> None:
    if any(k in os.environ for k in _ENV):
        env = {k: v for k, v in os.environ.items() if k not in _ENV}
        env["TFRT_RAY_BENCH_UNSET_OPENBLAS"] = ",".join(k for k in _ENV if k in os.environ)
        os.execve(sys.executable, [sys.executable, "-m", "benchmarks.onnx_models", *argv], env)


def blas_note() -> str:
    from threadpoolctl import threadpool_info

    info = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    kern = ", ".join(f"{i['internal_api']} {i.get('version')} kernel {i.get('architecture')}"
                     for i in info) or "no BLAS found"
    unset = os.environ.get("TFRT_RAY_BENCH_UNSET_OPENBLAS")
    env = (f"unset for this process: {unset}" if unset else
           "OPENBLAS env: " + (", ".join(f"{k}={os.environ[k]}" for k in _ENV if k in os.environ)
                               or "none set"))
    return f"{kern} ({env})"


def ort_session(model):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def tfrt_stage(model, level: int):
    from tfrt_ray.core.device_types import compile_stage
    from tfrt_ray.frontends.onnx import import_model
    from tfrt_ray.passes import optimize

    g = optimize(import_model(model).graph, level)
    return g, compile_stage(g.nodes, g.types, g.inputs, g.outputs, "cpu", "host:0", cores=1)


def stage_fn(graph, stage, feeds):
    args = [feeds[n] for n in graph.input_names]
    return lambda: stage.run(args)


def check(name: str, got, want) -> None:
    got = np.asarray(got)
    if not np.allclose(got, want, rtol=1e-3, atol=1e-5 * max(1.0, float(np.abs(want).max()))):
        raise SystemExit(f"{name}: tfrt-ray differs from ONNX Runtime: max abs diff "
                         f"{np.abs(got - want).max():.3g}")


@contextlib.contextmanager
def _variant(variant: str):
    """One thread, and the kernel choice a row names: "" (measured, the default), "rule"
    (TFRT_RAY_KERNELS=rule) or "onednn off" (NumPy kernels only)."""
    from threadpoolctl import threadpool_limits

    from device_actors.cpu import onednn

    env = {"TFRT_RAY_KERNELS": "rule"} if variant == "rule" else {}
    with mock.patch.dict(os.environ, env), threadpool_limits(1), (
            onednn.turned_off() if variant == "onednn off" else contextlib.nullcontext()):
        yield


def bench_model(label, model, feeds, number, repeat, rows):
    from threadpoolctl import threadpool_limits

    sess = ort_session(model)
    want = sess.run(None, feeds)[0]
    ort_t = summary(timeit(lambda: sess.run(None, feeds), number, repeat))
    rows.append({"model": label, "runtime": "onnxruntime", "min_ms": ort_t[0] * 1e3,
                 "median_ms": ort_t[1] * 1e3, "ratio_vs_ort_min": 1.0,
                 "ratio_vs_ort_median": 1.0})
    # What the README shows first: tr.load_onnx(model).run(feeds), all defaults. It compiles
    # on its first run, under the same one-thread limits as it runs (as a user's process
    # holding those limits would); the kernel trials that compile makes are reported.
    import tfrt_ray as tr
    from device_actors.cpu import autotune

    before = autotune.report()
    with threadpool_limits(1):
        t0 = time.perf_counter()
        prog = tr.load_onnx(model)
        feeds_in = {n: feeds[n] for n in prog.input_names}
        first = prog.run(feeds_in)
        load_s = time.perf_counter() - t0
        check(f"{label} load_onnx().run", next(iter(first.values())), want)
        t = summary(timeit(lambda: prog.run(feeds_in), number, repeat))
    after = autotune.report()
    rows.append({"model": label, "runtime": "tfrt-ray tr.load_onnx(path).run (default)",
                 "nodes": len(prog.graph.nodes), "min_ms": t[0] * 1e3,
                 "median_ms": t[1] * 1e3, "ratio_vs_ort_min": t[0] / ort_t[0],
                 "ratio_vs_ort_median": t[1] / ort_t[1],
                 "first_run_s": round(load_s, 2), "kernel_trials": after.trials - before.trials,
                 "kernel_trials_cached": after.cached - before.cached,
                 "kernel_trial_s": round(after.seconds - before.seconds, 2)})
    prog = first = None  # free its weights before the rows below
    for level, variant in ((0, ""), (1, ""), (2, ""), (2, "rule"), (2, "onednn off")):
        with _variant(variant):
            g, stage = tfrt_stage(model, level)
            fn = stage_fn(g, stage, feeds)
            out = fn()
            check(f"{label} level {level} {variant}", out[0], want)
            t = summary(timeit(fn, number, repeat))
        name = f"tfrt-ray -O{level}" + {"": "", "rule": ", kernels by rule (oneDNN)",
                                         "onednn off": ", oneDNN off"}[variant]
        rows.append({"model": label, "runtime": name, "nodes": len(g.nodes),
                     "onednn_ops": stage.onednn_ops,
                     "min_ms": t[0] * 1e3, "median_ms": t[1] * 1e3,
                     "ratio_vs_ort_min": t[0] / ort_t[0],
                     "ratio_vs_ort_median": t[1] / ort_t[1]})
        del g, stage, fn, out
    # ONNX Runtime again after tfrt-ray, so a drift in machine load shows.
    ort_t2 = summary(timeit(lambda: sess.run(None, feeds), number, repeat))
    rows.append({"model": label, "runtime": "onnxruntime (again)", "min_ms": ort_t2[0] * 1e3,
                 "median_ms": ort_t2[1] * 1e3, "ratio_vs_ort_min": ort_t2[0] / ort_t[0],
                 "ratio_vs_ort_median": ort_t2[1] / ort_t[1]})


def bench_load(model, feeds, repeat, rows):
    from tfrt_ray.core.device_types import compile_stage
    from tfrt_ray.executable import read_executable, write_executable

    g, _ = tfrt_stage(model, 2)
    raw = model.SerializeToString()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resnet50.tfrt")
        size = write_executable(path, g)

        def from_exe():
            exe = read_executable(path)
            eg = exe.graph
            return eg, compile_stage(eg.nodes, eg.types, eg.inputs, eg.outputs, "cpu",
                                     "host:0", cores=1)

        def from_onnx():
            import onnx

            return tfrt_stage(onnx.load_from_string(raw), 2)

        eg, stage = from_exe()
        want = ort_session(model).run(None, feeds)[0]
        check("executable", stage_fn(eg, stage, feeds)()[0], want)
        for what, fn in (("read_executable + CompiledStage", from_exe),
                         ("ONNX bytes: parse + import + optimize -O2 + CompiledStage", from_onnx)):
            t = summary(timeit(fn, 1, repeat))
            rows.append({"model": "resnet50-light", "runtime": f"load: {what}",
                         "min_ms": t[0] * 1e3, "median_ms": t[1] * 1e3,
                         "file_bytes": size if "executable" in what else len(raw)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--keep-openblas-env", action="store_true",
                        help="leave OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE as they are")
    parser.add_argument("--only", choices=("resnet", "squeezenet", "bert", "gpt2", "load"),
                        action="append")
    args = parser.parse_args()
    if not args.keep_openblas_env:
        _reexec_without_openblas_env(sys.argv[1:])

    from benchmarks import models

    repeat = 5 if args.quick else 15
    only = set(args.only or ("resnet", "squeezenet", "bert", "gpt2", "load"))
    rows: list[dict] = []
    print(f"machine: {machine()}; BLAS: {blas_note()}")
    try:
        print(f"load average: {os.getloadavg()}")
    except OSError:
        pass
    t0 = time.perf_counter()
    if "resnet" in only or "load" in only:
        resnet, rfeeds = models.resnet50_light(), models.resnet50_input()
    if "resnet" in only:
        bench_model("resnet50-light", resnet, rfeeds, 1, repeat, rows)
    if "squeezenet" in only:
        squeeze = models.light_model("squeezenet")
        bench_model("squeezenet-light", squeeze, models.light_input(squeeze), 1, repeat, rows)
    if "bert" in only:
        bench_model("bert-base-seq128", models.bert_base(128), models.bert_input(128), 1,
                    repeat, rows)
    if "gpt2" in only:
        bench_model("gpt2-small-seq128", models.gpt2_small(128),
                    models.bert_input(128, vocab=50257), 1, repeat, rows)
    if "load" in only:
        bench_load(resnet, rfeeds, repeat, rows)
    print(f"\n{'model':<18} {'runtime':<60} {'min ms':>9} {'median ms':>10} "
          f"{'x ORT min':>9} {'x ORT med':>9}")
    for r in rows:
        ratios = (f"{r['ratio_vs_ort_min']:>9.2f} {r['ratio_vs_ort_median']:>9.2f}"
                  if "ratio_vs_ort_min" in r else "")
        print(f"{r['model']:<18} {r['runtime']:<60} {r['min_ms']:>9.2f} "
              f"{r['median_ms']:>10.2f} {ratios}")
    print(f"\n(total {time.perf_counter() - t0:.0f} s; BLAS: {blas_note()})")
    for r in rows:
        r["blas"] = blas_note()
    save("onnx_models", rows)


if __name__ == "__main__":
    main()
