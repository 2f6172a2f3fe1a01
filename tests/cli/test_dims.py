"""--dim / dims=: fixing the symbolic dims of a transformer-like export ([batch, seq])."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import tfrt_ray as tr
from tfrt_ray.errors import InputError

ort = pytest.importorskip("onnxruntime")

SEQ = 8


def _model(path) -> None:
    rng = np.random.default_rng(7)
    emb = rng.standard_normal((50, 8)).astype(np.float32)
    w = rng.standard_normal((8, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(emb, "emb"), numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(np.array([1], np.int64), "one"),
             numpy_helper.from_array(np.array(1, np.int64), "axis1"),
             numpy_helper.from_array(np.array([0, -1], np.int64), "shape2")]
    nodes = [
        helper.make_node("Gather", ["emb", "input_ids"], ["e"]),           # [b, s, 8]
        helper.make_node("Shape", ["input_ids"], ["shp"]),
        helper.make_node("Gather", ["shp", "axis1"], ["seqlen"], axis=0),  # the seq dim
        helper.make_node("Cast", ["attention_mask"], ["mf"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["mf", "shape2"], ["mf2"]),
        helper.make_node("Unsqueeze", ["seqlen", "zero"], ["seq1"]),
        helper.make_node("Concat", ["shp", "one"], ["shp3"], axis=0),      # [b, s, 1]
        helper.make_node("Reshape", ["mf2", "shp3"], ["m3"]),
        helper.make_node("Mul", ["e", "m3"], ["em"]),
        helper.make_node("ReduceSum", ["em", "one"], ["num"], keepdims=0),  # [b, 8]
        helper.make_node("ReduceSum", ["m3", "one"], ["den"], keepdims=0),  # [b, 1]
        helper.make_node("Div", ["num", "den"], ["pooled"]),
        helper.make_node("MatMul", ["pooled", "w"], ["logits"]),
    ]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "zero"))
    g = helper.make_graph(
        nodes, "tiny_bert",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.onnx"
    _model(path)
    return path


def _ort(path, ids, mask):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]


def _ids(n):
    rng = np.random.default_rng(3)
    return rng.integers(1, 50, (n, SEQ)).astype(np.int64)


def test_load_onnx_dims_matches_onnxruntime(model):
    ids = _ids(4)
    mask = np.ones_like(ids)
    mask[0, 5:] = 0
    got = tr.load_onnx(model, dims={"seq": SEQ}).run(
        {"input_ids": ids, "attention_mask": mask})["logits"]
    np.testing.assert_allclose(got, _ort(model, ids, mask), rtol=1e-5, atol=1e-5)


def test_load_onnx_unknown_dim_names_the_models_dims(model):
    with pytest.raises(InputError, match="seq") as e:
        tr.load_onnx(model, dims={"sequence": SEQ})
    assert "sequence" in str(e.value)


@pytest.mark.parametrize("spec", ["seq", "seq=x", "seq=0"])
def test_malformed_dim_refused(main, model, tmp_path, spec):
    status, _, err = main("compile", model, "-o", tmp_path / "m.tfrt", "--dim", spec)
    assert status == 1 and "--dim" in err
    assert not (tmp_path / "m.tfrt").exists()


def test_compile_without_dim_names_dim(main, model, tmp_path):
    status, _, err = main("compile", model, "-o", tmp_path / "m.tfrt", "--batch-size", "4")
    assert status == 1 and "--dim" in err


def test_compile_with_dim_runs(main, model, tmp_path):
    out = tmp_path / "m.tfrt"
    status, _, err = main("compile", model, "-o", out, "--dim", "seq=8", "--batch-size", "4")
    assert status == 0, err
    ids = _ids(4)
    mask = np.ones_like(ids)
    np.savez(tmp_path / "in.npz", input_ids=ids, attention_mask=mask)
    status, _, err = main("run", out, "--inputs", tmp_path / "in.npz",
                          "--output", tmp_path / "out.npz")
    assert status == 0, err
    got = np.load(tmp_path / "out.npz")["logits"]
    np.testing.assert_allclose(got, _ort(model, ids, mask), rtol=1e-5, atol=1e-5)


def _ragged(path, rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"input_ids": pa.array(rows, pa.list_(pa.int64()))}), path)


def test_run_parquet_pads_ragged_ids_and_builds_mask(main, model, tmp_path):
    import pyarrow.parquet as pq

    rng = np.random.default_rng(5)
    rows = [list(rng.integers(1, 50, n)) for n in (3, 8, 1, 5, 7, 2)]
    _ragged(tmp_path / "ragged.parquet", [[int(v) for v in r] for r in rows])
    status, _, err = main("run", model, "--inputs", tmp_path / "ragged.parquet",
                          "--output", tmp_path / "out.parquet", "--dim", "seq=8",
                          "--batch-size", "4")
    assert status == 0, err
    got = np.stack(pq.read_table(tmp_path / "out.parquet").column("logits").to_pylist())
    ids = np.zeros((len(rows), SEQ), np.int64)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = r
        mask[i, :len(r)] = 1
    np.testing.assert_allclose(got, _ort(model, ids, mask), rtol=1e-5, atol=1e-5)


def test_run_parquet_refuses_row_longer_than_dim(main, model, tmp_path):
    rows = [[1, 2], [3] * 4, [4, 5, 6], [1], [7] * 9]
    _ragged(tmp_path / "ragged.parquet", rows)
    status, _, err = main("run", model, "--inputs", tmp_path / "ragged.parquet",
                          "--output", tmp_path / "out.parquet", "--dim", "seq=8",
                          "--batch-size", "4")
    assert status == 1
    assert "input_ids" in err and "row 4" in err and "9" in err
