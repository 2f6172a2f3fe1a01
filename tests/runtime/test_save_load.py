"""Program.save / tr.load, and tr.load_onnx, in-process and in a fresh process."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper

import tfrt_ray as tr

W = tr.tensor(np.arange(6, dtype=np.float32).reshape(3, 2) / 10)


def _prog():
    return tr.compile(lambda x: tr.softmax(tr.relu(x @ W), axis=-1), (np.ones((4, 3), np.float32),))


def test_saved_program_runs_in_a_fresh_process_without_the_source(tmp_path):
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    prog = _prog()
    want = prog.run([x])[0]
    path = tmp_path / "m.tfrt"
    assert prog.save(str(path)) > 0
    np.testing.assert_array_equal(tr.load(str(path)).run([x])[0], want)
    np.save(tmp_path / "x.npy", x)
    code = (
        "import sys, numpy as np, tfrt_ray as tr\n"
        f"p = tr.load({str(path)!r})\n"
        f"np.save({str(tmp_path / 'y.npy')!r}, p.run([np.load({str(tmp_path / 'x.npy')!r})])[0])\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)


def test_load_onnx_runs_and_compiles(tmp_path):
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])],
    )
    path = tmp_path / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    x = np.array([[-1, 0, 1], [2, -2, 3]], np.float32)
    prog = tr.load_onnx(str(path))
    np.testing.assert_array_equal(prog.run({"x": x})["y"], np.maximum(x, 0))
    compiled = tr.compile(prog)
    np.testing.assert_array_equal(compiled.run({"x": x})[0], np.maximum(x, 0))
