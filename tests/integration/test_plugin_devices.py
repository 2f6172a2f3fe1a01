"""Plugin device types as device actors: the ONNX Runtime device mixed with CPU devices."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tests.integration.programs import PROGRAMS, reference

pytestmark = pytest.mark.integration


def test_ort_device_actor_runs_its_ops_mixed_with_cpu_devices(kept_session_of):
    session = kept_session_of(devices=1, device_types=("ort",))
    assert {"cpu:0", "ort:0"} <= set(session.devices)
    fn, make_args = PROGRAMS["convnet"]
    args = make_args()
    want = reference(fn, args)

    def mixed(x):
        with tr.device("ort:0"):
            h = fn(x)  # conv, relu, pool on ONNX Runtime
        with tr.device("cpu:0"):
            return tr.tanh(h)

    prog = tr.compile(mixed, args, strategy="place")
    assert {s.device for s in prog.plan.stages} == {"ort:0", "cpu:0"}
    got = prog.run(list(args), timeout=120)[0]
    np.testing.assert_allclose(got, np.tanh(want[0]), rtol=1e-4, atol=1e-5)
    assert session.devices["ort:0"].stats()["type"] == "ort"


def test_resnet50_and_bert_split_across_ort_and_cpu_device_actors(kept_session_of):
    import onnxruntime as ort

    from tests.onnx.light_models import input_for, randomized
    from tests.onnx.models import bert_encoder, bert_inputs

    kept_session_of(devices=1, device_types=("ort",))
    resnet = randomized("resnet50", seed=3)
    for model, feeds in [(resnet, input_for(resnet)), (bert_encoder(), bert_inputs())]:
        prog = tr.load_onnx(model)
        args = [feeds[n] for n in prog.input_names]
        compiled = tr.compile(prog, args, strategy="pipeline", devices=["cpu:0", "ort:0"])
        devices = {s.device for s in compiled.plan.stages}
        assert devices == {"cpu:0", "ort:0"}, compiled.placement_table()
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        for got, want in zip(compiled.run(args, timeout=300), sess.run(None, feeds), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-4 * float(np.abs(want).max()))
