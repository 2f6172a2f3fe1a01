"""Executable files hold a program exactly: graph, weights, plan and metadata come back
equal, the weights as read-only views of the file's memory map."""

from __future__ import annotations

import os

import numpy as np
import pyarrow as pa
import pytest

import scheduler
from tests.executable.programs import mlp_graph, rich_graph, run, weights_graph
from tfrt_ray.errors import ExecutableFormatError, VerificationError
from tfrt_ray.executable import (
    FORMAT_VERSION,
    MAGIC,
    describe_executable,
    read_executable,
    write_executable,
)
from tfrt_ray.executable.header import ALIGN, HEADER_SIZE
from tfrt_ray.ir import ConstTensor, Graph, Node, TensorType

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("make", [rich_graph, weights_graph, mlp_graph], ids=lambda f: f.__name__)
@pytest.mark.parametrize("verify_weights", [True, False])
def test_round_trip_gives_an_equal_graph(tmp_path, make, verify_weights):
    g = make()
    path = tmp_path / "prog.trx"
    n = write_executable(path, g, metadata={"model": "m", "ünï": "cödé"})
    assert n == os.path.getsize(path)
    exe = read_executable(path, verify_weights=verify_weights)
    assert exe.graph == g
    assert exe.graph.as_text() == g.as_text()  # names, locs and attr types too
    assert exe.metadata == {"model": "m", "ünï": "cödé"}
    assert exe.format_version == FORMAT_VERSION
    assert exe.producer.startswith("tfrt-ray ")
    assert exe.plan_dict is None and exe.plan() is None


def test_weights_keep_dtype_shape_and_bytes(tmp_path):
    g = weights_graph()
    write_executable(tmp_path / "w.trx", g)
    back = read_executable(tmp_path / "w.trx").graph
    for a, b in zip(g.nodes, back.nodes, strict=True):
        for (_, va), (_, vb) in zip(a.attrs, b.attrs, strict=True):
            if isinstance(va, ConstTensor):
                assert vb.array.dtype == va.array.dtype
                assert vb.array.shape == va.array.shape
                np.testing.assert_array_equal(vb.array, va.array)
    shared = [n.attrs[0][1] for n in back.nodes if n.name in ("c2", "c_shared")]
    assert shared[0] is shared[1]  # one tensor held twice is stored once


def test_weights_are_zero_copy_read_only_views_of_the_map(tmp_path):
    g = mlp_graph(width=256)
    path = tmp_path / "mlp.trx"
    write_executable(path, g)
    before = pa.total_allocated_bytes()
    exe = read_executable(path)
    assert pa.total_allocated_bytes() == before  # nothing was copied into Arrow's pool
    lo = exe.mapping.address
    hi = lo + exe.mapping.size
    assert exe.mapping.size == os.path.getsize(path)
    for ct in exe.weights:
        a = ct.array
        assert not a.flags.writeable and not a.flags.owndata
        base = a
        while isinstance(base, np.ndarray):
            base = base.base
        assert isinstance(base, pa.Buffer)  # the base chain ends at a slice of the map
        assert lo <= a.ctypes.data and a.ctypes.data + a.nbytes <= hi
        assert (a.ctypes.data - lo) % ALIGN == 0
        with pytest.raises(ValueError):
            a[...] = 0


def test_weights_outlive_the_executable(tmp_path):
    path = tmp_path / "w.trx"
    g = weights_graph()
    write_executable(path, g)
    graph = read_executable(path).graph  # the Executable (and its `mapping`) is dropped
    assert graph == g


def test_plan_round_trips_without_a_second_copy_of_the_graph(tmp_path):
    g = mlp_graph()
    plan = scheduler.plan(g, scheduler.ClusterSpec.simulated(3))
    path = tmp_path / "p.trx"
    write_executable(path, g, plan=plan)
    exe = read_executable(path)
    assert "graph" not in exe.plan_dict
    assert exe.plan() == plan
    assert exe.plan(exe.graph).stages == plan.stages
    with_text = write_executable(tmp_path / "q.trx", g, plan=plan.to_dict())
    assert with_text == os.path.getsize(path)  # a dict plan loses its graph text too


def test_executable_without_weights_or_nodes(tmp_path):
    g = Graph("empty", (TensorType("f32", ()),), (0,), (0,), ())
    path = tmp_path / "e.trx"
    assert write_executable(path, g) % ALIGN == 0
    assert read_executable(path).graph == g


def test_file_layout_is_as_documented(tmp_path):
    path = tmp_path / "w.trx"
    write_executable(path, weights_graph())
    data = path.read_bytes()
    assert data[:8] == MAGIC
    assert int.from_bytes(data[8:12], "little") == FORMAT_VERSION
    d_off = int.from_bytes(data[32:40], "little")
    assert d_off % ALIGN == 0 and d_off >= HEADER_SIZE
    assert int.from_bytes(data[48:56], "little") == len(data)
    assert data[64:112].rstrip(b"\0").decode().startswith("tfrt-ray ")


