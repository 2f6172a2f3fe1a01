"""Batch inference over Parquet: values, column mapping, padding, resume, refusals."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import reference

ROWS = 1003  # not a multiple of any batch size used here: the last batch is padded


def _data(path, rows: int = ROWS, seed: int = 0, row_group_size: int = 100):
    """x as fixed_size_list<float>[4], offset as list<double> (3 per row), and an id."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 4)).astype(np.float32)
    offset = rng.standard_normal((rows, 3))
    table = pa.table({
        "id": pa.array(np.arange(rows)),
        "x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 4),
        "offset": pa.array(list(offset), type=pa.list_(pa.float64())),
    })
    pq.write_table(table, path, row_group_size=row_group_size)
    return path, x, offset


def _read(path):
    t = pq.read_table(path)
    y = np.stack(t.column("y").to_numpy(zero_copy_only=False)) if t.num_rows else None
    return t, y


def _check_complete(path, x, offset):
    t, y = _read(path)
    assert t.column("id").to_pylist() == list(range(len(x)))  # each row once, in order
    want = reference(x, offset)
    np.testing.assert_allclose(y, want["y"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(t.column("s").to_numpy(), want["s"], rtol=1e-5, atol=1e-5)


def test_parquet_batch_inference_matches_the_model(main, models, tmp_path):
    src, x, offset = _data(tmp_path / "data.parquet")
    out = tmp_path / "preds.parquet"
    status, _, err = main("run", models["dynamic"], "--inputs", src, "--output", out,
                          "--batch-size", 64, "--keep", "id")
    assert status == 0, err
    assert f"wrote {ROWS} rows" in err and "rows/s" in err
    t, _ = _read(out)
    assert t.schema.names == ["id", "y", "s"]
    assert t.schema.field("y").type == pa.list_(pa.float32(), 3)
    assert t.schema.field("s").type == pa.float32()
    _check_complete(out, x, offset)
    assert not (tmp_path / "preds.parquet.partial").exists()
    assert not (tmp_path / "preds.parquet.partial.json").exists()


def test_a_fixed_batch_model_takes_its_own_batch_size(main, models, tmp_path):
    src, x, offset = _data(tmp_path / "data.parquet", rows=21)
    out = tmp_path / "preds.parquet"
    status, _, err = main("run", models["fixed"], "--inputs", src, "--output", out, "--keep",
                          "id")
    assert status == 0, err
    _check_complete(out, x, offset)
    status, _, err = main("run", models["fixed"], "--inputs", src, "--output", out,
                          "--batch-size", 5, "--overwrite")
    assert status == 1 and "built for batches of 8 rows, not 5" in err


def test_a_compiled_executable_runs_over_parquet(main, models, tmp_path):
    pytest.importorskip("tfrt_ray.executable", reason="the .tfrt format is not there yet")
    src, x, offset = _data(tmp_path / "data.parquet", rows=45)
    exe = tmp_path / "fixed.tfrt"
    assert main("compile", models["fixed"], "-o", exe)[0] == 0
    status, _, err = main("run", exe, "--inputs", src, "--output", tmp_path / "p.parquet",
                          "--keep", "id")
    assert status == 0, err
    _check_complete(tmp_path / "p.parquet", x, offset)


def test_interrupt_then_resume_refuses_another_batch_size_and_resumes_the_same(
        main, models, tmp_path):
    src, x, offset = _data(tmp_path / "data.parquet")
    out = tmp_path / "preds.parquet"
    args = ("run", models["dynamic"], "--inputs", src, "--output", out, "--keep", "id",
            "--commit-every", 2)
    status, _, err = main(*args, "--batch-size", 64, "--_stop-after", 5)
    assert status == 130 and "run the same command again to resume" in err
    sidecar = json.loads((tmp_path / "preds.parquet.partial.json").read_text())
    assert sidecar["rows"] == 5 * 64  # every batch written before the interrupt is kept
    assert not (tmp_path / "preds.parquet").exists()
    status, _, err = main(*args, "--batch-size", 50)
    assert status == 1 and "batch_size" in err and "to start over" in err
    assert json.loads((tmp_path / "preds.parquet.partial.json").read_text()) == sidecar
    status, _, err = main(*args, "--batch-size", 64)
    assert status == 0, err
    assert f"resumed after {5 * 64}" in err
    _check_complete(out, x, offset)


def test_ctrl_c_after_the_output_is_complete_says_so_and_keeps_it(
        main, models, tmp_path, monkeypatch):
    import tfrt_ray as tr

    def interrupted_shutdown():  # Ctrl-C as the session stops, after the output was written
        raise KeyboardInterrupt

    monkeypatch.setattr(tr, "shutdown", interrupted_shutdown)
    src, x, offset = _data(tmp_path / "data.parquet")
    out = tmp_path / "preds.parquet"
    status, _, err = main("run", models["dynamic"], "--inputs", src, "--output", out,
                          "--batch-size", 64, "--keep", "id")
    assert status == 130
    assert f"{out} is complete ({ROWS} rows)" in err and "to resume" not in err
    _check_complete(out, x, offset)
    assert not (tmp_path / "preds.parquet.partial.json").exists()


def test_kill_9_loses_only_uncommitted_rows(cli, models, tmp_path):
    src, x, offset = _data(tmp_path / "data.parquet")
    args = ("run", models["dynamic"], "--inputs", src, "--output", "preds.parquet", "--keep",
            "id", "--batch-size", 64, "--commit-every", 3)
    died = cli(*args, "--_die-after", 7)  # os._exit after 7 batches: commits at 3 and 6
    assert died.returncode == 9
    assert json.loads((tmp_path / "preds.parquet.partial.json").read_text())["rows"] == 6 * 64
    assert list((tmp_path / "preds.parquet.partial").glob("*.tmp"))  # the lost segment
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert f"resumed after {6 * 64}" in again.stderr
    _check_complete(tmp_path / "preds.parquet", x, offset)


def test_resume_refuses_a_changed_input(main, models, tmp_path):
    src, _, _ = _data(tmp_path / "data.parquet")
    out = tmp_path / "preds.parquet"
    args = ("run", models["dynamic"], "--inputs", src, "--output", out, "--batch-size", 64)
    status, _, _ = main(*args, "--commit-every", 1, "--_stop-after", 2)
    assert status == 130
    _data(src, seed=1)  # same name, schema and size of file; other values
    status, _, err = main(*args)
    assert status == 1
    assert "is not the one the partial output" in err and "to start over" in err
    assert (tmp_path / "preds.parquet.partial.json").exists()  # nothing was thrown away
    status, _, err = main(*args, "--keep", "id")  # and other output columns are refused
    assert status == 1


def test_resume_refuses_a_changed_model(main, models, tmp_path):
    src, _, _ = _data(tmp_path / "data.parquet")
    out = tmp_path / "preds.parquet"
    status, _, _ = main("run", models["dynamic"], "--inputs", src, "--output", out,
                        "--batch-size", 8, "--commit-every", 1, "--_stop-after", 1)
    assert status == 130
    status, _, err = main("run", models["fixed"], "--inputs", src, "--output", out)
    assert status == 1 and "the model" in err and "is not the one" in err


@pytest.mark.parametrize("column, message", [
    (pa.array([[1.0, 2.0, 3.0], None, [1.0, 2.0, 3.0]]), "null value"),
    (pa.array([[1.0, 2.0, 3.0], [1.0], [1.0, 2.0, 3.0]]), "lists of 1 to 3 values"),
    (pa.array(["a", "b", "c"]), "column 'offset' holds single values"),
    (pa.array([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]]), "rows of shape (2,)"),
    (pa.array([["a"] * 3] * 3), "input 'offset' has dtype string, expected float32"),
])
def test_bad_columns_are_input_errors(main, models, tmp_path, column, message):
    x = pa.FixedSizeListArray.from_arrays(pa.array(np.ones(12, np.float32)), 4)
    pq.write_table(pa.table({"x": x, "offset": column}), tmp_path / "d.parquet")
    status, _, err = main("run", models["dynamic"], "--inputs", tmp_path / "d.parquet",
                          "--output", tmp_path / "p.parquet", "--batch-size", 2)
    assert status == 1 and err.startswith("error: ") and message in err, err


def test_missing_column_and_wrong_files(main, models, tmp_path):
    pq.write_table(pa.table({"x": pa.array([[1.0] * 4])}), tmp_path / "d.parquet")
    status, _, err = main("run", models["dynamic"], "--inputs", tmp_path / "d.parquet",
                          "--output", tmp_path / "p.parquet")
    assert status == 1 and "no column(s) ['offset']" in err and "['x']" in err
    status, _, err = main("run", models["dynamic"], "--inputs", tmp_path / "d.parquet",
                          "--output", tmp_path / "p.npz")
    assert status == 1 and "give both as .parquet" in err
    (tmp_path / "junk.parquet").write_bytes(b"nope")
    status, _, err = main("run", models["dynamic"], "--inputs", tmp_path / "junk.parquet",
                          "--output", tmp_path / "p.parquet")
    assert status == 1 and "cannot read" in err


def test_an_empty_input_gives_an_empty_output(main, models, tmp_path):
    src, _, _ = _data(tmp_path / "data.parquet", rows=0)
    status, _, err = main("run", models["dynamic"], "--inputs", src, "--output",
                          tmp_path / "p.parquet")
    assert status == 0, err
    t = pq.read_table(tmp_path / "p.parquet")
    assert t.num_rows == 0 and t.schema.names == ["y", "s"]


def test_progress_bar_only_when_asked_or_on_a_terminal(main, models, tmp_path):
    src, _, _ = _data(tmp_path / "data.parquet", rows=50)
    _, _, err = main("run", models["dynamic"], "--inputs", src, "--output",
                     tmp_path / "a.parquet", "--batch-size", 10)
    assert "rows/s]" not in err  # stderr is not a terminal here
    _, _, err = main("run", models["dynamic"], "--inputs", src, "--output",
                     tmp_path / "b.parquet", "--batch-size", 10, "--progress")
    assert "100%|" in err and "rows/s" in err


def test_column_mapping_reshapes_nests_and_casts():
    from tfrt_ray.batch.columns import array_to_column, column_to_array
    from tfrt_ray.errors import InputError
    from tfrt_ray.ir.types import TensorType

    flat = pa.array([[1, 2, 3, 4], [5, 6, 7, 8]], type=pa.list_(pa.int32()))
    a = column_to_array(flat, "img", TensorType("f32", (2, 2, 2)))
    assert a.shape == (2, 2, 2) and a.dtype == np.float32 and a[1, 1, 0] == 7
    nested = pa.array([[[1.0, 2.0]], [[3.0, 4.0]]])
    assert column_to_array(nested, "n", TensorType("f64", ("N", 1, 2))).shape == (2, 1, 2)
    with pytest.raises(InputError, match="dtype float64, expected int64"):
        column_to_array(pa.array([1.5, 2.5]), "k", TensorType("i64", ("N",)))
    out = np.arange(12, dtype=np.float32).reshape(2, 3, 2)
    col = array_to_column(out, pa.list_(pa.list_(pa.float32(), 2), 3))
    assert col.to_pylist()[1][2] == [10.0, 11.0]


@pytest.mark.integration
def test_replicas_on_device_actors(cli, models, tmp_path):
    src, x, offset = _data(tmp_path / "data.parquet", rows=301)
    r = cli("run", models["dynamic"], "--inputs", src, "--output", "p.parquet", "--keep",
            "id", "--batch-size", 32, "--devices", 2, "--strategy", "replicate", timeout=240)
    assert r.returncode == 0, r.stderr
    _check_complete(tmp_path / "p.parquet", x, offset)
