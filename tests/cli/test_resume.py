"""Resume identifies the model, the input and the options by content, not by size."""

from __future__ import annotations

import builtins
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tfrt_ray.batch import checkpoint

ROWS = 300


@pytest.fixture(autouse=True)
def _hash_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TFRT_RAY_HASH_CACHE", str(tmp_path / "cache" / "hashes.json"))


def _model(path, scale: float):
    """y = x @ (W * scale): a 'fine-tuned' copy has other weights and the same bytes count."""
    from onnx import TensorProto, helper, numpy_helper, save

    w = ((np.arange(12, dtype=np.float32).reshape(4, 3) - 5) / 10 * scale).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W")])
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, w


def _data(path, seed: int = 0):
    x = np.random.default_rng(seed).standard_normal((ROWS, 4)).astype(np.float32)
    table = pa.table({"id": pa.array(np.arange(ROWS)),
                      "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 4)})
    pq.write_table(table, path, compression="none", use_dictionary=False)
    return path, x


def _interrupted(main, model, src, out, *extra):
    status, _, err = main("run", model, "--inputs", src, "--output", out, "--batch-size", 32,
                          "--commit-every", 1, "--_stop-after", 2, *extra)
    assert status == 130, err


@pytest.fixture
def setup(models, tmp_path):  # models: the ONNX frontend is there
    model, w = _model(tmp_path / "m.onnx", 1.0)
    src, x = _data(tmp_path / "data.parquet")
    return model, w, src, x, tmp_path / "preds.parquet"


def test_a_same_size_fine_tuned_model_is_refused(main, setup, tmp_path):
    model, _, src, _, out = setup
    size = model.stat().st_size
    _interrupted(main, model, src, out)
    _model(model, 2.0)
    assert model.stat().st_size == size
    status, _, err = main("run", model, "--inputs", src, "--output", out)
    assert status == 1 and "the model" in err and "is not the one" in err
    assert "--overwrite" in err and "partial.json" in err
    assert (tmp_path / "preds.parquet.partial.json").exists()


def test_a_same_size_edit_of_a_committed_row_is_refused(main, setup):
    model, _, src, x, out = setup
    _interrupted(main, model, src, out)
    raw = bytearray(src.read_bytes())
    at = raw.find(x[0].tobytes())
    assert at >= 0
    raw[at:at + 4] = np.float32(123.0).tobytes()  # row 0 was committed
    src.write_bytes(bytes(raw))
    assert pq.read_table(src).column("x")[0].as_py()[0] == 123.0
    status, _, err = main("run", model, "--inputs", src, "--output", out)
    assert status == 1 and "the input file" in err and "is not the one" in err


def test_changed_options_are_refused(main, setup):
    model, _, src, _, out = setup
    _interrupted(main, model, src, out)
    status, _, err = main("run", model, "--inputs", src, "--output", out, "--keep", "id")
    assert status == 1 and "keep" in err and "to start over" in err


def test_unchanged_resumes_and_equals_a_clean_run(main, setup, tmp_path):
    model, w, src, x, out = setup
    _interrupted(main, model, src, out)
    status, _, err = main("run", model, "--inputs", src, "--output", out, "--batch-size", 32)
    assert status == 0 and "resumed after 64" in err, err
    clean = tmp_path / "clean.parquet"
    assert main("run", model, "--inputs", src, "--output", clean)[0] == 0
    got, want = pq.read_table(out), pq.read_table(clean)
    assert got.num_rows == ROWS and got.equals(want)
    np.testing.assert_allclose(np.stack(got.column("y").to_numpy(zero_copy_only=False)),
                               x @ w, rtol=1e-5, atol=1e-5)


def test_the_hash_cache_spares_a_second_read(tmp_path, monkeypatch):
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(3 << 20))
    reads = []

    def counting_open(file, *args, **kwargs):
        reads.append(str(file))
        return builtins.open(file, *args, **kwargs)

    monkeypatch.setattr(checkpoint, "open", counting_open, raising=False)
    first = checkpoint.file_identity(path)
    second = checkpoint.file_identity(path)
    assert first == second and reads == [str(path.resolve())]
    path.write_bytes(os.urandom(3 << 20))  # new content: hashed again
    assert checkpoint.file_identity(path)["sha256"] != first["sha256"]
    assert len(reads) == 2
