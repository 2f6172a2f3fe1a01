"""Device failures: a killed device actor is replaced and the steps it was running are
run again, so every step completes once, in order, with the fault-free result."""

from __future__ import annotations

import os
import random
import signal

import numpy as np
import pytest

import tfrt_ray as tr
from tests.integration.programs import PROGRAMS, reference

pytestmark = [pytest.mark.integration, pytest.mark.fault]
TRIALS = 10  # per device count: 20 kills in all


@pytest.mark.parametrize("n_devices", [2, 3])
def test_killing_a_device_mid_run_loses_no_step(session_of, n_devices):
    session = session_of(devices=n_devices, recovery_timeout_s=30)
    fn, make_args = PROGRAMS["mlp"]
    rng = random.Random(1000 + n_devices)
    batches = [make_args() for _ in range(8)]
    want = [reference(fn, b)[0] for b in batches]
    prog = tr.compile(fn, batches[0], strategy="pipeline", micro_batches=2)
    used = sorted({s.device for s in prog.plan.stages})
    assert len(used) == n_devices
    for _trial in range(TRIALS):
        victim = session.devices[rng.choice(used)]
        kill_after = rng.randrange(len(batches))
        steps = []
        for i, batch in enumerate(batches):
            steps.append(prog.submit(list(batch)))
            if i == kill_after:
                os.kill(victim.stats()["pid"], signal.SIGKILL)
        results = [s.result(timeout=120)[0] for s in steps]  # read in submission order
        for got, expect in zip(results, want):
            np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    assert prog.recoveries >= 1
    assert all(session.devices[d].alive() for d in used)


def test_device_on_a_dead_node_moves_to_a_live_node(ray_cluster, session_of):
    extra = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    session = session_of(devices_per_node=1, recovery_timeout_s=30)
    (moved,) = [d for d in session.devices.values() if d.node_id == extra.node_id]
    fn, make_args = PROGRAMS["branches"]
    args = make_args()
    want = reference(fn, args)

    def on_extra(x):
        with tr.device(moved.device_id):
            return fn(x)

    prog = tr.compile(on_extra, args, strategy="place")
    assert {s.device for s in prog.plan.stages} == {moved.device_id}
    ray_cluster.remove_node(extra)
    for got, expect in zip(prog.run(list(args), timeout=120), want):
        np.testing.assert_allclose(got, expect, rtol=1e-4, atol=1e-5)
    assert moved.node_id != extra.node_id and moved.incarnation == 1


def test_recovery_impossible_fails_every_pending_step_within_a_bound(ray_cluster, session_of):
    extra = ray_cluster.add_node(num_cpus=1)
    ray_cluster.wait_for_nodes()
    # A device per CPU: once the extra node goes, no CPU is free anywhere, so a replacement
    # cannot be placed by construction; the 5 s recovery bound is then what fails the steps.
    session = session_of(address="auto", recovery_timeout_s=5)
    (doomed,) = [d for d in session.devices.values() if d.node_id == extra.node_id]
    x = np.ones((4, 4), np.float32)

    def on_doomed(x):
        with tr.device(doomed.device_id):
            return tr.relu(x - 0.5)

    prog = tr.compile(on_doomed, (x,), strategy="place")
    ray_cluster.remove_node(extra)
    steps = [prog.submit([x]) for _ in range(3)]
    for step in steps:  # no hang: each fails (the generous result timeout would be a hang)
        with pytest.raises(tr.errors.DeviceLostError) as info:
            step.result(timeout=120)
        assert doomed.device_id in str(info.value)
