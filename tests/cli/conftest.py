"""Models and data for the command-line tests, all made here (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
W = (np.arange(12, dtype=np.float32).reshape(4, 3) - 5) / 10


def _model(path: Path, batch, unsupported: bool = False) -> Path:
    """y = relu(x @ W + offset), s = sum(y, axis=1): inputs x (batch, 4) and offset
    (batch, 3), outputs y (batch, 3) and s (batch,)."""
    from onnx import TensorProto, helper, numpy_helper, save

    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["m"]),
        helper.make_node("Add", ["m", "offset"], ["a"]),
        helper.make_node("Relu", ["a"], ["y"]),
        helper.make_node("ReduceSum", ["y", "axes"], ["s"], keepdims=0),
    ]
    if unsupported:
        nodes.append(helper.make_node("FancyNewOp", ["y"], ["q"], domain="example.custom"))
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4]),
         helper.make_tensor_value_info("offset", TensorProto.FLOAT, [batch, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [batch])],
        [numpy_helper.from_array(W, "W"),
         numpy_helper.from_array(np.array([1], np.int64), "axes")],
    )
    opsets = [helper.make_opsetid("", 17)]
    if unsupported:
        opsets.append(helper.make_opsetid("example.custom", 1))
    save(helper.make_model(graph, opset_imports=opsets), path)
    return path


def reference(x: np.ndarray, offset: np.ndarray) -> dict[str, np.ndarray]:
    y = np.maximum(x.astype(np.float32) @ W + offset.astype(np.float32), 0)
    return {"y": y, "s": y.sum(axis=1)}


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("onnx")
    pytest.importorskip("tfrt_ray.frontends.onnx", reason="the ONNX frontend is not there yet")
    d = tmp_path_factory.mktemp("models")
    return {
        "dynamic": _model(d / "dynamic.onnx", "N"),
        "fixed": _model(d / "fixed.onnx", 8),
        "unsupported": _model(d / "unsupported.onnx", "N", unsupported=True),
    }


@pytest.fixture
def inputs8():
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((8, 4)).astype(np.float32),
            "offset": rng.standard_normal((8, 3)).astype(np.float32)}


@pytest.fixture
def cli_env(tmp_path) -> dict:
    """For CLI subprocesses: this checkout importable, and a HOME of the test's own (a
    local Ray writes its auth token under HOME)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_ADDRESS", "RAY_AUTH"))}
    env.update(PYTHONPATH=str(ROOT), HOME=str(home), RAY_USAGE_STATS_ENABLED="0")
    return env


@pytest.fixture
def cli(cli_env, tmp_path):
    """Runs ``python -m tfrt_ray.cli ARGS`` in the test's temp dir."""

    def run(*args: str, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tfrt_ray.cli", *map(str, args)],
                              capture_output=True, text=True, timeout=timeout, env=cli_env,
                              cwd=tmp_path, **kwargs)

    return run


@pytest.fixture
def main(capsys):
    """Calls ``tfrt_ray.cli.main(argv)`` in this process: (exit status, stdout, stderr)."""
    from tfrt_ray.cli import main as cli_main

    def run(*args: str) -> tuple[int, str, str]:
        status = cli_main([str(a) for a in args])
        out, err = capsys.readouterr()
        return status, out, err

    return run
