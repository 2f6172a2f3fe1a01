"""Large values between device actors on one node go through the producer's shared-memory
arena: same results, no copy for resident tensors, blocks reused only after their step
was read, Ray's path across nodes and when the arena is full, nothing left behind."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

import tfrt_ray as tr

pytestmark = pytest.mark.integration

ROWS, COLS = 1024, 512  # a 2 MiB intermediate: above the arena's 1 MiB threshold


def _weights():
    return np.random.default_rng(7).standard_normal((COLS, COLS)).astype(np.float32)


def _program(w):
    def two_devices(x):
        with tr.device("cpu:0"):
            y = tr.relu(tr.matmul(x, w))
        with tr.device("cpu:1"):
            return tr.sum(y * y, axes=(1,))

    return two_devices


def _want(x, w):
    y = np.maximum(x @ w, 0)
    return (y * y).sum(axis=1)


def _inputs(n):
    rng = np.random.default_rng(11)
    return [rng.standard_normal((ROWS, COLS)).astype(np.float32) for _ in range(n)]


def _stats(session, device_id):
    return session.devices[device_id].stats()


def test_steps_in_flight_get_their_own_blocks_and_correct_results(session_of):
    session = session_of(devices=2, devices_per_node=2)
    assert session.devices["cpu:0"].node_id == session.devices["cpu:1"].node_id
    w = _weights()
    xs = _inputs(12)
    prog = tr.compile(_program(tr.tensor(w)), (xs[0],), strategy="place")
    for _ in range(2):  # the second burst reuses the first one's blocks
        results = prog.gather([prog.submit([x]) for x in xs])
        for x, (got,) in zip(xs, results):
            np.testing.assert_allclose(got, _want(x, w), rtol=1e-3)
    stats = _stats(session, "cpu:0")
    assert stats["arena_sent"] == 2 * len(xs)
    assert stats["arena_copied"] == 0  # relu wrote each value straight into its block
    assert stats["arena_blocks"] <= len(xs) + 1
    assert _stats(session, "cpu:1").get("arena_sent", 0) == 0  # its output is a result


def test_a_resident_tensor_is_sent_without_copies(session_of):
    session = session_of(devices=2, devices_per_node=2)
    big = np.arange(ROWS * COLS, dtype=np.float32)
    resident = tr.tensor(big)

    def hand_out(x):
        with tr.device("cpu:0"):
            y = tr.identity(resident)
        with tr.device("cpu:1"):
            return tr.sum(y) + x

    x = np.zeros(1, np.float32)
    prog = tr.compile(hand_out, (x,), strategy="place", opt_level=0)
    for _ in range(5):
        np.testing.assert_allclose(prog.run([x])[0], big.sum(dtype=np.float64), rtol=1e-6)
    stats = _stats(session, "cpu:0")
    assert stats["arena_sent"] == 5 and stats["arena_copied"] == 0
    assert stats["arena_bytes_resident"] == big.nbytes


def test_across_nodes_values_take_rays_object_store(session_of):
    session = session_of(devices=2, devices_per_node=1)
    assert session.devices["cpu:0"].node_id != session.devices["cpu:1"].node_id
    w = _weights()
    (x,) = _inputs(1)
    prog = tr.compile(_program(tr.tensor(w)), (x,), strategy="place")
    np.testing.assert_allclose(prog.run([x])[0], _want(x, w), rtol=1e-3)
    assert _stats(session, "cpu:0").get("arena_sent", 0) == 0


def test_a_full_arena_falls_back_without_losing_a_result(session_of):
    session = session_of(devices=2, devices_per_node=2, shared_memory_bytes=4 << 20)
    w = _weights()
    xs = _inputs(6)
    prog = tr.compile(_program(tr.tensor(w)), (xs[0],), strategy="place")
    results = prog.gather([prog.submit([x]) for x in xs])
    for x, (got,) in zip(xs, results):
        np.testing.assert_allclose(got, _want(x, w), rtol=1e-3)
    stats = _stats(session, "cpu:0")
    assert stats["arena_sent"] == 2  # two 2 MiB blocks fit; the rest went through Ray
    assert stats["arena_bytes_held"] <= 4 << 20


def test_killing_the_producer_mid_stream_loses_no_step(session_of):
    session = session_of(devices=2, devices_per_node=2, recovery_timeout_s=30)
    w = _weights()
    xs = _inputs(8)
    prog = tr.compile(_program(tr.tensor(w)), (xs[0],), strategy="place")
    prog.run([xs[0]])
    steps = []
    for i, x in enumerate(xs):
        steps.append(prog.submit([x]))
        if i == 3:
            os.kill(_stats(session, "cpu:0")["pid"], signal.SIGKILL)
    for x, step in zip(xs, steps):
        np.testing.assert_allclose(step.result(timeout=120)[0], _want(x, w), rtol=1e-3)
    assert prog.recoveries >= 1


def test_shutdown_removes_the_sessions_shared_memory(session_of):
    session = session_of(devices=2, devices_per_node=2)
    w = _weights()
    (x,) = _inputs(1)
    prog = tr.compile(_program(tr.tensor(w)), (x,), strategy="place")
    prog.run([x])
    assert os.listdir(session.arena_dir)
    tr.shutdown()
    assert not os.path.exists(session.arena_dir)


def test_steps_that_fail_still_give_back_their_blocks(session_of):
    session = session_of(devices=2, devices_per_node=2)
    w = tr.tensor(_weights())

    def with_a_failing_output(x, e):
        with tr.device("cpu:0"):
            y = tr.relu(tr.matmul(x, w))
        with tr.device("cpu:1"):
            return tr.sum(y, axes=(1,)), tr.pow(e, e)  # pow fails for negative e

    xs = _inputs(4)
    good, bad = np.array([2], np.int64), np.array([-1], np.int64)
    prog = tr.compile(with_a_failing_output, (xs[0], good), strategy="place")
    for _ in range(3):
        steps = [prog.submit([x, bad if i == 1 else good]) for i, x in enumerate(xs)]
        with pytest.raises(tr.errors.OpExecutionError):
            prog.gather(steps)
    prog.run([xs[0], good])
    stats = _stats(session, "cpu:0")
    assert stats["arena_sent"] == 3 * len(xs) + 1
    assert stats["arena_blocks"] <= len(xs) + 1  # the failed bursts' blocks were reused


def test_a_failure_on_the_producer_reaches_the_reader_as_its_error(kept_session_of):
    kept_session_of(devices=2, devices_per_node=2)

    def producer_fails(x, e):
        with tr.device("cpu:0"):
            big = tr.relu(x) + tr.cast(tr.pow(e, e), dtype="f32")  # fails for negative e
        with tr.device("cpu:1"):
            return tr.sum(big, axes=(1,))

    (x,) = _inputs(1)
    good, bad = np.array([2], np.int64), np.array([-1], np.int64)
    prog = tr.compile(producer_fails, (x, good), strategy="place")
    np.testing.assert_allclose(prog.run([x, good])[0],
                               (np.maximum(x, 0) + 4).sum(axis=1), rtol=1e-4)
    with pytest.raises(tr.errors.OpExecutionError) as info:
        prog.run([x, bad], timeout=60)
    assert info.value.op == "pow" and info.value.device == "cpu:0"
    np.testing.assert_allclose(prog.run([x, good])[0],
                               (np.maximum(x, 0) + 4).sum(axis=1), rtol=1e-4)


def _doubled(w):
    def whole_rows(x):
        with tr.device("cpu:0"):
            y = tr.relu(tr.matmul(x, w))
        with tr.device("cpu:1"):
            return y * 2.0  # a 2 MiB result

    return whole_rows


def test_driver_inputs_and_results_on_its_node_skip_the_object_store(kept_session_of,
                                                                     monkeypatch):
    import ray

    session = kept_session_of(devices=2, devices_per_node=2)
    assert session.devices["cpu:1"].near_host
    w = _weights()
    xs = _inputs(3)
    prog = tr.compile(_doubled(tr.tensor(w)), (xs[0],), strategy="place")
    puts = []
    real_put = ray.put
    monkeypatch.setattr(ray, "put", lambda v, *a, **kw: puts.append(v) or real_put(v, *a, **kw))
    sent = session.host.stats()["arena_sent"]
    results_sent = _stats(session, "cpu:1").get("arena_sent", 0)
    first = prog.gather([prog.submit([x]) for x in xs])
    assert not puts  # every input went through the driver's shared memory
    assert session.host.stats()["arena_sent"] == sent + len(xs)
    # every result through its arena
    assert _stats(session, "cpu:1")["arena_sent"] == results_sent + len(xs)
    # The second burst reuses the first one's blocks, on both sides: results already
    # read are the user's own arrays and stay as they were.
    second = prog.gather([prog.submit([-x]) for x in xs])
    for x, (a,), (b,) in zip(xs, first, second):
        want = 2 * np.maximum(x @ w, 0)
        np.testing.assert_allclose(a, want, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(b, 2 * np.maximum(-x @ w, 0), rtol=1e-4, atol=1e-4)
        a += 1  # writable, and not shared with anything else
    assert not np.shares_memory(first[0][0], first[1][0])
    assert session.host.stats()["arena_bytes_held"] == 0  # every step was read


def test_an_input_is_taken_when_its_step_is_submitted(kept_session_of):
    kept_session_of(devices=2, devices_per_node=2)
    w = _weights()
    (x,) = _inputs(1)
    prog = tr.compile(_doubled(tr.tensor(w)), (x,), strategy="place")
    mine = x.copy()
    step = prog.submit([mine])
    mine[:] = np.nan  # the caller reuses its buffer at once
    np.testing.assert_allclose(step.result()[0], 2 * np.maximum(x @ w, 0), rtol=1e-4,
                               atol=1e-4)


@pytest.mark.parametrize("strategy", ["pipeline", "replicate", "auto"])
def test_every_strategy_gives_the_same_large_results_through_the_drivers_blocks(
        kept_session_of, strategy):
    session = kept_session_of(devices=2, devices_per_node=2)
    w1, w2 = _weights(), _weights()
    t1, t2 = tr.tensor(w1), tr.tensor(w2)

    def mlp(x):
        return tr.relu(tr.matmul(tr.relu(tr.matmul(x, t1)), t2))

    x = np.concatenate(_inputs(2))  # 4 MiB: each slice of a split batch is 2 MiB
    prog = tr.compile(mlp, (x,), strategy=strategy)
    sent = session.host.stats()["arena_sent"]
    want = np.maximum(np.maximum(x @ w1, 0) @ w2, 0)
    for got in prog.gather([prog.submit([x]), prog.submit([x])]):
        np.testing.assert_allclose(got[0], want, rtol=1e-3, atol=1e-3)
    assert session.host.stats()["arena_sent"] > sent  # the inputs went through its blocks
    assert session.host.stats()["arena_bytes_held"] == 0


def test_cancelled_steps_give_back_their_blocks_once_their_calls_are_over(kept_session_of):
    import time

    session = kept_session_of(devices=2, devices_per_node=2)
    w = _weights()
    xs = _inputs(10)
    prog = tr.compile(_doubled(tr.tensor(w)), (xs[0],), strategy="place")
    prog.run([xs[0]])
    steps = [prog.submit([x]) for x in xs]
    assert prog.cancel() == len(xs)
    with pytest.raises(tr.errors.CancelledError):
        steps[-1].result()
    deadline = time.monotonic() + 60
    while True:  # each read step releases what the finished fences allow
        got = prog.run([xs[0]])[0]
        held = [session.host.stats()["arena_bytes_held"],
                _stats(session, "cpu:0")["arena_bytes_held"],
                _stats(session, "cpu:1")["arena_bytes_held"]]
        # The driver holds nothing; each device at most the step it just ran (its
        # release comes with its next call).
        if held[0] == 0 and max(held[1:]) <= ROWS * COLS * 4 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    np.testing.assert_allclose(got, 2 * np.maximum(xs[0] @ w, 0), rtol=1e-4, atol=1e-4)
    assert held[0] == 0 and max(held[1:]) <= ROWS * COLS * 4, held


def test_without_shared_memory_values_take_ray_and_nothing_waits(session_of):
    session = session_of(devices=2, devices_per_node=2, shared_memory_bytes=0)
    assert all(d.arena_dir is None for d in session.devices.values())
    w = _weights()
    xs = _inputs(3)
    prog = tr.compile(_program(tr.tensor(w)), (xs[0],), strategy="place")
    for x, (got,) in zip(xs, prog.gather([prog.submit([x]) for x in xs])):
        np.testing.assert_allclose(got, _want(x, w), rtol=1e-3)
    assert "arena_sent" not in _stats(session, "cpu:0")


def test_devices_off_the_drivers_node_get_inputs_and_results_through_ray(kept_session_of):
    session = kept_session_of(devices=3, devices_per_node=1)
    far = [d for d in session.devices.values() if not d.near_host]
    assert far, "the simulated cluster has nodes besides the driver's"
    w = _weights()
    (x,) = _inputs(1)

    def on_far(x):
        with tr.device(far[0].device_id):
            return tr.relu(tr.matmul(x, w)) * 2.0

    prog = tr.compile(on_far, (x,), strategy="place")
    sent = session.host.stats()["arena_sent"]
    np.testing.assert_allclose(prog.run([x])[0], 2 * np.maximum(x @ w, 0), rtol=1e-4,
                               atol=1e-4)
    assert session.host.stats()["arena_sent"] == sent
    assert _stats(session, far[0].device_id).get("arena_sent", 0) == 0


def test_shutdown_removes_the_sessions_directory_on_every_node_it_used(kept_session_of):
    # The module's last test: it takes the kept session's directory away.
    import ray

    from tfrt_ray.cluster.shared_memory import remove_on_nodes

    session = kept_session_of(devices=3, devices_per_node=1)
    here = ray.get_runtime_context().get_node_id()
    others = session.arena_nodes - {here}
    assert len(others) == 2  # the simulated cluster's two other nodes hosted a device
    stray = os.path.join(session.arena_dir, "left-by-a-dead-incarnation")
    os.makedirs(session.arena_dir, exist_ok=True)
    with open(stray, "wb") as f:
        f.write(b"x")
    # a task ran on each node (the bound only guards a hang: a loaded machine starts the
    # tasks' workers slowly, and shutdown's own 10 s is best effort)
    assert remove_on_nodes(session.arena_dir, others, timeout=120) == 2
    assert not os.path.exists(session.arena_dir)  # (one /dev/shm for all nodes here)
    with pytest.raises(ray.exceptions.RayTaskError, match="not a tfrt-ray session"):
        ray.get(ray.remote(num_cpus=0)(_remove).remote("/tmp"))


def _remove(path):
    from tfrt_ray.cluster.shared_memory import remove_arena_dir

    remove_arena_dir(path)