def test_both_graphs_compute_the_same(tmp_path):
    g = rich_graph()
    write_executable(tmp_path / "r.trx", g)
    back = read_executable(tmp_path / "r.trx").graph
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((4, 8)).astype(np.float32), rng.random((4, 8)) > 0.5]
    for a, b in zip(run(g, inputs), run(back, inputs), strict=True):
        np.testing.assert_array_equal(a, b)


def test_write_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    path = tmp_path / "a.trx"
    write_executable(path, mlp_graph(seed=1))
    old = read_executable(path)  # keeps the old file mapped
    write_executable(path, mlp_graph(seed=2))
    assert old.graph == mlp_graph(seed=1)  # the old mapping still reads the old bytes
    assert read_executable(path).graph == mlp_graph(seed=2)
    assert sorted(os.listdir(tmp_path)) == ["a.trx"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.trx"
    write_executable(path, mlp_graph())
    before = path.read_bytes()
    with pytest.raises(ExecutableFormatError, match="metadata"):
        write_executable(path, mlp_graph(), metadata={"n": 3})
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["a.trx"]


def test_write_rejects_what_cannot_be_stored(tmp_path):
    g = mlp_graph()
    bad_node = Node("relu", (0,), (1,), (("alpha", {1, 2}),), "r")
    bad = Graph("bad", g.types[:1] * 2, (0,), (1,), (bad_node,))
    with pytest.raises(VerificationError):  # a graph that does not verify is not written
        write_executable(tmp_path / "b.trx", bad)
    with pytest.raises(ExecutableFormatError, match="plan"):
        write_executable(tmp_path / "b.trx", g, plan="not a plan")
    other = scheduler.plan(rich_graph(), scheduler.ClusterSpec.simulated(2))
    with pytest.raises(ExecutableFormatError, match="does not fit"):
        write_executable(tmp_path / "b.trx", g, plan=other)
    assert not os.listdir(tmp_path)


def test_describe_summarises_the_file(tmp_path):
    g = mlp_graph()
    path = tmp_path / "m.trx"
    write_executable(
        path,
        g,
        plan=scheduler.plan(g, scheduler.ClusterSpec.simulated(2)),
        metadata={"source": "mlp.onnx"},
    )
    text = describe_executable(path)
    assert f"format version {FORMAT_VERSION}, written by tfrt-ray" in text
    assert "source = mlp.onnx" in text
    assert "input x: tensor<8x64xf32>" in text and "output probs: tensor<8x64xf32>" in text
    assert "ops: constant 6, add 3, matmul 3, relu 3, softmax 1" in text
    assert "weights: 6 tensor(s), " in text and "f32 6" in text
    assert "plan: strategy " in text
    write_executable(path, Graph("e", (TensorType("f32", ()),), (0,), (0,), ()))
    assert "plan: none" in describe_executable(path, verify_weights=True)


# ---- format 1 files ------------------------------------------------------------------

V1_FILE = os.path.join(os.path.dirname(__file__), "data", "fused_v1.tfrt")


def test_a_format_1_file_with_a_fused_program_loads_as_a_body_and_computes_the_same():
    """``data/fused_v1.tfrt`` was written by tfrt-ray before fused bodies (format 1, the
    fused op as a program string) from ``f`` below."""
    import tfrt_ray as tr

    def f(x, y):
        return tr.gelu(x * y + 1.0) * tr.tanh(y)

    exe = read_executable(V1_FILE)
    assert exe.format_version == 1
    (fused,) = [n for n in exe.graph.nodes if n.op == "fused_elementwise"]
    body = fused.attr("body")
    assert [n.op for n in body.nodes] == ["mul", "add", "gelu", "tanh", "mul"]
    assert {n.loc for n in body.nodes} == {fused.loc}  # errors inside still name the line
    rng = np.random.default_rng(0)
    x, y = (rng.standard_normal((64, 96)).astype(np.float32) for _ in range(2))
    unfused = tr.compile(f, (x, y), opt_level=0)
    assert "fused_elementwise" not in unfused.graph.op_counts()
    np.testing.assert_array_equal(tr.load(V1_FILE).run([x, y])[0], unfused.run([x, y])[0])


@pytest.mark.parametrize("program, message", [
    ("t0 = cosh(x0)", "op 'cosh' cannot be fused"),
    ("t0 = add(x0, t3)", "reads t3, which holds no value"),
    ("t0 = clip[1.0](x0)", "takes 2 parameter"),
    ("t0 = exp(x0) t1 = neg(t0)", "cannot read instruction"),
])
def test_a_format_1_program_that_cannot_be_read_is_the_typed_error(tmp_path, program, message):
    from tests.executable.programs import rebuild, split_file

    doc, region = split_file(open(V1_FILE, "rb").read())
    (node,) = [n for n in doc["graph"]["nodes"] if n["op"] == "fused_elementwise"]
    node["attrs"] = [["dtype", "f32"], ["program", program]]
    node["inputs"] = node["inputs"][:1]
    path = tmp_path / "bad.tfrt"
    path.write_bytes(rebuild(doc, region, version=1))
    with pytest.raises(ExecutableFormatError, match=message) as info:
        read_executable(path)
    assert info.value.node == node["name"] and "recompile" in str(info.value)
