"""`tr.load_onnx(path).run`, the first path users take, runs the optimized program."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfrt_ray as tr  # noqa: E402
from tfrt_ray.errors import ConfigError  # noqa: E402


def _conv_bn_relu() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    scale, bias, mean = (rng.standard_normal(4).astype(np.float32) for _ in range(3))
    var = rng.uniform(0.5, 2.0, 4).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((w, "w"), (scale, "s"), (bias, "b"), (mean, "m"), (var, "v"))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
             helper.make_node("Relu", ["n"], ["y"])]
    g = helper.make_graph(nodes, "convbn",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _ops(prog) -> set[str]:
    return {n.op for n in prog.graph.nodes}


def test_load_onnx_runs_the_passes_by_default_and_opt_level_turns_them_down():
    model = _conv_bn_relu()
    x = np.random.default_rng(1).standard_normal((1, 3, 8, 8)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    default = tr.load_onnx(model)
    plain = tr.load_onnx(model, opt_level=0)
    assert "batch_norm" in _ops(plain)
    assert "batch_norm" not in _ops(default)  # folded into the convolution
    assert len(default.graph.nodes) < len(plain.graph.nodes)
    for prog in (default, plain, tr.load_onnx(model, opt_level=1)):
        np.testing.assert_allclose(prog.run({"x": x})["y"], want, rtol=1e-4, atol=1e-5)


def test_an_unknown_opt_level_is_a_config_error():
    with pytest.raises(ConfigError, match="optimization level"):
        tr.load_onnx(_conv_bn_relu(), opt_level=3)
