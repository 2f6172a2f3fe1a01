"""Ctrl-C during batch inference on the oneDNN path: every SIGINT commits what finished and
exits 130, never aborts, and the same command then resumes exactly once to the output of an
uninterrupted run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from device_actors.cpu import onednn

TRIALS = 20
HERE = Path(__file__).resolve().parent


def _branchy_convnet(path: Path) -> Path:
    """Convolutions on two branches at once (the stage runs them on two threads) through
    oneDNN, a residual add, pooling and a classifier: x [N, 3, 32, 32] -> y [N, 10]."""
    from onnx import TensorProto, helper, numpy_helper, save

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def weight(name, shape):
        value = (rng.standard_normal(shape) * 0.1).astype(np.float32)
        inits.append(numpy_helper.from_array(value, name))
        return name

    def conv(x, cin, cout, k, out, stride=1):
        nodes.append(helper.make_node(
            "Conv", [x, weight(out + "_w", (cout, cin, k, k)), weight(out + "_b", (cout,))],
            [out], pads=[k // 2] * 4, strides=[stride, stride]))
        return out

    nodes.append(helper.make_node("Relu", [conv("x", 3, 16, 3, "c0")], ["h"]))
    conv("h", 16, 32, 3, "a", stride=2)
    conv("h", 16, 32, 1, "b", stride=2)  # the projection branch, beside the main one
    nodes += [helper.make_node("Add", ["a", "b"], ["s"]),
              helper.make_node("Relu", ["s"], ["r"]),
              helper.make_node("GlobalAveragePool", ["r"], ["g"]),
              helper.make_node("Flatten", ["g"], ["f"]),
              helper.make_node("Gemm", ["f", weight("fc", (32, 10))], ["y"])]
    graph = helper.make_graph(
        nodes, "branchy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.skipif(not onednn.available(), reason="oneDNN is not installed")
def test_sigint_at_twenty_random_points_commits_exits_130_and_resumes_once(tmp_path):
    pytest.importorskip("onnx")
    model = _branchy_convnet(tmp_path / "branchy.onnx")
    rows = 384
    x = np.random.default_rng(1).standard_normal((rows, 3 * 32 * 32)).astype(np.float32)
    data = tmp_path / "x.parquet"
    pq.write_table(pa.table({"id": np.arange(rows),
                             "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()),
                                                                    3 * 32 * 32)}),
                   data, row_group_size=24)
    done = subprocess.run(
        [sys.executable, str(HERE / "sigint_trials.py"), str(model), str(data), str(tmp_path),
         str(TRIALS), "20261203"],
        capture_output=True, text=True, cwd=tmp_path)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode >= 0, f"the run died of signal {-done.returncode}: {done.stderr}"
    trials = [t for t in lines if "trial" in t]
    assert len(trials) == TRIALS, (done.stdout, done.stderr[-2000:])
    bad = [t for t in trials if not t["ok"]]
    assert not bad, bad
    assert done.returncode == 0, done.stderr[-2000:]
    # the points are spread over the run: most SIGINTs land while it is working
    assert sum(t["rc"] == 130 for t in trials) >= TRIALS // 2, trials
