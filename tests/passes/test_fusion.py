"""Golden before/after tests of batch-norm folding, bias + activation fusion and
elementwise fusion: what gets fused (and what must not), the fused node's name and
location, and that the fused graph computes what the original did."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.passes.graphs import G, body, node, ops, rand, run
from tfrt_ray.core.kernels.fused import plan_body
from tfrt_ray.errors import DTypeError, OpAttributeError, ShapeError
from tfrt_ray.ir import GraphBuilder, Loc, TensorType, verify
from tfrt_ray.ir.ops import get_op
from tfrt_ray.passes import fold_batch_norm, fuse_bias_activation, fuse_elementwise

F32 = dict(rtol=1e-5, atol=1e-5)


def same_values(a, b, *feeds, **tol):
    for got, want in zip(run(a, *feeds), run(b, *feeds), strict=True):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, **(tol or F32))


def _bn(g: G, y: int, c: int, seed: int = 0) -> int:
    scale, bias, mean = (rand(c, seed=seed + i) for i in range(3))
    var = rand(c, seed=seed + 3, low=0.5, high=2.0)
    return g.op("batch_norm", y, *(g.const(p) for p in (scale, bias, mean, var)), name="bn")


# ---- fold_batch_norm -----------------------------------------------------------------


def _conv_bn(with_bias: bool, extra_user: bool = False):
    g = G("convbn")
    x = g.input((2, 3, 6, 6), name="x")
    b = [g.const(rand(4, seed=9))] if with_bias else []
    y = g.op("conv2d", x, g.const(rand(4, 3, 3, 3, seed=8)), *b, pads=(1, 1, 1, 1), name="conv")
    out = [_bn(g, y, 4)] + ([g.op("relu", y)] if extra_user else [])
    return g.build(*out)


def test_fold_batch_norm_into_conv():
    for with_bias in (False, True):
        graph = _conv_bn(with_bias)
        folded = fold_batch_norm(graph)
        verify(folded)
        assert ops(folded) == ["constant", "constant", "conv2d"]
        conv = node(folded, "conv2d")
        assert (conv.name, conv.loc) == ("conv", Loc("model.py", 1))
        same_values(folded, graph, rand(2, 3, 6, 6, seed=1))


def test_fold_batch_norm_needs_the_conv_output_to_itself_and_constant_parameters():
    assert fold_batch_norm(_conv_bn(True, extra_user=True)) == _conv_bn(True, extra_user=True)
    g = G()
    x, scale = g.input((2, 3, 4, 4)), g.input((3,), name="scale")
    y = g.op("conv2d", x, g.const(rand(3, 3, 1, 1)))
    c = [g.const(np.ones(3, np.float32)) for _ in range(3)]
    graph = g.build(g.op("batch_norm", y, scale, *c))
    assert fold_batch_norm(graph) is graph


def test_fold_batch_norm_into_matmul_becomes_matmul_plus_bias_named_after_the_bn():
    g = G()
    x = g.input((5, 4), name="x")
    y = g.op("matmul", x, g.const(rand(4, 3, seed=2)), name="fc")
    graph = g.build(_bn(g, y, 3))
    folded = fold_batch_norm(graph)
    assert ops(folded) == ["constant", "constant", "matmul", "add"]
    assert [(n.name, n.loc) for n in folded.nodes[2:]] == [
        ("fc", Loc("model.py", 1)),
        ("bn", Loc("model.py", 2)),
    ]
    same_values(folded, graph, rand(5, 4, seed=3))


def test_fold_batch_norm_into_gemm_with_transposed_weights_alpha_beta_and_c():
    g = G()
    x = g.input((5, 4))
    y = g.op(
        "gemm",
        x,
        g.const(rand(3, 4, seed=4)),
        g.const(rand(5, 1, seed=5)),
        alpha=0.5,
        beta=2.0,
        trans_b=True,
    )
    graph = g.build(_bn(g, y, 3))
    folded = fold_batch_norm(graph)
    gemm = node(folded, "gemm")
    assert ops(folded) == ["constant", "constant", "gemm"]
    assert (gemm.attr("alpha"), gemm.attr("beta"), gemm.attr("trans_b")) == (0.5, 1.0, True)
    same_values(folded, graph, rand(5, 4, seed=6))


def test_fold_batch_norm_leaves_batched_matmuls_alone():
    g = G()
    y = g.op("matmul", g.input((2, 5, 4)), g.const(rand(4, 3)))
    graph = g.build(_bn(g, y, 5))
    assert fold_batch_norm(graph) is graph


# ---- fuse_bias_activation ------------------------------------------------------------


def test_fuse_matmul_bias_relu_golden():
    g = G("mlp")
    x = g.input((8, 4), name="x")
    y = g.op("matmul", x, g.const(rand(4, 3)), name="fc")
    y = g.op("relu", g.op("add", y, g.const(rand(3))))
    graph = g.build(y, names=["y"])
    fused = fuse_bias_activation(graph)
    assert body(fused) == "\n".join(
        [
            '%1 = "tr.constant"() {value = dense<...elided...> : tensor<4x3xf32>} : () -> '
            'tensor<4x3xf32> loc("constant")',
            '%2 = "tr.constant"() {value = dense<...elided...> : tensor<3xf32>} : () -> '
            'tensor<3xf32> loc("constant_1")',
            '%3 = "tr.fused_matmul"(%0, %1, %2) {activation = "relu"} : (tensor<8x4xf32>, '
            'tensor<4x3xf32>, tensor<3xf32>) -> tensor<8x3xf32> loc("fc+add+relu"("model.py":3))',
            "return %3",
        ]
    )
    same_values(fused, graph, rand(8, 4, seed=1))


def test_fuse_gemm_with_c_and_each_activation():
    for act, attrs in [("gelu", {}), ("gelu_tanh", {"approximate": "tanh"}), ("sigmoid", {})]:
        g = G()
        x = g.input((6, 4))
        y = g.op("gemm", x, g.const(rand(4, 5)), g.const(rand(6, 1, seed=2)))
        graph = g.build(g.op(act.split("_")[0], y, **attrs))
        fused = fuse_bias_activation(graph)
        assert node(fused, "fused_matmul").attr("activation") == act
        assert len(node(fused, "fused_matmul").inputs) == 3
        same_values(fused, graph, rand(6, 4, seed=3))


def test_fuse_bias_first_operand_and_stops_at_shared_or_growing_values():
    g = G()
    x = g.input((4, 3))
    y = g.op("matmul", x, g.const(rand(3, 3)))
    fused_bias_first = g.op("add", g.const(rand(3)), y)
    z = g.op("matmul", x, g.const(rand(3, 3)))
    shared = [g.op("relu", z), g.op("tanh", z)]  # z has two users
    w = g.op("matmul", x, g.const(rand(3, 1)))
    grows = g.op("add", w, g.const(rand(4, 5)))  # the bias would broadcast w to 4x5
    graph = g.build(fused_bias_first, *shared, grows)
    fused = fuse_bias_activation(graph)
    assert ops(fused).count("fused_matmul") == 1
    assert ops(fused).count("matmul") == 2
    same_values(fused, graph, rand(4, 3))


def test_fuse_conv_channel_bias_and_activation_merging_biases():
    for with_bias in (False, True):
        g = G()
        x = g.input((2, 3, 5, 5))
        b = [g.const(rand(4, seed=7))] if with_bias else []
        y = g.op("conv2d", x, g.const(rand(4, 3, 3, 3)), *b, strides=(2, 2), name="conv")
        y = g.op("add", y, g.const(rand(1, 4, 1, 1, seed=5)))
        graph = g.build(g.op("relu", y, name="act"))
        fused = fuse_bias_activation(graph)
        conv = node(fused, "fused_conv2d")
        assert ops(fused) == ["constant", "constant", "fused_conv2d"]
        assert (conv.name, conv.loc) == ("conv+add+act", Loc("model.py", 3))
        assert (conv.attr("strides"), conv.attr("activation")) == ((2, 2), "relu")
        same_values(fused, graph, rand(2, 3, 5, 5, seed=2))


def test_fuse_conv_activation_without_bias():
    g = G()
    y = g.op("conv2d", g.input((1, 2, 4, 4)), g.const(rand(3, 2, 1, 1)))
    graph = g.build(g.op("sigmoid", y))
    fused = fuse_bias_activation(graph)
    assert ops(fused) == ["constant", "fused_conv2d"]
    same_values(fused, graph, rand(1, 2, 4, 4))


# ---- fuse_elementwise ----------------------------------------------------------------


def plan_text(n) -> str:
    """A fused node's body as its CPU plan runs it: ``t<j> = op(x<i> | t<j>, ...)``, one
    step per body node, ``t<j>`` the buffers `plan_body` allots."""
    body = n.attr("body")
    plan, k = plan_body(body), len(body.inputs)

    def reg(r: int) -> str:
        return f"x{r}" if r < k else f"t{r - k}"

    return "; ".join(f"{reg(s.dst)} = {body.nodes[s.node].op}({', '.join(map(reg, s.srcs))})"
                     for s in plan.steps)


def test_fuse_elementwise_gelu_formula_golden():
    g = G("gelu")
    x = g.input((4, 8), name="x")
    inner = g.op("erf", g.op("mul", x, g.const(1 / np.sqrt(2))))
    y = g.op("mul", g.op("mul", x, g.op("add", inner, g.const(1.0))), g.const(0.5), name="out")
    graph = g.build(y, names=["y"])
    fused = fuse_elementwise(graph)
    n = node(fused, "fused_elementwise")
    assert plan_text(n) == (
        "t0 = mul(x0, x1); t0 = erf(t0); t0 = add(t0, x2); t0 = mul(x0, t0); t0 = mul(t0, x3)"
    )
    assert (n.name, n.loc) == ("mul+erf+...+out", Loc("model.py", 5))
    assert [fused.producers[v].op for v in n.inputs[1:]] == ["constant"] * 3
    # The body is the group itself: the same ops, names and source lines, and nothing else.
    members = [m for m in graph.nodes if m.op != "constant"]
    body = n.attr("body")
    assert [(b.op, b.name, b.loc) for b in body.nodes] == [(m.op, m.name, m.loc)
                                                          for m in members]
    assert [body.types[v] for v in body.inputs] == [fused.types[v] for v in n.inputs]
    same_values(fused, graph, rand(4, 8))


def test_fuse_elementwise_dag_reuses_buffers_and_gives_gelu_a_fresh_one():
    g = G()
    x, y = g.input((3, 4)), g.input((4,))
    a = g.op("exp", x)
    b = g.op("mul", g.op("neg", x), y)
    c = g.op("gelu", g.op("add", a, b))
    graph = g.build(g.op("tanh", c))
    fused = fuse_elementwise(graph)
    assert plan_text(node(fused, "fused_elementwise")) == (
        "t0 = exp(x0); t1 = neg(x0); t1 = mul(t1, x1); t0 = add(t0, t1); "
        "t1 = gelu(t0); t1 = tanh(t1)"
    )
    feeds = rand(3, 4), rand(4, seed=1)
    same_values(fused, graph, *feeds)
    np.testing.assert_array_equal(feeds[0], rand(3, 4))  # inputs are never written


def test_fuse_elementwise_stops_at_outputs_broadcasts_ints_and_lone_ops():
    g = G()
    x, v = g.input((3, 4)), g.input((4,))
    shown = g.op("relu", g.op("tanh", x))  # a graph output: ends its group
    after = g.op("exp", g.op("neg", shown))
    grown = g.op("add", g.op("sigmoid", v), x)  # sigmoid(v) is 4, the add 3x4
    ints = g.op("add", g.op("abs", g.input((3,), "i32")), g.const([1, 2, 3], np.int32))
    lone = g.op("sqrt", v)
    graph = g.build(shown, after, grown, ints, lone)
    fused = fuse_elementwise(graph)
    plans = [plan_text(n) for n in fused.nodes if n.op == "fused_elementwise"]
    assert plans == ["t0 = tanh(x0); t0 = relu(t0)", "t0 = neg(x0); t0 = exp(t0)"]
    assert {"sigmoid", "add", "abs", "sqrt"} <= set(ops(fused))
    same_values(fused, graph, rand(3, 4), rand(4, low=0.1), np.arange(3, dtype=np.int32))


def test_fuse_elementwise_keeps_the_attributes_of_leaky_relu_and_clip():
    g = G()
    x = g.input((5,))
    y = g.op("clip", g.op("leaky_relu", x, alpha=0.25), min=-0.1)
    graph = g.build(g.op("clip", y, max=0.5))
    fused = fuse_elementwise(graph)
    n = node(fused, "fused_elementwise")
    assert plan_text(n) == "t0 = leaky_relu(x0); t0 = clip(t0); t0 = clip(t0)"
    assert [b.attr_dict for b in n.attr("body").nodes] == [
        {"alpha": 0.25}, {"min": -0.1, "max": None}, {"min": None, "max": 0.5}]
    same_values(fused, graph, np.linspace(-1, 1, 5, dtype=np.float32))


# ---- the fused ops' specs ------------------------------------------------------------


def _body(build, *in_types):
    b = GraphBuilder("body")
    xs = [b.add_input(t) for t in in_types]
    return b.build([build(b, *xs)])


def test_fused_op_specs_reject_malformed_bodies_biases_and_activations():
    t = TensorType("f32", (2, 3))
    spec = get_op("fused_elementwise")

    def one(op, **attrs):
        return lambda b, *xs: b.add_node(op, xs, attrs)[0]

    bad = {
        "cannot be fused": _body(one("cumsum", axis=0), t),
        "computes f32, but the result is f64": _body(
            lambda b, x, y: b.add_node("add", [b.add_node("neg", [x])[0], y])[0],
            t, TensorType("f64", (2, 3))),
        "one output, computed by its last node": _body(lambda b, x: x, t),
    }
    for message, fused_body in bad.items():
        with pytest.raises(OpAttributeError, match=re.escape(message)) as info:
            spec.check((t,) * len(fused_body.inputs), {"body": fused_body})
        assert info.value.hint and info.value.op == "fused_elementwise"
    with pytest.raises(OpAttributeError, match="must be a Graph"):
        spec.check((t,), {"body": "t0 = neg(x0)"})  # format 1's program strings are gone
    with pytest.raises(ShapeError, match="reads 2 input"):
        spec.check((t,), {"body": _body(one("add"), t, t)})
    with pytest.raises(ShapeError, match="input 0 is"):
        spec.check((TensorType("f64", (2, 3)),), {"body": _body(one("neg"), t)})
    with pytest.raises(DTypeError):
        i32 = TensorType("i32", (2, 3))
        spec.check((i32,), {"body": _body(one("neg"), i32)})
    # A batch split changes the inputs' shapes, not the body: the result follows the inputs.
    _, (out,) = spec.check((TensorType("f32", (5, 3)),), {"body": _body(one("neg"), t)})
    assert out == TensorType("f32", (5, 3))
    matmul = get_op("fused_matmul")
    with pytest.raises(ShapeError, match="without growing"):
        matmul.check((t, TensorType("f32", (3, 1)), TensorType("f32", (4, 2, 1))), {})
    with pytest.raises(OpAttributeError, match="activation 'swish'"):
        matmul.check((t, TensorType("f32", (3, 4))), {"activation": "swish"})
    attrs, (out,) = matmul.check((t, TensorType("f32", (3, 4))), {"activation": "gelu"})
    assert out == TensorType("f32", (2, 4))
    assert (
        matmul.cost((t, TensorType("f32", (3, 4))), (out,), attrs).flops == 2 * 2 * 3 * 4 + 16 * 8
    )
