"""Start-up: `tfrt-ray run` of an ONNX model imports only what the run uses.

Measured in benchmarks/startup.py; here, what decides it: the heavy imports stay out.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from tests.cli.conftest import reference

# Imports an in-process run of a float model never needs: the onnx package (which pulls
# ml_dtypes, about a second), Ray, scipy, pyarrow (an .npz run) and asyncio (jobs' log tail).
HEAVY = ("onnx.helper", "ml_dtypes", "ray", "scipy", "pyarrow", "asyncio")

_RUN_AND_REPORT = f"""
import json, sys
from tfrt_ray.cli import main
status = main(sys.argv[1:])
print(json.dumps({{"status": status, "heavy": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def test_run_of_an_onnx_model_imports_no_heavy_module(models, inputs8, tmp_path, cli_env):
    np.savez(tmp_path / "in.npz", **inputs8)
    out = tmp_path / "out.npz"
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_REPORT, "run", str(models["dynamic"]),
         "--inputs", str(tmp_path / "in.npz"), "--output", str(out)],
        capture_output=True, text=True, env=cli_env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"status": 0, "heavy": []}
    with np.load(out) as got:
        want = reference(inputs8["x"], inputs8["offset"])
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-6)


_PROTO_IDENTITY = """
import numpy as np
from tfrt_ray.frontends.onnx import load_onnx
from tfrt_ray.frontends.onnx.loader import read_model
parsed = read_model(sys_path).proto
import onnx
from onnx import helper, TensorProto
assert isinstance(parsed, onnx.ModelProto), type(parsed)
g = helper.make_graph([helper.make_node("Neg", ["x"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
out = load_onnx(m).run({"x": np.array([1.0, -2.0], np.float32)})["y"]
assert out.tolist() == [-1.0, 2.0], out
print("ok")
"""


def test_models_parsed_before_onnx_is_imported_are_onnx_protos(models, cli_env, tmp_path):
    """The messages tfrt-ray parses without the onnx package are onnx's own classes: a
    user who imports onnx afterwards can pass protos either way."""
    code = f"sys_path = {str(models['fixed'])!r}\n" + _PROTO_IDENTITY
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=cli_env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
