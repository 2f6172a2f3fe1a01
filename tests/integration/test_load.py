"""Timeouts, cancellation, and many clients at once."""

from __future__ import annotations

import gc
import threading
import time

import numpy as np
import pytest

import tfrt_ray as tr
from tests.integration.programs import PROGRAMS, reference

pytestmark = pytest.mark.integration


N = 512  # a step of 24 products of N x N: ~0.1 s here, far above a call's cost


def _heavy():
    w = tr.tensor(np.eye(N, dtype=np.float32))

    def heavy(x):
        for _ in range(24):
            x = tr.tanh(x @ w)
        return x

    return heavy


def test_timeout_raises_typed_error_and_loses_nothing(kept_session_of):
    kept_session_of(devices=1)
    x = np.full((N, N), 0.1, np.float32)
    prog = tr.compile(_heavy(), (x,), strategy="place")
    step = prog.submit([x])
    with pytest.raises(tr.errors.StepTimeoutError):
        step.result(timeout=0.001)
    assert step.result(timeout=120)[0].shape == (N, N)  # still delivered afterwards


def test_cancel_turns_unread_steps_into_cancelled_errors_quickly(kept_session_of):
    kept_session_of(devices=1)
    x = np.full((N, N), 0.1, np.float32)
    prog = tr.compile(_heavy(), (x,), strategy="place")
    one = time.monotonic()
    prog.run([x], timeout=120)
    one = time.monotonic() - one  # what one step of this program costs here
    steps = [prog.submit([x]) for _ in range(12)]
    assert prog.cancel() == 12
    # The 12 queued steps would take 12 x `one`; a cancelled one answers before that,
    # however slow this machine is (a StepTimeoutError here means it waited for them).
    for step in steps:
        with pytest.raises(tr.errors.CancelledError):
            step.result(timeout=max(6 * one, 1.0))
    assert prog.run([x], timeout=120)[0].shape == (N, N)  # the program still works


def _store_used() -> float:
    import ray

    total = ray.cluster_resources().get("object_store_memory", 0)
    return total - ray.available_resources().get("object_store_memory", 0)


def test_eight_clients_two_hundred_steps_each_get_their_own_results(session_of):
    session_of(devices=2)
    fn, make_args = PROGRAMS["mlp"]
    args = make_args()
    prog = tr.compile(fn, args, strategy="pipeline", micro_batches=2)
    prog.run(list(args))
    gc.collect()
    baseline = _store_used()
    errors: list[BaseException] = []

    def client(seed: int) -> None:
        try:
            rng = np.random.default_rng(seed)
            inputs = [rng.standard_normal(args[0].shape).astype(np.float32) for _ in range(4)]
            wants = [reference(fn, (x,))[0] for x in inputs]
            in_flight = []
            for i in range(200):
                in_flight.append((i % 4, prog.submit([inputs[i % 4]])))
                if len(in_flight) == 8:
                    for k, step in in_flight:
                        np.testing.assert_allclose(step.result(timeout=120)[0], wants[k],
                                                   rtol=1e-4, atol=1e-5)
                    in_flight.clear()
            for k, step in in_flight:
                np.testing.assert_allclose(step.result(timeout=120)[0], wants[k],
                                           rtol=1e-4, atol=1e-5)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not errors, errors[0]
    assert not any(t.is_alive() for t in threads)
    gc.collect()
    deadline = time.monotonic() + 10
    while _store_used() > baseline + (1 << 20) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _store_used() <= baseline + (1 << 20)  # back to baseline (within 1 MiB)
