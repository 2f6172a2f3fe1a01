"""`tfrt-ray run` with .npz inputs, `compile` and running the .tfrt it writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.conftest import reference


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_run_npz_writes_every_output_by_name(main, models, inputs8, tmp_path):
    status, _, err = main("run", models["dynamic"], "--inputs", _npz(tmp_path / "in.npz",
                          **inputs8), "--output", tmp_path / "out.npz")
    assert status == 0, err
    want = reference(**inputs8)
    with np.load(tmp_path / "out.npz") as out:
        assert sorted(out.files) == ["s", "y"]
        for name in ("y", "s"):
            np.testing.assert_allclose(out[name], want[name], rtol=1e-5, atol=1e-6)
            assert out[name].dtype == np.float32


def test_run_any_batch_of_a_symbolic_model_and_summary_without_output(main, models,
                                                                      tmp_path):
    x = np.ones((3, 4), np.float32)
    status, out, err = main("run", models["dynamic"], "--inputs",
                            _npz(tmp_path / "in.npz", x=x, offset=np.zeros((3, 3), np.float32)))
    assert status == 0, err
    assert "y: float32[3, 3]" in out and "s: float32[3]" in out


@pytest.mark.parametrize("arrays, message", [
    (lambda i: {"x": i["x"]}, "missing input(s) ['offset']"),
    (lambda i: {**i, "bias": i["x"]}, "unknown input(s) ['bias']"),
    (lambda i: {**i, "x": i["x"].astype(bool)}, "input 'x' has dtype bool, "
     "expected float32"),
    (lambda i: {**i, "x": i["x"][:, :3]}, "input 'x' has shape (8, 3)"),
])
def test_run_input_errors_name_the_problem(main, models, inputs8, tmp_path, arrays, message):
    status, _, err = main("run", models["fixed"], "--inputs",
                          _npz(tmp_path / "in.npz", **arrays(inputs8)))
    assert status == 1
    assert err.startswith("error: ") and message in err, err
    assert "Traceback" not in err


def test_run_file_errors(main, models, tmp_path):
    status, _, err = main("run", models["fixed"])
    assert status == 1 and "missing input(s) ['x', 'offset']" in err
    status, _, err = main("run", models["fixed"], "--inputs", tmp_path / "nope.npz")
    assert status == 1 and "does not exist" in err
    (tmp_path / "in.csv").write_text("1,2")
    status, _, err = main("run", models["fixed"], "--inputs", tmp_path / "in.csv")
    assert status == 1 and "neither .npz nor .parquet" in err
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    status, _, err = main("run", models["fixed"], "--inputs", tmp_path / "broken.npz")
    assert status == 1 and "cannot read inputs" in err


def test_run_subprocess_exit_codes(cli, models, inputs8, tmp_path):
    _npz(tmp_path / "in.npz", **inputs8)
    ok = cli("run", models["fixed"], "--inputs", "in.npz", "--output", "out.npz")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out.npz").exists()
    _npz(tmp_path / "bad.npz", **{**inputs8, "x": inputs8["x"].astype(bool)})
    bad = cli("run", models["fixed"], "--inputs", "bad.npz")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: input 'x' has dtype bool")
    assert "fix: " in bad.stderr and "Traceback" not in bad.stderr


def test_run_trace_is_a_chrome_trace(main, models, inputs8, tmp_path):
    status, _, err = main("run", models["fixed"], "--inputs",
                          _npz(tmp_path / "in.npz", **inputs8), "--trace", tmp_path / "t.json")
    assert status == 0, err
    events = json.loads((tmp_path / "t.json").read_text())["traceEvents"]
    spans = [e for e in events if e["ph"] == "X"]
    assert all(e["dur"] >= 0 for e in spans)
    names = {e["name"] for e in spans}
    spanned = " ".join(names)  # a span per ONNX node (or per fused group of them)
    assert "MatMul" in spanned and "Relu" in spanned and "ReduceSum" in spanned, names


@pytest.fixture
def executable_support():
    pytest.importorskip("tfrt_ray.executable", reason="the .tfrt format is not there yet")


def test_compile_then_run_and_inspect_the_tfrt(main, models, inputs8, tmp_path,
                                               executable_support):
    exe = tmp_path / "tiny.tfrt"
    status, out, err = main("compile", models["fixed"], "-o", exe)
    assert status == 0, err
    assert exe.exists() and "host:0" in out  # the placement table
    status, out, _ = main("inspect", exe)
    assert status == 0 and "tiny" in out or "tensor<8x4xf32>" in out
    status, _, err = main("run", exe, "--inputs", _npz(tmp_path / "in.npz", **inputs8),
                          "--output", tmp_path / "out.npz")
    assert status == 0, err
    want = reference(**inputs8)
    with np.load(tmp_path / "out.npz") as got:
        np.testing.assert_allclose(got["y"], want["y"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(got["s"], want["s"], rtol=1e-5, atol=1e-5)


def test_compile_fixes_a_symbolic_batch(main, models, tmp_path, executable_support):
    exe = tmp_path / "b16.tfrt"
    status, _, err = main("compile", models["dynamic"], "-o", exe, "--batch-size", "16", "-O",
                          "0")
    assert status == 0, err
    status, out, _ = main("inspect", exe)
    assert status == 0 and "tensor<16x4xf32>" in out


def test_compile_errors(main, models, tmp_path, executable_support):
    status, _, err = main("compile", models["fixed"], "-o", tmp_path / "x.bin")
    assert status == 1 and "must end in .tfrt" in err
    status, _, err = main("compile", models["unsupported"], "-o", tmp_path / "u.tfrt")
    assert status == 1 and "FancyNewOp" in err
    (tmp_path / "bad.tfrt").write_bytes(b"not an executable at all")
    status, _, err = main("run", tmp_path / "bad.tfrt")
    assert status == 1 and err.startswith("error: ") and "Traceback" not in err


def test_print_ir_after_all(main, models, tmp_path, executable_support):
    pytest.importorskip("tfrt_ray.passes", reason="the pass pipeline is not there yet")
    from tfrt_ray.cli.models import has

    if not has("tfrt_ray.passes", "optimize"):
        pytest.skip("tfrt_ray.passes.optimize is not there yet")
    status, out, err = main("compile", models["fixed"], "-o", tmp_path / "p.tfrt",
                            "--print-ir-after-all")
    assert status == 0, err
    assert "tr.matmul" in out + err


@pytest.mark.integration
def test_run_on_device_actors(cli, models, inputs8, tmp_path):
    """--devices 2 starts a local Ray of its own in the CLI process; pipeline on a graph
    falls back to place with a warning, and the outputs match."""
    _npz(tmp_path / "in.npz", **inputs8)
    r = cli("run", models["fixed"], "--inputs", "in.npz", "--output", "out.npz",
            "--devices", "2", "--strategy", "pipeline", timeout=240)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "out.npz") as got:
        np.testing.assert_allclose(got["y"], reference(**inputs8)["y"], rtol=1e-5, atol=1e-6)
