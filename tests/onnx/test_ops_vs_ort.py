"""Each ONNX op family, in small models built with onnx.helper, against onnxruntime.

Shape-like inputs are initializers ("init") so they fold into attributes, or graph inputs
("feed") so the program must compile per input value; both are covered.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from tfrt_ray.frontends.onnx import load_onnx

R = np.random.default_rng(7)


def f32(*shape, low=-2.0, high=2.0):
    return R.uniform(low, high, shape).astype(np.float32)


def i64(*values):
    return np.array(values, np.int64)


def model(op, feeds, inits=(), attrs=None, opset=17, n_out=1, domain=""):
    """A one-node model: ``feeds`` and ``inits`` are [(name, array)], in the node's input
    order (feeds first); a name "" is an absent optional input."""
    inputs = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
              for n, a in feeds if n]
    initializers = [numpy_helper.from_array(a, n) for n, a in inits if n]
    node_inputs = [n for n, _ in feeds] + [n for n, _ in inits]
    outs = [f"y{i}" for i in range(n_out)]
    node = helper.make_node(op, node_inputs, outs, domain=domain, **(attrs or {}))
    outputs = [helper.make_empty_tensor_value_info(o) for o in outs]
    graph = helper.make_graph([node], op.lower(), inputs, outputs, initializers)
    opsets = [helper.make_opsetid("", opset)]
    return helper.make_model(graph, opset_imports=opsets)


def compare(m, feeds, rtol=1e-5, atol=1e-6):
    feeds = {n: a for n, a in feeds if n}
    ref = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, feeds
    )
    got = load_onnx(m).run(feeds)
    assert list(got) == [o.name for o in m.graph.output]
    for r, g in zip(ref, got.values(), strict=True):
        assert g.dtype == r.dtype and g.shape == r.shape, (g.dtype, g.shape, r.dtype, r.shape)
        np.testing.assert_allclose(g, r, rtol=rtol, atol=atol)


X = f32(2, 3, 4)
IMG = f32(1, 2, 6, 6)

CASES = {
    # elementwise and activations
    "add_broadcast": ("Add", [("a", X), ("b", f32(4))], [], {}),
    "div_int_truncates": ("Div", [("a", np.array([7, -7, 9], np.int32)),
                                  ("b", np.array([2, 2, -4], np.int32))], [], {}),
    "mod_fmod": ("Mod", [("a", f32(5)), ("b", f32(5, low=0.5))], [], {"fmod": 1}),
    "pow_int_float": ("Pow", [("a", np.array([2, 3], np.int32)), ("b", np.array([2.0, 0.5],
                                                                               np.float32))],
                      [], {}),
    "clip_inputs": ("Clip", [("x", X)], [("lo", np.float32(-0.5)), ("hi", np.float32(0.7))], {}),
    "clip_int": ("Clip", [("x", np.array([-9, 0, 9], np.int64))],
                 [("lo", np.int64(-2)), ("hi", np.int64(3))], {}),
    "where": ("Where", [("c", X > 0), ("a", X), ("b", f32(4))], [], {}),
    "max_variadic": ("Max", [("a", X), ("b", f32(3, 4)), ("c", f32(4))], [], {}),
    "leaky_relu": ("LeakyRelu", [("x", X)], [], {"alpha": 0.2}),
    "elu": ("Elu", [("x", X)], [], {"alpha": 0.7}),
    "selu": ("Selu", [("x", X)], [], {}),
    "gelu_tanh": ("Gelu", [("x", X)], [], {"approximate": "tanh"}, 20),
    "hard_swish": ("HardSwish", [("x", X)], [], {}),
    "softplus": ("Softplus", [("x", X)], [], {}),
    "prelu": ("PRelu", [("x", X), ("s", f32(4))], [], {}),
    "erf": ("Erf", [("x", X)], [], {}),
    "cast_to_half": ("Cast", [("x", X)], [], {"to": onnx.TensorProto.FLOAT16}),
    "isinf": ("IsInf", [("x", np.array([1.0, np.inf, -np.inf, np.nan], np.float32))], [],
              {"detect_negative": 0}),
    "bitshift": ("BitShift", [("x", np.array([1, 8], np.uint32)), ("n", np.array([3, 2],
                                                                                  np.uint32))],
                 [], {"direction": "LEFT"}),
    # shapes
    "reshape_init": ("Reshape", [("x", X)], [("s", i64(0, -1))], {}),
    "reshape_feed": ("Reshape", [("x", X), ("s", i64(4, 0, -1))], [], {}),
    "slice_steps": ("Slice", [("x", X)], [("st", i64(-1, 0)), ("en", i64(-100, 4)),
                                          ("ax", i64(2, 1)), ("sp", i64(-2, 2))], {}),
    "split_num_outputs": ("Split", [("x", f32(7, 2))], [], {"num_outputs": 3, "axis": 0}, 18, 3),
    "gather_negative": ("Gather", [("x", X), ("i", i64(-1, 0))], [], {"axis": 1}),
    "expand": ("Expand", [("x", f32(3, 1))], [("s", i64(2, 3, 4))], {}),
    "pad_reflect": ("Pad", [("x", f32(3, 4))], [("p", i64(1, 2, 1, 0))], {"mode": "reflect"}),
    "tile": ("Tile", [("x", f32(2, 3))], [("r", i64(2, 1))], {}),
    "transpose": ("Transpose", [("x", X)], [], {"perm": [2, 0, 1]}),
    "flatten": ("Flatten", [("x", X)], [], {"axis": 2}),
    "unsqueeze": ("Unsqueeze", [("x", X)], [("a", i64(0, -1))], {}),
    "concat": ("Concat", [("a", X), ("b", f32(2, 3, 1))], [], {"axis": -1}),
    "shape_slice": ("Shape", [("x", X)], [], {"start": 1, "end": -1}, 15),
    "constant_of_shape_feed": ("ConstantOfShape", [("s", i64(2, 3))], [],
                               {"value": numpy_helper.from_array(np.array([5], np.int32))}),
    "range": ("Range", [], [("a", np.float32(1)), ("b", np.float32(4)), ("c",
                                                                       np.float32(0.5))], {}),
    "trilu": ("Trilu", [("x", X)], [("k", np.int64(1))], {"upper": 0}),
    "onehot": ("OneHot", [("i", i64(0, 3, -1))], [("d", np.int64(4)), ("v", np.array([0, 5],
                                                                                   np.float32))],
               {"axis": 0}),
    "depth_to_space": ("DepthToSpace", [("x", f32(1, 8, 2, 3))], [], {"blocksize": 2,
                                                                       "mode": "CRD"}),
    # nn
    "conv_same_upper": ("Conv", [("x", IMG), ("w", f32(4, 2, 3, 3)), ("b", f32(4))], [],
                        {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "conv_1d_groups": ("Conv", [("x", f32(1, 4, 9)), ("w", f32(6, 2, 3))], [],
                       {"group": 2, "dilations": [2], "pads": [1, 1]}),
    "conv_transpose": ("ConvTranspose", [("x", IMG), ("w", f32(2, 3, 3, 3))], [],
                       {"strides": [2, 2], "output_padding": [1, 1], "pads": [1, 1, 1, 1]}),
    "max_pool_ceil": ("MaxPool", [("x", IMG)], [], {"kernel_shape": [3, 3], "strides": [2, 2],
                                                     "ceil_mode": 1}),
    "avg_pool_3d": ("AveragePool", [("x", f32(1, 1, 4, 4, 4))], [],
                    {"kernel_shape": [2, 2, 2], "pads": [1, 1, 1, 1, 1, 1],
                     "count_include_pad": 1}),
    "batch_norm": ("BatchNormalization", [("x", IMG)], [("s", f32(2)), ("b", f32(2)),
                                                        ("m", f32(2)), ("v", f32(2, low=0.5))],
                   {"epsilon": 1e-3}),
    "instance_norm": ("InstanceNormalization", [("x", IMG), ("s", f32(2)), ("b", f32(2))], [],
                      {}),
    "layer_norm_3_outputs": ("LayerNormalization", [("x", X), ("s", f32(4)), ("b", f32(4))],
                             [], {}, 17, 3),
    "lrn": ("LRN", [("x", f32(1, 5, 3, 3))], [], {"size": 3, "alpha": 1e-3}),
    "softmax_opset11_axis1": ("Softmax", [("x", X)], [], {"axis": 1}, 11),
    "log_softmax": ("LogSoftmax", [("x", X)], [], {"axis": 0}),
    "hardmax": ("Hardmax", [("x", X)], [], {}),
    "gemm_trans": ("Gemm", [("a", f32(3, 2)), ("b", f32(4, 3)), ("c", f32(4))], [],
                   {"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}),
    "matmul_batched": ("MatMul", [("a", f32(2, 1, 3, 4)), ("b", f32(3, 4, 2))], [], {}),
    "einsum": ("Einsum", [("a", f32(2, 3, 4)), ("b", f32(2, 4, 5))], [],
               {"equation": "bij,bjk->bik"}),
    # reduce
    "reduce_sum_axes_input": ("ReduceSum", [("x", X)], [("a", i64(0, 2))], {"keepdims": 0}),
    "reduce_mean_attr": ("ReduceMean", [("x", X)], [], {"axes": [1]}, 13),
    "reduce_l2": ("ReduceL2", [("x", X)], [("a", i64(-1))], {}, 18),
    "reduce_log_sum_exp": ("ReduceLogSumExp", [("x", X)], [], {"axes": [0, 1]}, 13),
    "argmax_last": ("ArgMax", [("x", np.array([[1, 3, 3], [2, 2, 0]], np.float32))], [],
                    {"axis": 1, "select_last_index": 1}),
    "cumsum": ("CumSum", [("x", X)], [("a", np.int64(1))], {"exclusive": 1, "reverse": 1}),
    "topk": ("TopK", [("x", X)], [("k", i64(2))], {"axis": 1}, 17, 2),
    # indexing and data-dependent ops
    "gather_elements": ("GatherElements", [("x", X), ("i", np.zeros((2, 3, 2), np.int64))], [],
                        {"axis": 2}),
    "scatter_nd": ("ScatterND", [("x", X), ("i", i64(1, 0).reshape(2, 1)), ("u", f32(2, 3, 4))],
                   [], {}),
    "nonzero_feed": ("NonZero", [("x", np.array([[1, 0], [0, 3]], np.int32))], [], {}),
    "compress": ("Compress", [("x", X), ("c", np.array([True, False, True]))], [], {"axis": 1}),
    # image, signal, quantization
    "resize_linear": ("Resize", [("x", IMG)], [("roi", np.zeros(0, np.float32)),
                                               ("sc", np.array([1, 1, 1.5, 0.5], np.float32))],
                      {"mode": "linear"}),
    "resize_sizes_cubic": ("Resize", [("x", IMG)], [("roi", np.zeros(0, np.float32)),
                                                    ("", np.zeros(0, np.float32)),
                                                    ("sz", i64(1, 2, 9, 4))], {"mode": "cubic"}),
    "grid_sample": ("GridSample", [("x", IMG), ("g", f32(1, 3, 5, 2, low=-1.1, high=1.1))], [],
                    {"mode": "linear", "padding_mode": "border"}, 20),
    "dft": ("DFT", [("x", f32(1, 8, 1))], [], {"axis": 1, "onesided": 1}, 17),
    "quantize": ("QuantizeLinear", [("x", X)], [("s", np.float32(0.02)),
                                                ("z", np.int8(3))], {}),
    "dequantize_axis": ("DequantizeLinear", [("x", np.array([[0, 7, 255]] * 2, np.uint8))],
                        [("s", np.array([0.5, 2.0], np.float32)), ("z", np.array([1, 2],
                                                                                 np.uint8))],
                        {"axis": 0}),
    # recurrent
    "lstm": ("LSTM", [("x", f32(5, 2, 3)), ("w", f32(1, 16, 3)), ("r", f32(1, 16, 4)),
                      ("b", f32(1, 32))], [], {"hidden_size": 4}, 17, 3),
    "gru_bidirectional": ("GRU", [("x", f32(4, 2, 3)), ("w", f32(2, 12, 3)), ("r", f32(2, 12, 4))],
                          [], {"hidden_size": 4, "direction": "bidirectional",
                               "linear_before_reset": 1}, 17, 2),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_onnxruntime(name):
    op, feeds, inits, attrs, *rest = CASES[name]
    opset = rest[0] if rest else 17
    n_out = rest[1] if len(rest) > 1 else 1
    m = model(op, feeds, inits, attrs, opset, n_out)
    compare(m, feeds, rtol=1e-4, atol=1e-5)


def test_if_with_constant_condition_takes_its_branch():
    then = helper.make_graph([helper.make_node("Neg", ["x"], ["t"])], "then", [],
                             [helper.make_empty_tensor_value_info("t")])
    other = helper.make_graph([helper.make_node("Abs", ["x"], ["e"])], "else", [],
                              [helper.make_empty_tensor_value_info("e")])
    cond = numpy_helper.from_array(np.array(False), "cond")
    node = helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)
    graph = helper.make_graph([node], "if", [helper.make_tensor_value_info("x", 1, [3])],
                              [helper.make_tensor_value_info("y", 1, [3])], [cond])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    compare(m, [("x", np.array([-1.0, 2.0, -3.0], np.float32))])


def test_loop_is_unrolled():
    body = helper.make_graph(
        [helper.make_node("Add", ["acc_in", "x"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Mul", ["acc_out", "acc_out"], ["sq"])],
        "body",
        [helper.make_tensor_value_info("i", 7, []), helper.make_tensor_value_info("cond_in", 9, []),
         helper.make_tensor_value_info("acc_in", 1, [2])],
        [helper.make_tensor_value_info("cond_out", 9, []),
         helper.make_tensor_value_info("acc_out", 1, [2]),
         helper.make_tensor_value_info("sq", 1, [2])],
    )
    node = helper.make_node("Loop", ["m", "", "acc0"], ["acc", "squares"], body=body)
    graph = helper.make_graph(
        [node], "loop",
        [helper.make_tensor_value_info("x", 1, [2]), helper.make_tensor_value_info("acc0", 1, [2])],
        [helper.make_tensor_value_info("acc", 1, [2]),
         helper.make_tensor_value_info("squares", 1, [3, 2])],
        [numpy_helper.from_array(np.array(3, np.int64), "m")],
    )
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    compare(m, [("x", f32(2)), ("acc0", f32(2))])
