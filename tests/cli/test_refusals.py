"""The command line refuses what it cannot do (exit 1, a typed error, no file written)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cli.conftest import W


@pytest.mark.parametrize("size", ["-3", "0"])
def test_compile_refuses_a_non_positive_batch_size(main, models, tmp_path, size):
    out = tmp_path / "m.tfrt"
    status, _, err = main("compile", models["dynamic"], "-o", out, "--batch-size", size)
    assert status == 1
    assert err.startswith("error:") and "fix:" in err and f"--batch-size {size}" in err
    assert not out.exists()


def test_compile_into_a_missing_directory_names_it(main, models, tmp_path):
    out = tmp_path / "missing_dir" / "m.tfrt"
    status, _, err = main("compile", models["dynamic"], "-o", out)
    assert status == 1
    assert err.startswith("error:") and "fix:" in err
    assert "does not exist" in err and "missing_dir" in err
    assert ".tmp" not in err and not out.parent.exists()


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_run_refuses_an_output_that_is_the_inputs_file(main, models, tmp_path, inputs8,
                                                      suffix):
    data = tmp_path / f"in{suffix}"
    if suffix == ".npz":
        np.savez(data, **inputs8)
    else:
        pq = pytest.importorskip("pyarrow.parquet")
        import pyarrow as pa
        pq.write_table(pa.table({k: list(v) for k, v in inputs8.items()}), data)
    before = data.read_bytes()
    alias = tmp_path / "sub" / ".." / data.name  # the same file under another spelling
    (tmp_path / "sub").mkdir()
    status, _, err = main("run", models["dynamic"], "--inputs", data, "--output", alias)
    assert status == 1
    assert "destroy the inputs" in err and "fix:" in err
    assert data.read_bytes() == before


@pytest.mark.parametrize("level", ["0", "1", "2"])
def test_compile_keeps_the_plan_at_every_level(main, models, tmp_path, inputs8, level):
    from tests.cli.conftest import reference

    out = tmp_path / "m.tfrt"
    status, _, err = main("compile", models["dynamic"], "-o", out, "-O", level)
    assert status == 0
    assert "plan 'place'" in err and "cannot be stored" not in err
    data, preds = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(data, **inputs8)
    status, _, err = main("run", out, "--inputs", data, "--output", preds)
    assert status == 0, err
    want = reference(inputs8["x"], inputs8["offset"])
    with np.load(preds) as got:
        for name, value in want.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6)


def test_existing_outputs_are_kept_unless_overwrite(main, models, tmp_path, inputs8):
    out = tmp_path / "m.tfrt"
    out.write_bytes(b"keep me")
    status, _, err = main("compile", models["dynamic"], "-o", out)
    assert status == 1 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"
    assert main("compile", models["dynamic"], "-o", out, "--overwrite")[0] == 0
    data, preds = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(data, **inputs8)
    preds.write_bytes(b"keep me")
    status, _, err = main("run", models["dynamic"], "--inputs", data, "--output", preds)
    assert status == 1 and "already exists" in err
    assert preds.read_bytes() == b"keep me"
    assert main("run", models["dynamic"], "--inputs", data, "--output", preds,
                "--overwrite")[0] == 0
    assert "y" in np.load(preds).files


def test_a_finished_parquet_output_is_kept_unless_overwrite_and_overwrite_starts_over(
        main, models, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 4)).astype(np.float32)
    offset = rng.standard_normal((300, 3)).astype(np.float32)
    src = tmp_path / "data.parquet"
    pq.write_table(pa.table({"x": list(x), "offset": list(offset)}), src)
    out = tmp_path / "preds.parquet"
    args = ("run", models["dynamic"], "--inputs", src, "--output", out, "--batch-size", 64,
            "--commit-every", 1)
    status, _, err = main(*args)
    assert status == 0, err
    first = out.read_bytes()
    status, _, err = main(*args)
    assert status == 1 and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == first
    status, _, err = main(*args, "--_stop-after", 2)  # a partial run beside the old output
    assert status == 1  # still refused: the finished output is there
    status, _, err = main(*args, "--overwrite", "--_stop-after", 2)
    assert status == 130 and (tmp_path / "preds.parquet.partial.json").exists()
    status, _, err = main(*args, "--overwrite")  # starts over: no "resumed after"
    assert status == 0 and "resumed" not in err, err
    got = pq.read_table(out)
    assert got.num_rows == 300
    np.testing.assert_allclose(np.stack(got.column("y").to_numpy(zero_copy_only=False)),
                               np.maximum(x @ W + offset, 0), rtol=1e-5, atol=1e-6)
