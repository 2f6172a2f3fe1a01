"""Dispatch overhead: eager tiny ops and a traced 100-op chain, against raw NumPy, ONNX
Runtime and (where installed) PyTorch and TensorFlow, side by side in one process.

    python benchmarks/dispatch.py [--quick]

(a) eager ``a + b`` of two 4x4 float32; (b) a traced chain of 100 tiny ops (add/mul
alternating), per op and per call. Figures are min / median over repeats, in us.
"""

from __future__ import annotations

import argparse
import importlib.util

import numpy as np

from benchmarks.common import save, summary, timeit

CHAIN = 100


def numpy_peers(a, b):
    def eager():
        return np.add(a, b)

    def chain():
        x = a
        for i in range(CHAIN):
            x = np.add(x, b) if i % 2 == 0 else np.multiply(x, b)
        return x

    return eager, chain


def tfrt_ray_peers(a, b):
    import tfrt_ray as tr

    ta, tb = tr.tensor(a), tr.tensor(b)

    def eager():
        return ta + tb

    @tr.function
    def chain_fn(x, y):
        for i in range(CHAIN):
            x = x + y if i % 2 == 0 else x * y
        return x

    @tr.function
    def one_op(x, y):
        return x + y

    ta + tb  # the first add checks the spec; later ones take the fast path
    return eager, lambda: chain_fn(ta, tb), lambda: one_op(ta, tb)


def onnxruntime_peer(a, b):
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime as ort
    from onnx import TensorProto, helper

    nodes, prev = [], "x"
    for i in range(CHAIN):
        nodes.append(helper.make_node("Add" if i % 2 == 0 else "Mul", [prev, "y"], [f"t{i}"]))
        prev = f"t{i}"
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [4, 4]) for n in ("x", "y")]
    graph = helper.make_graph(
        nodes, "chain", info, [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [4, 4])]
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {"x": a, "y": b}
    return lambda: sess.run(None, feeds)


def torch_peers(a, b):
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    torch.set_num_threads(1)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return (lambda: ta + tb), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeat = 5 if args.quick else 15
    rng = np.random.default_rng(0)
    a = rng.random((4, 4), dtype=np.float32)
    b = rng.random((4, 4), dtype=np.float32)

    np_eager, np_chain = numpy_peers(a, b)
    tr_eager, tr_chain, tr_one = tfrt_ray_peers(a, b)
    np.testing.assert_allclose(tr_chain().numpy(), np_chain(), rtol=1e-5)

    rows = []

    def record(what, who, samples, per=1):
        lo, med = summary(samples)
        rows.append(
            {"what": what, "who": who, "min_us": lo / per * 1e6, "median_us": med / per * 1e6}
        )

    record("eager add 4x4, per op", "numpy", timeit(np_eager, 20000, repeat))
    record("eager add 4x4, per op", "tfrt-ray", timeit(tr_eager, 20000, repeat))
    torch = torch_peers(a, b)
    if torch:
        record("eager add 4x4, per op", "torch", timeit(torch[0], 20000, repeat))
    chain_np = timeit(np_chain, 300, repeat)
    chain_tr = timeit(tr_chain, 300, repeat)
    record("100-op chain, per op", "numpy", chain_np, CHAIN)
    record("100-op chain, per op", "tfrt-ray traced", chain_tr, CHAIN)
    ort_run = onnxruntime_peer(a, b)
    if ort_run:
        chain_ort = timeit(ort_run, 300, repeat)
        record("100-op chain, per op", "onnxruntime", chain_ort, CHAIN)
    record("100-op chain, per call", "numpy", chain_np)
    record("100-op chain, per call", "tfrt-ray traced", chain_tr)
    if ort_run:
        record("100-op chain, per call", "onnxruntime", chain_ort)
    # The fixed cost of a call: a traced one-op function against the one NumPy call.
    record("traced 1-op function, per call", "numpy", timeit(np_eager, 20000, repeat))
    record("traced 1-op function, per call", "tfrt-ray traced", timeit(tr_one, 20000, repeat))

    base = {r["what"]: r for r in rows if r["who"] == "numpy"}
    print(
        f"{'measure':48s} {'who':18s} {'min us':>9s} {'median us':>10s} {'x numpy (min/med)':>18s}"
    )
    for r in rows:
        ref = base.get(r["what"])
        ratio = (
            f"{r['min_us'] / ref['min_us']:.2f} / {r['median_us'] / ref['median_us']:.2f}"
            if ref and r["who"] != "numpy"
            else ""
        )
        print(
            f"{r['what']:48s} {r['who']:18s} {r['min_us']:9.3f} {r['median_us']:10.3f} {ratio:>18s}"
        )
    save("dispatch", rows)


if __name__ == "__main__":
    main()
