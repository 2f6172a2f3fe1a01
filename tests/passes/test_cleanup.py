"""Golden before/after tests of the cleanup passes: type inference, constant folding, CSE,
DCE and algebraic simplification. Each checks the rewritten graph's structure (and, where
it matters, that it still computes the same values)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.passes.graphs import G, body, node, ops, rand, run
from tfrt_ray.errors import VerificationError
from tfrt_ray.ir import Graph, Loc, Node, TensorType, verify
from tfrt_ray.passes import cse, dce, fold_constants, infer_types, simplify

# ---- infer_types ---------------------------------------------------------------------


def _loose_graph() -> Graph:
    """relu of a 3x4 input, its result typed ?x4 and its attrs-less gelu not canonical."""
    t, loose = TensorType("f32", (3, 4)), TensorType("f32", ("?", 4))
    nodes = (
        Node("relu", (0,), (1,), (), "relu", Loc("model.py", 1)),
        Node("gelu", (1,), (2,), (), "gelu", Loc("model.py", 2)),
    )
    return Graph("loose", (t, loose, loose), (0,), (2,), nodes, ("x",), ("y",))


def test_infer_types_makes_loose_types_exact_and_attrs_canonical():
    graph = _loose_graph()
    with pytest.raises(VerificationError):
        verify(graph)
    fixed = infer_types(graph)
    verify(fixed)
    assert fixed.types == (TensorType("f32", (3, 4)),) * 3
    assert node(fixed, "gelu").attrs == (("approximate", "none"),)
    assert [n.loc for n in fixed.nodes] == [n.loc for n in graph.nodes]


def test_infer_types_returns_an_exact_graph_unchanged():
    g = G()
    x = g.input((2, 3))
    graph = g.build(g.op("tanh", g.op("relu", x)))
    assert infer_types(graph) is graph


# ---- fold_constants ------------------------------------------------------------------


def test_fold_constants_evaluates_constant_subexpressions_keeping_name_and_loc():
    g = G()
    x = g.input((2, 3), name="x")
    a, b = g.const([1.0, 2.0, 3.0]), g.const(2.0)
    scaled = g.op("mul", g.op("transpose", g.op("reshape", a, shape=(3, 1))), b, name="scale")
    graph = g.build(g.op("add", x, scaled))
    folded = fold_constants(graph)
    assert ops(folded).count("constant") == 5  # the three folded ones are new
    folded = dce(folded)
    assert ops(folded) == ["constant", "add"]
    const = folded.nodes[0]
    assert (const.name, const.loc) == ("scale", Loc("model.py", 3))
    np.testing.assert_array_equal(const.attr("value").array, [[2.0, 4.0, 6.0]])
    feed = rand(2, 3)
    np.testing.assert_array_equal(run(folded, feed)[0], run(graph, feed)[0])


def test_fold_constants_folds_shape_of_a_static_value():
    g = G()
    x = g.input((2, 5))
    graph = g.build(g.op("shape", x))
    folded = fold_constants(graph)
    assert ops(folded) == ["constant"]
    assert folded.nodes[0].attr("value").array.tolist() == [2, 5]


def test_fold_constants_splits_multi_output_nodes_into_named_constants():
    g = G()
    parts = g.ops("split", g.const(np.arange(5.0)), sizes=(2, 3), name="halves")
    folded = fold_constants(g.build(*parts))
    assert [n.name for n in folded.nodes if n.op == "constant"][-2:] == ["halves", "halves#1"]
    assert [a.tolist() for a in run(folded)] == [[0.0, 1.0], [2.0, 3.0, 4.0]]


def test_fold_constants_does_not_materialise_huge_results():
    g = G()
    tiled = g.op("tile", g.const(np.ones((4, 4))), repeats=(256, 256))  # 16 MiB
    transposed = g.op("transpose", g.const(np.ones((1024, 512))))  # 2 MiB, from 2 MiB
    graph = g.build(tiled, transposed)
    assert ops(fold_constants(graph)) == ["constant", "tile", "constant", "constant"]


def test_fold_constants_leaves_failing_kernels_to_report_at_run_time():
    g = G()
    out = g.op("gather", g.const(np.arange(3.0)), g.const(7, np.int64))  # out of range
    graph = g.build(out)
    assert fold_constants(graph) is graph


# ---- cse -----------------------------------------------------------------------------


def test_cse_merges_equal_nodes_and_equal_constants():
    g = G()
    x = g.input((3,))
    r1, r2 = g.op("relu", x), g.op("relu", x)
    c1, c2 = g.const([1.0, 2.0, 3.0]), g.const([1.0, 2.0, 3.0])
    graph = g.build(g.op("add", g.op("mul", r1, c1), g.op("mul", r2, c2)))
    merged = cse(graph)
    assert ops(merged) == ["relu", "constant", "mul", "add"]
    assert node(merged, "add").inputs == (node(merged, "mul").outputs[0],) * 2


def test_cse_keeps_nodes_whose_attrs_differ():
    g = G()
    x = g.input((3,))
    graph = g.build(
        g.op("gelu", x, approximate="none"),
        g.op("gelu", x, approximate="tanh"),
        g.op("clip", x, min=0.0),
        g.op("clip", x, min=-0.0),
    )
    assert cse(graph) is graph


# ---- dce -----------------------------------------------------------------------------


def test_dce_removes_dead_chains_and_keeps_partly_used_multi_output_nodes():
    g = G()
    x = g.input((4,), name="x")
    g.op("exp", g.op("tanh", x))  # dead
    first, _ = g.ops("split", x, sizes=(2, 2))
    graph = g.build(g.op("relu", first), names=["y"])
    pruned = dce(graph)
    assert ops(pruned) == ["split", "relu"]
    verify(pruned)
    assert body(pruned).splitlines()[0].startswith('%1, %2 = "tr.split"(%0)')
    assert dce(pruned) is pruned


# ---- simplify ------------------------------------------------------------------------


def test_simplify_removes_identity_ops_and_neutral_constants():
    g = G()
    x = g.input((2, 3), name="x")
    y = g.op("identity", x)
    y = g.op("dropout", y, ratio=0.2)
    y = g.op("cast", y, dtype="f32")
    y = g.op("mul", g.op("add", g.const(0.0), y), g.const(np.ones(3)))
    y = g.op("div", g.op("sub", y, g.const(0.0)), g.const(1.0))
    y = g.op("reshape", y, shape=(2, 3))
    y = g.op("transpose", y, perm=(0, 1))
    graph = g.build(g.op("tanh", y), names=["y"])
    assert body(dce(simplify(graph))) == "\n".join(
        [
            '%1 = "tr.tanh"(%0) : (tensor<2x3xf32>) -> tensor<2x3xf32> loc("tanh"("model.py":10))',
            "return %1",
        ]
    )


def test_simplify_keeps_ops_that_broadcast_promote_or_are_not_neutral():
    g = G()
    x = g.input((3,))
    graph = g.build(
        g.op("mul", x, g.const(np.ones((2, 3)))),  # broadcasts x to 2x3
        g.op("mul", x, g.const(1.0, np.float64)),  # promotes to f64
        g.op("sub", g.const(0.0), x),  # -x
        g.op("div", g.const(1.0), x),  # 1/x
        g.op("cast", x, dtype="f64"),
        g.op("mul", x, g.const([1.0, 2.0, 1.0])),
    )
    assert simplify(graph) is graph


def test_simplify_merges_reshape_and_transpose_chains():
    g = G()
    x = g.input((2, 3, 4), name="x")
    r = g.op("reshape", g.op("reshape", x, shape=(6, 4)), shape=(4, -1), name="r")
    t = g.op("transpose", g.op("transpose", x, perm=(1, 2, 0)), perm=(2, 0, 1))  # cancels
    u = g.op("transpose", g.op("transpose", x, perm=(1, 0, 2)), perm=(0, 2, 1), name="u")
    graph = g.build(r, t, u, names=["r", "t", "u"])
    out = dce(simplify(graph))
    assert ops(out) == ["reshape", "transpose"]
    reshape, transpose = out.nodes
    assert (reshape.name, reshape.loc, reshape.attr("shape")) == ("r", Loc("model.py", 2), (4, 6))
    assert (transpose.name, transpose.attr("perm")) == ("u", (1, 2, 0))
    assert out.outputs[1] == out.inputs[0]  # t is x itself
    feed = rand(2, 3, 4)
    for got, want in zip(run(out, feed), run(graph, feed), strict=True):
        np.testing.assert_array_equal(got, want)


def test_simplify_keeps_a_reshape_chain_whose_zero_copies_an_intermediate_dim():
    g = G()
    x = g.input(("N", 6))
    graph = g.build(g.op("reshape", g.op("reshape", x, shape=(0, 2, 3)), shape=(0, 6, 1)))
    assert simplify(graph) is graph
