"""Plugin device types as device actors: the ONNX Runtime device mixed with CPU devices."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tests.integration.programs import PROGRAMS, reference

pytestmark = pytest.mark.integration


def test_ort_device_actor_runs_its_ops_mixed_with_cpu_devices(session_of):
    session = session_of(devices=1, device_types=("ort",))
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
