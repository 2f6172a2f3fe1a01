"""Errors a user of the ONNX front end sees: typed, naming the node / file / input, and
raised before anything runs where they can be."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from tfrt_ray.errors import (
    InputError,
    ModelLoadError,
    OpExecutionError,
    TfrtRayError,
    UnknownOpError,
)
from tfrt_ray.frontends.onnx import import_onnx, load_onnx


def _model(nodes, inputs, outputs, inits=(), opsets=(("", 17),)):
    graph = helper.make_graph(nodes, "m", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets])


def _relu_model():
    return _model(
        [helper.make_node("Relu", ["x"], ["y"], name="act")],
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 3])],
    )


def test_unsupported_ops_are_all_listed_with_node_and_opset_before_anything_runs():
    m = _model(
        [
            helper.make_node("Relu", ["x"], ["a"], name="fine"),
            helper.make_node("FancyOp", ["a"], ["b"], name="fancy_1", domain="com.example"),
            helper.make_node("StringNormalizer", ["a"], ["c"], name="strings"),
            helper.make_node("FancyOp", ["a"], ["d"], name="fancy_2", domain="com.example"),
        ],
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [2]) for n in "bcd"],
        opsets=(("", 17), ("com.example", 3)),
    )
    with pytest.raises(UnknownOpError) as info:
        load_onnx(m)
    text = str(info.value)
    assert "com.example.FancyOp (opset 3; nodes 'fancy_1', 'fancy_2')" in text
    assert "StringNormalizer (opset 17; node 'strings')" in text
    assert "2 ONNX op type(s)" in text and "supported_op_types" in text


def test_truncated_file_is_a_model_load_error_naming_it(tmp_path):
    data = _relu_model().SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="cut.onnx") as info:
        load_onnx(str(path))
    assert "truncated" in str(info.value)


def test_garbage_bytes_and_missing_files_are_model_load_errors(tmp_path):
    with pytest.raises(ModelLoadError):
        import_onnx(b"\xff\xfe not a model at all \x00\x01")
    with pytest.raises(ModelLoadError, match="nowhere.onnx"):
        load_onnx(tmp_path / "nowhere.onnx")
    with pytest.raises(ModelLoadError):
        load_onnx(3.5)  # type: ignore[arg-type]


def _external_model(tmp_path):
    w = numpy_helper.from_array(np.arange(4096, dtype=np.float32).reshape(64, 64), "w")
    m = _model(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")],
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 64])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 64])],
        [w],
    )
    path = tmp_path / "ext.onnx"
    onnx.save(m, str(path), save_as_external_data=True, location="weights.bin",
              size_threshold=0)
    return path


def test_external_data_is_loaded_from_the_model_folder_or_base_dir(tmp_path):
    path = _external_model(tmp_path)
    x = np.ones((1, 64), np.float32)
    want = x @ np.arange(4096, dtype=np.float32).reshape(64, 64)
    np.testing.assert_allclose(load_onnx(str(path)).run([x])["y"], want)
    # The proto without its data, plus the folder the data is in.
    bare = onnx.load(str(path), load_external_data=False)
    np.testing.assert_allclose(load_onnx(bare, base_dir=tmp_path).run([x])["y"], want)


def test_missing_external_data_is_a_model_load_error_naming_the_file(tmp_path):
    path = _external_model(tmp_path)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(ModelLoadError, match="weights.bin") as info:
        load_onnx(str(path))
    assert "base_dir" in info.value.hint


def test_wrong_input_name_count_dtype_and_shape_are_input_errors():
    prog = load_onnx(_relu_model())
    x = np.ones((2, 3), np.float32)
    with pytest.raises(InputError, match=r"unknown input\(s\) \['X'\].*\['x'\]"):
        prog.run({"X": x})
    with pytest.raises(InputError, match=r"missing input\(s\) \['x'\]"):
        prog.run({})
    with pytest.raises(InputError, match="takes 1 input"):
        prog.run([x, x])
    with pytest.raises(InputError, match="dtype bool, expected float32"):
        prog.run([x.astype(bool)])
    with pytest.raises(InputError, match=r"shape \(2, 4\), expected \(\{n\}, 3\)"):
        prog.run([np.ones((2, 4), np.float32)])


def test_inputs_sharing_a_symbol_must_agree():
    m = _model(
        [helper.make_node("Add", ["a", "b"], ["y"])],
        [helper.make_tensor_value_info("a", onnx.TensorProto.FLOAT, ["n"]),
         helper.make_tensor_value_info("b", onnx.TensorProto.FLOAT, ["n"])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n"])],
    )
    with pytest.raises(InputError, match="dim 'n' is 2 in input 'a' but 3 in input 'b'"):
        load_onnx(m).run([np.ones(2, np.float32), np.ones(3, np.float32)])


def test_a_failing_op_at_run_time_names_the_onnx_node():
    m = _model(
        [helper.make_node("Gather", ["x", "i"], ["y"], name="lookup_embeddings")],
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4, 2]),
         helper.make_tensor_value_info("i", onnx.TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 2])],
    )
    prog = load_onnx(m)
    with pytest.raises(OpExecutionError) as info:
        prog.run([np.zeros((4, 2), np.float32), np.array([0, 9, 1], np.int64)])
    assert info.value.node == "lookup_embeddings"
    assert "lookup_embeddings" in str(info.value)


def test_invalid_attributes_name_the_node_at_import():
    m = _model(
        [helper.make_node("Transpose", ["x"], ["y"], name="bad_perm", perm=[0, 0])],
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 2])],
    )
    with pytest.raises(TfrtRayError) as info:
        import_onnx(m)
    assert info.value.node == "bad_perm"


def test_unsupported_dtypes_are_dtype_errors():
    m = _model(
        [helper.make_node("Identity", ["x"], ["y"])],
        [helper.make_tensor_value_info("x", onnx.TensorProto.STRING, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.STRING, [2])],
    )
    with pytest.raises(TfrtRayError, match="STRING"):
        import_onnx(m)
