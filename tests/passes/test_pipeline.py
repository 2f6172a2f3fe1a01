"""`optimize` and `PIPELINE`: levels, the verifier between passes, --print-ir-after-all,
timings, the kept signature, and errors that still point at the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray.passes as passes
from tests.passes.graphs import G, ops, rand, run
from tfrt_ray.config import debug
from tfrt_ray.errors import ConfigError, TfrtRayError, VerificationError
from tfrt_ray.ir import Graph
from tfrt_ray.passes import PIPELINE, optimize

NAMES = [
    "infer_types",
    "fold_constants",
    "simplify",
    "cse",
    "dce",
    "fold_batch_norm",
    "fuse_bias_activation",
    "fuse_elementwise",
]


def model() -> Graph:
    """conv -> batch_norm -> relu -> flatten -> dense + bias + gelu -> x * 1 -> tanh chain."""
    g = G("model")
    x = g.input((2, 3, 4, 4), name="image")
    y = g.op("conv2d", x, g.const(rand(4, 3, 3, 3)), pads=(1, 1, 1, 1), name="conv")
    bn = [g.const(rand(4, seed=i, low=0.5, high=1.5)) for i in range(4)]
    y = g.op("relu", g.op("batch_norm", y, *bn))
    y = g.op("reshape", g.op("identity", y), shape=(2, 64))
    scale = g.op("mul", g.const(2.0), g.const(0.25))  # folds to 0.5
    w = g.op("mul", g.const(rand(64, 8, seed=5)), scale)
    y = g.op("gelu", g.op("add", g.op("matmul", y, w), g.const(rand(8))))
    y = g.op("mul", y, g.const(1.0))
    y = g.op("sigmoid", g.op("tanh", y), name="head")
    return g.build(y, names=["probs"])


def test_pipeline_is_one_ordered_list():
    assert [name for name, _ in PIPELINE] == NAMES
    assert [name for name, _ in passes.passes_for(1)] == NAMES[:5]
    assert passes.passes_for(0) == []


def test_levels():
    graph = model()
    assert optimize(graph, level=0) is graph
    cleaned = optimize(graph, level=1, verify_each=True)
    assert ops(cleaned) == [
        "constant", "conv2d", "constant", "constant", "constant", "constant", "batch_norm",
        "relu", "reshape", "constant", "matmul", "constant", "add", "gelu", "tanh", "sigmoid",
    ]  # fmt: skip
    w = cleaned.producers[cleaned.nodes[10].inputs[1]]  # w * (2.0 * 0.25), folded
    assert (w.op, w.name) == ("constant", "mul_1")
    full = optimize(graph, verify_each=True)
    assert [(n.op, n.name, n.loc.line) for n in full.nodes] == [
        ("constant", "conv.w_folded", 1),
        ("constant", "conv.b_folded", 1),
        ("fused_conv2d", "conv+relu", 3),
        ("reshape", "reshape", 5),
        ("constant", "mul_1", 7),
        ("constant", "constant_8", 0),
        ("fused_matmul", "matmul+add+gelu", 10),
        ("fused_elementwise", "tanh+head", 13),
    ]
    feed = rand(2, 3, 4, 4, seed=9)
    for g in (cleaned, full):
        np.testing.assert_allclose(run(g, feed)[0], run(graph, feed)[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ConfigError, match="level"):
        optimize(graph, level=3)


def test_optimizing_twice_changes_nothing():
    once = optimize(model())
    assert optimize(once) is once


def test_print_ir_after_all(capsys):
    optimize(model(), print_ir_after_all=True)
    err = capsys.readouterr().err
    headers = [line for line in err.splitlines() if line.startswith("// -----")]
    assert headers == [f"// ----- after {name} -----" for name in NAMES]
    assert "dense<...elided...>" in err and "func @model(%0: tensor<2x3x4x4xf32>" in err


def test_print_ir_after_all_follows_the_debug_config(capsys, monkeypatch):
    monkeypatch.setattr(debug, "print_ir_after_all", True)
    optimize(model(), level=1)
    assert capsys.readouterr().err.count("// ----- after") == 5


def test_timings_collect_seconds_per_pass():
    timings: dict = {}
    optimize(model(), timings=timings)
    optimize(model(), timings=timings)
    assert list(timings) == NAMES
    assert all(isinstance(t, float) and t >= 0 for t in timings.values())


def test_verify_each_names_the_pass_that_broke_the_graph(monkeypatch):
    def drop_last_node(graph: Graph) -> Graph:
        return Graph(graph.name, graph.types, graph.inputs, graph.outputs, graph.nodes[:-1],
                     graph.input_names, graph.output_names)  # fmt: skip

    def rename_output(graph: Graph) -> Graph:
        return Graph(graph.name, graph.types, graph.inputs, graph.outputs, graph.nodes,
                     graph.input_names, ("renamed",))  # fmt: skip

    for bad, message in [(drop_last_node, "no input or node"), (rename_output, "signature")]:
        monkeypatch.setattr(passes, "PIPELINE", [("dce", passes.dce), ("bad", bad)])
        with pytest.raises(VerificationError, match=f"after pass 'bad': .*{message}"):
            optimize(model(), verify_each=True)


def test_signature_is_kept_when_outputs_collapse_onto_inputs():
    g = G("sig")
    x, y = g.input((3,), name="x"), g.input((3,), name="y")
    same = g.op("dropout", g.op("identity", x))
    graph = g.build(same, same, g.op("add", y, g.const(0.0)), names=["a", "b", "c"])
    out = optimize(graph, verify_each=True)
    assert (out.input_names, out.output_names) == (("x", "y"), ("a", "b", "c"))
    assert out.nodes == () and out.outputs == (0, 0, 1)
    feeds = rand(3), rand(3, seed=1)
    assert [a.tolist() for a in run(out, *feeds)] == [f.tolist() for f in (feeds[0], *feeds)]


def test_errors_in_fused_nodes_point_at_the_last_fused_line():
    g = G()
    x, y = g.input(("N", 4), name="x"), g.input(("M", 4), name="y")
    graph = g.build(g.op("relu", g.op("add", x, y)))
    fused = optimize(graph)
    assert ops(fused) == ["fused_elementwise"]
    (err,) = run(fused, rand(2, 4), rand(3, 4))  # N != M: the broadcast fails at run time
    assert isinstance(err, TfrtRayError)
    assert (err.node, err.loc) == ("add+relu", "model.py:2")
