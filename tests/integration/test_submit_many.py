"""`Program.submit_many`: several steps per stage call, each with its own results and
errors, re-run on its own when a device dies."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import tfrt_ray as tr

pytestmark = pytest.mark.integration


def two_stages(x):
    with tr.device("cpu:0"):
        y = tr.exp(x) * 2.0
    with tr.device("cpu:1"):
        return y - 1.0, tr.sqrt(x)


def _want(x):
    return np.exp(x) * 2.0 - 1.0, np.sqrt(x)


def _inputs(n):
    rng = np.random.default_rng(5)
    return [rng.random((3, 4)).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("pack", [1, 3, 8])
def test_every_step_gets_its_own_results_in_order(kept_session_of, pack):
    kept_session_of(devices=2)
    xs = _inputs(10)
    prog = tr.compile(two_stages, (xs[0],), strategy="place")
    assert {s.device for s in prog.plan.stages} == {"cpu:0", "cpu:1"}
    steps = prog.submit_many([[x] for x in xs], pack=pack)
    assert len(steps) == len(xs)
    for x, got in zip(xs, prog.gather(steps)):
        for g, w in zip(got, _want(x)):
            np.testing.assert_allclose(g, w, rtol=1e-6)
    # and each Step on its own, in any order
    np.testing.assert_allclose(steps[3].result()[1], np.sqrt(xs[3]), rtol=1e-6)


def test_a_failing_step_does_not_spoil_its_pack(kept_session_of):
    kept_session_of(devices=2)

    def pow_stage(e):
        with tr.device("cpu:0"):
            p = tr.pow(e, e)  # integer to a negative integer power raises
        with tr.device("cpu:1"):
            return p + 1

    es = [np.array([1, 2, 3], np.int64), np.array([2, -1, 3], np.int64),
          np.array([3, 3, 3], np.int64)]
    prog = tr.compile(pow_stage, (es[0],), strategy="place")
    steps = prog.submit_many([[e] for e in es], pack=3)
    np.testing.assert_array_equal(steps[0].result()[0], es[0] ** es[0] + 1)
    with pytest.raises(tr.errors.OpExecutionError) as info:
        steps[1].result()
    assert info.value.op == "pow" and info.value.device == "cpu:0"
    np.testing.assert_array_equal(steps[2].result()[0], es[2] ** es[2] + 1)


def test_killing_a_device_under_packed_steps_loses_none(session_of):
    session = session_of(devices=2, recovery_timeout_s=30)
    xs = _inputs(12)
    prog = tr.compile(two_stages, (xs[0],), strategy="place")
    prog.run([xs[0]])
    first = prog.submit_many([[x] for x in xs[:6]], pack=3)
    os.kill(session.devices["cpu:1"].stats()["pid"], signal.SIGKILL)
    rest = prog.submit_many([[x] for x in xs[6:]], pack=3)
    for x, step in zip(xs, first + rest):
        for g, w in zip(step.result(timeout=120), _want(x)):
            np.testing.assert_allclose(g, w, rtol=1e-6)
    assert prog.recoveries >= 1


def test_in_process_programs_take_many_steps_too():
    xs = _inputs(5)

    @tr.function
    def f(x):
        return tr.exp(x) * 2.0 - 1.0, tr.sqrt(x)

    prog = tr.compile(f, (xs[0],))
    for x, got in zip(xs, prog.gather(prog.submit_many([[x] for x in xs], pack=2))):
        for g, w in zip(got, _want(x)):
            np.testing.assert_allclose(g, w, rtol=1e-6)
