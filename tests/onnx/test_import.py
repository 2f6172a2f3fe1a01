"""Import semantics: initializers as optional inputs, constants, per-opset attributes vs
inputs, folding, function expansion, emulated dtypes, and the OnnxProgram / backend API."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tfrt_ray.frontends.onnx import import_model, import_onnx, load_onnx, supported_op_types
from tfrt_ray.frontends.onnx.backend import TfrtRayBackend

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, inits=(), opset=17, functions=(), extra_opsets=()):
    graph = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in
                                                   extra_opsets]
    return helper.make_model(graph, opset_imports=opsets, functions=list(functions))


def _io(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def test_initializers_listed_as_inputs_are_optional_overrides():
    w = numpy_helper.from_array(np.full((3,), 2.0, np.float32), "w")
    m = _model([helper.make_node("Mul", ["x", "w"], ["y"])], [_io("x", [3]), _io("w", [3])],
               [_io("y", [3])], [w])
    imp = import_model(m)
    assert imp.graph.input_names == ("x", "w")
    np.testing.assert_array_equal(imp.defaults["w"], [2.0, 2.0, 2.0])
    prog = load_onnx(m)
    assert prog.input_names == ("x",) and prog.optional_input_names == ("w",)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    np.testing.assert_array_equal(prog.run([x])["y"], [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(prog.run({"x": x, "w": np.ones(3, np.float32)})["y"], x)


def test_an_override_that_must_be_static_is_folded_and_recompiled_when_given():
    shape = numpy_helper.from_array(np.array([3, 2], np.int64), "shape")
    m = _model([helper.make_node("Reshape", ["x", "shape"], ["y"])],
               [_io("x", [6]), _io("shape", [2], TensorProto.INT64)], [_io("y", [None, None])],
               [shape])
    imp = import_model(m)
    assert imp.folded == ("shape",) and "shape" not in imp.graph.input_names
    prog = load_onnx(m)
    x = np.arange(6, dtype=np.float32)
    assert prog.run([x])["y"].shape == (3, 2)
    assert prog.run({"x": x, "shape": np.array([2, 3], np.int64)})["y"].shape == (2, 3)



def test_overrides_used_alike_are_folded_in_one_retry(monkeypatch):
    """Forty weights made by ConstantOfShape from shape overrides (as in the onnx wheel's
    light models) import twice, not once per override."""
    from tfrt_ray.frontends.onnx import importer

    n = 40
    nodes, inputs, inits = [], [_io("x", [2])], []
    acc = "x"
    for i in range(n):
        inits.append(numpy_helper.from_array(np.array([2], np.int64), f"s{i}"))
        inputs.append(_io(f"s{i}", [1], TensorProto.INT64))
        nodes.append(helper.make_node("ConstantOfShape", [f"s{i}"], [f"c{i}"],
                                      value=numpy_helper.from_array(np.array([1.0], np.float32))))
        nodes.append(helper.make_node("Add", [acc, f"c{i}"], [f"a{i}"]))
        acc = f"a{i}"
    m = _model(nodes, inputs, [_io(acc, [2])], inits)
    runs = []
    real_run = importer.Importer.run
    monkeypatch.setattr(importer.Importer, "run", lambda self: runs.append(1) or real_run(self))
    imp = import_model(m)
    assert len(runs) == 2
    assert set(imp.folded) == {f"s{i}" for i in range(n)}
    prog = load_onnx(m)
    x = np.zeros(2, np.float32)
    np.testing.assert_array_equal(prog.run([x])[acc], [n, n])

def test_every_constant_form():
    forms = {
        "value_float": (2.5, np.array(2.5, np.float32)),
        "value_floats": ([1.0, 2.0], np.array([1.0, 2.0], np.float32)),
        "value_int": (7, np.array(7, np.int64)),
        "value_ints": ([1, 2, 3], np.array([1, 2, 3], np.int64)),
        "value": (numpy_helper.from_array(np.eye(2, dtype=np.float64)), np.eye(2)),
        "sparse_value": (
            helper.make_sparse_tensor(numpy_helper.from_array(np.array([5.0], np.float32)),
                                      numpy_helper.from_array(np.array([3], np.int64)), [2, 2]),
            np.array([[0, 0], [0, 5]], np.float32),
        ),
    }
    for key, (value, want) in forms.items():
        node = helper.make_node("Constant", [], ["y"], **{key: value})
        out = load_onnx(_model([node], [], [helper.make_empty_tensor_value_info("y")])).run([])
        np.testing.assert_array_equal(out["y"], want, err_msg=key)
        assert out["y"].dtype == want.dtype, key


def test_softmax_before_opset_13_flattens_to_2d():
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    old = load_onnx(_model([node], [_io("x", [2, 3, 4])], [_io("y", [2, 3, 4])], opset=11))
    new = load_onnx(_model([node], [_io("x", [2, 3, 4])], [_io("y", [2, 3, 4])], opset=13))
    y11, y13 = old.run([x])["y"], new.run([x])["y"]
    np.testing.assert_allclose(y11.reshape(2, 12).sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(y13.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "node, inits, opset",
    [
        (helper.make_node("Unsqueeze", ["x"], ["y"], axes=[0]), [], 11),
        (helper.make_node("Unsqueeze", ["x", "a"], ["y"]), [("a", np.array([0], np.int64))], 13),
        (helper.make_node("ReduceSum", ["x"], ["y"], axes=[0], keepdims=1), [], 11),
        (helper.make_node("ReduceSum", ["x", "a"], ["y"], keepdims=1),
         [("a", np.array([0], np.int64))], 13),
        (helper.make_node("Slice", ["x"], ["y"], starts=[0], ends=[1], axes=[0]), [], 9),
        (helper.make_node("Slice", ["x", "s", "e", "a"], ["y"]),
         [("s", np.array([0], np.int64)), ("e", np.array([1], np.int64)),
          ("a", np.array([0], np.int64))], 10),
        (helper.make_node("Clip", ["x"], ["y"], min=-9.0, max=9.0), [], 6),
        (helper.make_node("Pad", ["x"], ["y"], pads=[0, 0, 0, 0]), [], 2),
    ],
    ids=["unsqueeze-attr", "unsqueeze-input", "reducesum-attr", "reducesum-input",
         "slice-attrs", "slice-inputs", "clip-attrs", "pad-attrs"],
)
def test_attributes_before_and_inputs_after_their_opset(node, inits, opset):
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    m = _model([node], [_io("x", [1, 4])], [helper.make_empty_tensor_value_info("y")],
               [numpy_helper.from_array(a, n) for n, a in inits], opset=opset)
    np.testing.assert_array_equal(load_onnx(m).run([x])["y"].reshape(-1), x.reshape(-1))


def test_shape_arithmetic_on_static_shapes_folds_to_one_reshape():
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "zero_1d"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "zero_1d"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    g = import_onnx(_model(nodes, [_io("x", [2, 3, 4])], [_io("y", [2, 12])], inits))
    assert [n.op for n in g.nodes] == ["reshape"]
    assert g.nodes[0].attr("shape") == (2, -1)


def test_model_local_functions_are_inlined():
    fn = helper.make_function(
        "my.domain", "Swish2", ["x"], ["y"],
        [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["y"])],
        [helper.make_opsetid("", 17)],
    )
    m = _model([helper.make_node("Swish2", ["a"], ["b"], domain="my.domain", name="act")],
               [_io("a", [3])], [_io("b", [3])], functions=[fn],
               extra_opsets=[("my.domain", 1)])
    x = np.array([-1.0, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(load_onnx(m).run([x])["b"], x / (1 + np.exp(-x)), rtol=1e-6)
    names = [n.name for n in import_onnx(m).nodes]
    assert names == ["act/Sigmoid_0", "act/Mul_1"]


def test_ops_onnx_defines_as_functions_are_expanded():
    # MeanVarianceNormalization has no converter: its ONNX function body is used.
    assert "MeanVarianceNormalization" not in supported_op_types()[""]
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    m = _model([helper.make_node("MeanVarianceNormalization", ["x"], ["y"])],
               [_io("x", [2, 3, 4, 4])], [_io("y", [2, 3, 4, 4])])
    y = load_onnx(m).run([x])["y"]
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    std = x.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(y, (x - mean) / std, rtol=1e-4, atol=1e-5)


def test_bfloat16_is_emulated_in_float32_and_rounded():
    m = _model([helper.make_node("Add", ["a", "b"], ["y"])],
               [_io("a", [3], TensorProto.BFLOAT16), _io("b", [3], TensorProto.BFLOAT16)],
               [_io("y", [3], TensorProto.BFLOAT16)])
    a = np.array([1.0, 256.0, 3.0], ml_dtypes.bfloat16)
    b = np.array([1.0 / 256, 1.0, 0.5], ml_dtypes.bfloat16)
    y = load_onnx(m).run([a, b])["y"]
    assert y.dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(y, (a.astype(np.float32) + b.astype(np.float32)).astype(
        ml_dtypes.bfloat16))


def test_backend_api():
    assert TfrtRayBackend.supports_device("CPU")
    assert not TfrtRayBackend.supports_device("CUDA")
    node = helper.make_node("Add", ["a", "b"], ["c"])
    a, b = np.ones((2, 2), np.float32), np.full((2, 2), 2.0, np.float32)
    (c,) = TfrtRayBackend.run_node(node, [a, b])
    np.testing.assert_array_equal(c, a + b)
    m = _model([node], [_io("a", [2, 2]), _io("b", [2, 2])], [_io("c", [2, 2])])
    rep = TfrtRayBackend.prepare(m)
    np.testing.assert_array_equal(rep.run([a, b])[0], a + b)
    np.testing.assert_array_equal(rep.run({"a": a, "b": b})[0], a + b)


def test_load_onnx_accepts_path_bytes_and_proto(tmp_path):
    m = _model([helper.make_node("Neg", ["x"], ["y"])], [_io("x", [2])], [_io("y", [2])])
    path = tmp_path / "neg.onnx"
    onnx.save(m, str(path))
    x = np.array([1.0, -2.0], np.float32)
    for source in (m, m.SerializeToString(), str(path), path):
        np.testing.assert_array_equal(load_onnx(source).run([x])["y"], -x)
