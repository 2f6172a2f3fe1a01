"""Whole models against onnxruntime: a BERT-style encoder and a GPT-2-style decoder block
(built offline with seeded weights), with static and with symbolic input shapes."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests.onnx.models import bert_encoder, bert_inputs, gpt2_block
from tfrt_ray.errors import StaticValueError
from tfrt_ray.frontends.onnx import import_onnx, load_onnx
from tfrt_ray.ir import parse_graph, verify


def reference(m, feeds):
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds), strict=True))


def assert_matches(m, feeds, got):
    for name, want in reference(m, feeds).items():
        assert got[name].dtype == want.dtype and got[name].shape == want.shape
        np.testing.assert_allclose(got[name], want, rtol=1e-4, atol=1e-5)


def test_bert_encoder_matches_onnxruntime():
    m = bert_encoder()
    prog = load_onnx(m)
    assert prog.input_names == ("input_ids", "attention_mask", "token_type_ids")
    assert prog.output_names == ("last_hidden_state", "pooler_output")
    assert_matches(m, bert_inputs(), prog.run(bert_inputs()))


def test_static_shapes_fold_the_shape_arithmetic_away():
    graph = import_onnx(bert_encoder())
    ops = graph.op_counts()
    # Shape -> Gather -> Unsqueeze -> Concat -> Reshape became reshapes with constant shapes.
    assert not {"shape", "concat", "range", "unsqueeze_dynamic"} & set(ops)
    assert ops["reshape"] == 8 and ops["layer_norm"] == 5
    verify(graph)


def test_bert_graph_prints_and_parses_back():
    graph = import_onnx(bert_encoder(layers=1))
    assert parse_graph(graph.as_text()) == graph


def test_bert_with_symbolic_dims_compiles_per_input_shape():
    m = bert_encoder(batch="batch", seq="sequence")
    prog = load_onnx(m)
    with pytest.raises(StaticValueError, match="Range"):
        prog.graph  # noqa: B018 - the generic graph needs the sequence length
    for batch, seq in ((2, 8), (3, 5), (2, 8)):
        feeds = bert_inputs(batch, seq)
        assert_matches(m, feeds, prog.run(feeds))
    assert len(prog._cache) == 2  # one graph per input shape, reused
    g = prog.graph_for(bert_inputs(3, 5))
    assert g.types[g.inputs[0]].shape == (3, 5)


def test_symbolic_dims_become_symbols_in_the_graph_when_they_can():
    from onnx import helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", 1, ["batch", None, 4])],
        [helper.make_tensor_value_info("y", 1, ["batch", None, 4])],
    )
    g = import_onnx(helper.make_model(graph))
    assert g.types[g.inputs[0]].shape == ("batch", "?", 4)
    assert g.types[g.outputs[0]].shape == ("batch", "?", 4)


@pytest.mark.parametrize("use_trilu", [False, True], ids=["range-mask", "trilu-mask"])
def test_gpt2_block_matches_onnxruntime(use_trilu):
    m = gpt2_block(use_trilu=use_trilu)
    x = np.random.default_rng(5).standard_normal((2, 6, 32)).astype(np.float32)
    assert_matches(m, {"hidden_states": x}, load_onnx(m).run({"hidden_states": x}))


def test_gpt2_block_is_causal():
    m = gpt2_block()
    prog = load_onnx(m)
    x = np.random.default_rng(6).standard_normal((2, 6, 32)).astype(np.float32)
    y = prog.run([x])["output"]
    x2 = x.copy()
    x2[:, 4:] += 1.0  # change only the last two positions
    y2 = prog.run([x2])["output"]
    np.testing.assert_allclose(y[:, :4], y2[:, :4], rtol=1e-6)
    assert not np.allclose(y[:, 4:], y2[:, 4:])


def test_gpt2_block_with_symbolic_sequence():
    m = gpt2_block(batch="b", seq="s")
    prog = load_onnx(m)
    for seq in (3, 7):
        x = np.random.default_rng(seq).standard_normal((1, seq, 32)).astype(np.float32)
        assert_matches(m, {"hidden_states": x}, prog.run({"hidden_states": x}))


def test_onnx_node_names_travel_into_the_ir(tmp_path):
    m = gpt2_block()
    path = tmp_path / "gpt2.onnx"
    path.write_bytes(m.SerializeToString())
    graph = import_onnx(str(path))
    onnx_names = {n.name for n in m.graph.node}
    for node in graph.nodes:
        if node.op == "constant":
            continue
        assert node.loc.name in onnx_names
        assert node.loc.file == str(path)
    # A node that maps to one op keeps the ONNX name itself.
    assert any(n.name == n.loc.name for n in graph.nodes)
