"""The onnx wheel's light models with seeded random weights, against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests.onnx.light_models import MODELS, input_for, randomized
from tfrt_ray.frontends.onnx import load_onnx


@pytest.mark.parametrize("name", MODELS)
def test_light_model_with_random_weights_matches_onnxruntime(name):
    model = randomized(name, seed=7)
    feeds = input_for(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    want = sess.run(None, feeds)
    got = load_onnx(model).run(feeds)
    for (out_name, g), w in zip(got.items(), want, strict=True):
        assert g.shape == w.shape, out_name
        assert np.isfinite(w).all() and np.std(w) > 0  # the weights really vary
        np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-4 * float(np.abs(w).max()))
