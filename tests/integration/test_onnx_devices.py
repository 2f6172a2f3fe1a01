"""Imported ONNX models (BERT-style, GPT-2-style) on device actors match ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import tfrt_ray as tr
from tests.onnx.models import bert_encoder, bert_inputs, gpt2_block

pytestmark = pytest.mark.integration


def _ort(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


@pytest.mark.parametrize("strategy", ["place", "pipeline"])
def test_bert_and_gpt2_across_two_device_actors_match_onnxruntime(kept_session_of, strategy):
    kept_session_of(devices=2)
    x = np.random.default_rng(5).standard_normal((2, 6, 32)).astype(np.float32)
    cases = [(bert_encoder(), bert_inputs()), (gpt2_block(), {"hidden_states": x})]
    for model, feeds in cases:
        prog = tr.load_onnx(model)
        args = [feeds[n] for n in prog.input_names]
        compiled = tr.compile(prog, args, strategy=strategy)
        if strategy == "pipeline":
            assert len({s.device for s in compiled.plan.stages}) == 2
        for got, want in zip(compiled.run(args), _ort(model, feeds), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
