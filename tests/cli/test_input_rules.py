"""One dtype rule for .npz and Parquet inputs (tfrt_ray.runtime.feeds): same-kind values
are converted (results equal NumPy's), others are refused with the same message; inputs
that disagree on a shared dim are refused before anything runs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cli.conftest import reference

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

RNG = np.random.default_rng(5)
X = RNG.standard_normal((6, 4))                    # float64 for a float32 input
OFF = RNG.integers(-3, 3, (6, 3)).astype(np.int32)  # int32 for a float32 input


def _int_model(path):
    """y = k + k for an int64 input k (N,)."""
    from onnx import TensorProto, helper, save

    g = helper.make_graph([helper.make_node("Add", ["k", "k"], ["y"])], "ints",
                          [helper.make_tensor_value_info("k", TensorProto.INT64, ["N"])],
                          [helper.make_tensor_value_info("y", TensorProto.INT64, ["N"])])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _parquet(path, **cols):
    pq.write_table(pa.table({k: pa.array(list(v)) if v.ndim > 1 else pa.array(v)
                             for k, v in cols.items()}), path)
    return path


def test_npz_float64_and_int32_inputs_are_converted(main, models, tmp_path):
    np.savez(tmp_path / "in.npz", x=X, offset=OFF)
    status, _, err = main("run", models["dynamic"], "--inputs", tmp_path / "in.npz",
                          "--output", tmp_path / "out.npz")
    assert status == 0, err
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_allclose(out["y"], reference(X, OFF)["y"], rtol=1e-5, atol=1e-5)


def test_parquet_float64_and_int32_columns_are_converted(main, models, tmp_path):
    src = _parquet(tmp_path / "in.parquet", x=X, offset=OFF)
    status, _, err = main("run", models["dynamic"], "--inputs", src,
                          "--output", tmp_path / "out.parquet", "--batch-size", 4)
    assert status == 0, err
    y = np.stack(pq.read_table(tmp_path / "out.parquet").column("y").to_numpy(
        zero_copy_only=False))
    np.testing.assert_allclose(y, reference(X, OFF)["y"], rtol=1e-5, atol=1e-5)


def test_a_float_column_for_an_int_input_is_refused_alike(main, tmp_path):
    pytest.importorskip("onnx")
    model = _int_model(tmp_path / "ints.onnx")
    k = np.array([1.5, 2.0, 3.0])
    np.savez(tmp_path / "k.npz", k=k)
    _parquet(tmp_path / "k.parquet", k=k)
    errs = []
    for src, out in [("k.npz", "o.npz"), ("k.parquet", "o.parquet")]:
        status, _, err = main("run", model, "--inputs", tmp_path / src,
                              "--output", tmp_path / out)
        assert status == 1 and not (tmp_path / out).exists(), err
        errs.append(err)
    assert "input 'k' has dtype float64, expected int64" in errs[0]
    assert "astype" in errs[0]
    assert errs[0] == errs[1]


def test_npz_inputs_that_disagree_on_the_batch_dim_are_refused(main, models, tmp_path):
    np.savez(tmp_path / "in.npz", x=X.astype(np.float32), offset=OFF[:5].astype(np.float32))
    status, _, err = main("run", models["dynamic"], "--inputs", tmp_path / "in.npz",
                          "--output", tmp_path / "out.npz")
    assert status == 1 and not (tmp_path / "out.npz").exists()
    assert "kernel" not in err
    assert all(s in err for s in ("'x'", "'offset'", "'N'", " 6 ", " 5 ")), err
