"""A model read from a file holds its weights once: each read from the file into one aligned
buffer, not a parsed copy next to the arrays made from it (`tfrt_ray.frontends.onnx.wire`,
`tfrt_ray.frontends.onnx.loader`)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import tfrt_ray as tr  # noqa: E402
from tfrt_ray.errors import ModelLoadError  # noqa: E402
from tfrt_ray.frontends.onnx.loader import read_model  # noqa: E402

RNG = np.random.default_rng(3)


def _model(n: int = 4096) -> onnx.ModelProto:
    """y = (x + w) * s, with w float32 raw_data, s float_data (not split), an int64 shape
    and a bfloat16 initializer (emulated: not split) feeding a Cast."""
    w = RNG.standard_normal(n).astype(np.float32)
    s = helper.make_tensor("s", TensorProto.FLOAT, [1], [0.5])
    bf = helper.make_tensor("bf", TensorProto.BFLOAT16, [1], b"\x80\x3f", raw=True)  # 1.0
    nodes = [helper.make_node("Add", ["x", "w"], ["a"]),
             helper.make_node("Mul", ["a", "s"], ["m"]),
             helper.make_node("Cast", ["bf"], ["one"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["m", "one"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])],
                          [numpy_helper.from_array(w, "w"), s, bf])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _want(model, x):
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return (x + inits["w"]) * inits["s"]


def test_weights_read_from_bytes_equal_protobufs_and_results_match(tmp_path):
    model = _model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    x = RNG.standard_normal(4096).astype(np.float32)
    for source in (str(path), model.SerializeToString(), model):
        np.testing.assert_allclose(tr.load_onnx(source).run({"x": x})["y"], _want(model, x),
                                   rtol=1e-6)
    loaded = read_model(str(path))
    assert set(loaded.weights) == {"w"}  # float_data and bfloat16 stay in the proto
    for t in loaded.proto.graph.initializer:
        want = numpy_helper.to_array(next(i for i in model.graph.initializer
                                          if i.name == t.name))
        got = loaded.initializer(t)
        if t.name != "bf":
            assert got.dtype == want.dtype and np.array_equal(got, want), t.name
    assert not loaded.weights["w"].flags.writeable


def test_weights_start_on_64_byte_boundaries_wherever_the_file_puts_them(tmp_path):
    """raw_data lies wherever protobuf's framing puts it; NumPy's products and takes copy
    a misaligned operand on every call, so each weight is placed on a cache line."""
    rng = np.random.default_rng(5)
    inits = [numpy_helper.from_array(rng.standard_normal(n).astype(np.float32), f"w{n}")
             for n in (4097, 333, 1 << 14, 17)]  # sizes that shift every later field
    nodes = [helper.make_node("Add", ["x", "w17"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [17])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [17])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    for source in (str(path), model.SerializeToString()):
        loaded = read_model(source)
        assert set(loaded.weights) == {t.name for t in inits}
        for t in inits:
            got = loaded.weights[t.name]
            assert got.ctypes.data % 64 == 0, t.name
            assert np.array_equal(got, numpy_helper.to_array(t)) and not got.flags.writeable


def test_a_truncated_weight_is_a_load_error_that_names_it(tmp_path):
    model = _model()
    (w,) = [t for t in model.graph.initializer if t.name == "w"]
    w.raw_data = w.raw_data[:-4]  # one float short of its shape
    path = tmp_path / "short.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelLoadError, match="initializer 'w' has 16380 bytes of data for "
                                              "shape \\[4096\\]"):
        tr.load_onnx(str(path))


def test_a_truncated_file_is_still_a_load_error(tmp_path):
    data = _model(4096).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated or corrupt"):
        tr.load_onnx(str(path))


_HELD = textwrap.dedent("""
    import json, sys
    import tfrt_ray as tr
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    tr.load_onnx(sys.argv[1])  # the modules and libraries a load brings in
    before = rss()
    prog = tr.load_onnx(sys.argv[2])
    print(json.dumps({"held": rss() - before}))
""")


def _add_model(path, n: int) -> np.ndarray:
    w = np.arange(n, dtype=np.float32)
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "add",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])],
                          [numpy_helper.from_array(w, "w")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w


def test_a_loaded_model_holds_its_weights_once(tmp_path):
    _add_model(tmp_path / "small.onnx", 16)
    w = _add_model(tmp_path / "big.onnx", 8 << 20)  # 32 MiB of float32 weights
    out = subprocess.run([sys.executable, "-c", _HELD, str(tmp_path / "small.onnx"),
                          str(tmp_path / "big.onnx")], capture_output=True, text=True,
                         timeout=120, check=True)
    held = json.loads(out.stdout.strip().splitlines()[-1])["held"]
    assert held < 1.25 * w.nbytes, f"load_onnx holds {held / w.nbytes:.2f}x its weights"
