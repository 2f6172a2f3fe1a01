"""Programs on device actors: same results as in-process, for every strategy, on 1, 2
and 4 actors and across a simulated 3-node cluster."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from tests.integration.programs import PROGRAMS, reference

pytestmark = pytest.mark.integration

# In this order, the tests before and after share their sessions (`kept_session_of`).
CONFIGS = {
    "2-actors": {"devices": 2},
    "4-actors": {"devices": 4},
    "3-nodes": {"devices_per_node": 1},
    "1-actor": {"devices": 1},
}


def test_eager_ops_run_on_the_device_they_are_put_on(kept_session_of):
    kept_session_of(devices=2)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    with tr.device("cpu:1"):
        y = tr.tensor(x) @ tr.tensor(x.T)
        z = tr.relu(y - 50.0)
    assert z.device == "cpu:1" and z.shape == (3, 3)  # known before the value
    np.testing.assert_allclose(z.numpy(), np.maximum(x @ x.T - 50, 0))


@pytest.mark.parametrize("config", list(CONFIGS))
def test_same_results_as_in_process_for_every_strategy(kept_session_of, config):
    session = kept_session_of(**CONFIGS[config])
    if config == "3-nodes":
        nodes = {d.node_id for d in session.devices.values()}
        assert len(nodes) == 3  # really spread over three raylets
    for name, (fn, make_args) in PROGRAMS.items():
        args = make_args()
        want = reference(fn, args)
        for strategy in ("place", "pipeline", "replicate"):
            if strategy != "place" and len(session.devices) == 1:
                continue
            prog = tr.compile(fn, args, strategy=strategy)
            assert prog.plan.strategy == strategy
            got = prog.run(list(args))
            for g, w in zip(got, want):
                np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5, err_msg=f"{name}/{strategy}")
            steps = [prog.submit(list(args)) for _ in range(4)]  # steps in flight
            for step in steps:
                for g, w in zip(step.result(timeout=60), want):
                    np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-5)
            prog.close()


def test_unknown_device_is_a_clear_error(kept_session_of):
    kept_session_of(devices=1)
    with pytest.raises(tr.errors.DeviceError, match="cpu:7"):
        with tr.device("cpu:7"):
            pass
