"""A program's steps over channels (`Program.open_channels`): persistent device loops on
the device actors, values through shared memory. The same outputs as Ray's path, step by
step and from many threads; an op's error fails only its step; idle loops sleep;
killed devices are replaced and every step is delivered once, in order; closing never
hangs."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import tfrt_ray as tr
from tfrt_ray.errors import OpExecutionError, TfrtRayError

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm here")]


def two_stages(x, i):
    with tr.device("cpu:0"):
        y = (x + 1.0) * 2.0
        picked = y[i]  # an integer-array gather: an index out of range fails at run time
    with tr.device("cpu:1"):
        return (picked - 1.0) * 0.5, tr.exp(y), x


def _feeds(k: int):
    rng = np.random.default_rng(k)
    return rng.standard_normal((6, 4)).astype(np.float32), np.array([k % 6, 0], np.int64)


def _compile():
    return tr.compile(two_stages, _feeds(0), strategy="place")


def test_steps_over_channels_give_what_rays_path_gives_from_many_threads(kept_session_of):
    kept_session_of(devices=2)
    prog = _compile()
    assert {s.device for s in prog.plan.stages} == {"cpu:0", "cpu:1"}
    want = {k: prog.run(list(_feeds(k))) for k in range(40)}
    got: dict[int, list] = {}
    with prog.open_channels() as ch:
        assert ch.max_in_flight >= 1
        # More steps in flight than the channels hold: submit waits, never deadlocks.
        futures = [(k, ch.submit(list(_feeds(k)))) for k in range(20)]
        got.update((k, f.result(timeout=60)) for k, f in futures)

        def client(ks):
            for k in ks:
                got[k] = ch.run({"x": _feeds(k)[0], "i": _feeds(k)[1]}, timeout=60)

        threads = [threading.Thread(target=client, args=(range(j, 40, 4),))
                   for j in range(20, 24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for k in range(40):
        for g, w in zip(got[k], want[k], strict=True):
            np.testing.assert_array_equal(g, w)
    assert got[3][2] is not _feeds(3)[0]  # an input handed back is the caller's own copy
    np.testing.assert_array_equal(prog.run(list(_feeds(1)))[0], want[1][0])  # Ray's path again


def test_an_op_error_fails_its_step_only_and_bad_inputs_are_refused(kept_session_of):
    kept_session_of(devices=2)
    prog = _compile()
    x, _ = _feeds(0)
    with prog.open_channels() as ch:
        bad = ch.submit([x, np.array([9, 0], np.int64)])  # row 9 of 6
        good = ch.submit([x, np.array([1, 2], np.int64)])
        with pytest.raises(OpExecutionError) as info:
            bad.result(timeout=60)
        assert info.value.device == "cpu:0" and "9" in str(info.value)
        np.testing.assert_array_equal(good.result(timeout=60)[0],
                                      prog.run([x, np.array([1, 2], np.int64)])[0])
        with pytest.raises(TfrtRayError, match="'i'"):
            ch.submit([x, np.zeros((2, 2), np.int64)])  # the wrong rank: typed, at submit
        again = ch.run([x, np.array([1, 2], np.int64)], timeout=60)  # the loops live on
        np.testing.assert_array_equal(again[0], prog.run([x, np.array([1, 2], np.int64)])[0])


def test_cancel_turns_unread_steps_into_cancelled_errors_and_later_steps_run(
        kept_session_of):
    from tfrt_ray.errors import CancelledError

    kept_session_of(devices=2)
    prog = _compile()
    with prog.open_channels() as ch:
        first = ch.submit(list(_feeds(1)))
        np.testing.assert_array_equal(first.result(timeout=60)[0], prog.run(list(_feeds(1)))[0])
        doomed = [ch.submit(list(_feeds(k))) for k in range(5)]
        assert ch.cancel() == 5 and ch.cancel() == 0
        for f in doomed:
            with pytest.raises(CancelledError, match="cancelled"):
                f.result(timeout=60)
        after = ch.run(list(_feeds(2)), timeout=60)  # the channels are still in step
        np.testing.assert_array_equal(after[0], prog.run(list(_feeds(2)))[0])


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")
def test_idle_loops_sleep_instead_of_polling(kept_session_of):
    session = kept_session_of(devices=2)
    prog = _compile()
    pids = [d.actor.info.remote() for d in session.devices.values() if hasattr(d, "actor")]
    import ray

    pids = [info["pid"] for info in ray.get(pids)]
    with prog.open_channels() as ch:
        ch.run(list(_feeds(0)), timeout=60)
        before, t0 = [_cpu_seconds(p) for p in pids], time.monotonic()
        time.sleep(2.0)
        used = [(_cpu_seconds(p) - b) / (time.monotonic() - t0) for p, b in zip(pids, before)]
    # A loop that polled would use most of a core; one blocked on a semaphore, nothing.
    assert max(used) < 0.3, used


def test_closing_with_a_dead_device_does_not_hang_and_removes_everything(session_of):
    import ray

    session = session_of(devices=2)
    prog = _compile()
    ch = prog.open_channels()
    ch.run(list(_feeds(0)), timeout=60)
    for _ in range(ch.max_in_flight):  # steps in flight toward a device about to die
        ch.submit(list(_feeds(0)), timeout=60)
    ray.kill(session.devices["cpu:1"].actor)
    ch.close(timeout=2.0)
    assert not any(f.startswith(ch._tag) for f in os.listdir(session.arena_dir))
    assert not any(f.startswith("sem." + ch._tag) for f in os.listdir("/dev/shm"))
    with pytest.raises(TfrtRayError, match="closed"):
        ch.submit(list(_feeds(0)))


def test_shutdown_removes_the_semaphores_of_channels_left_open(session_of):
    session = session_of(devices=2)
    ch = _compile().open_channels()
    ch.run(list(_feeds(0)), timeout=60)
    tag = ch._tag
    assert any(f.startswith("sem." + tag) for f in os.listdir("/dev/shm"))
    tr.shutdown()  # without ch.close()
    assert not any(f.startswith("sem." + tag) for f in os.listdir("/dev/shm"))
    assert not os.path.exists(session.arena_dir)


@pytest.mark.fault
def test_killed_devices_are_replaced_and_every_step_is_delivered_once_in_order(session_of):
    """SIGKILLs of device actors at random points of a stream over channels (while the
    driver writes inputs, while loops read and write, while the driver reads): each time
    the device is replaced, new channels are wired and the unread steps run again; every
    output is the fault-free one, in submission order."""
    import random
    import signal

    import ray

    session = session_of(devices=2, recovery_timeout_s=30)
    prog = _compile()
    want = [prog.run(list(_feeds(k))) for k in range(12)]
    rng = random.Random(17)
    kills = 0
    with prog.open_channels() as ch:
        for _trial in range(5):
            victim = session.devices[rng.choice(["cpu:0", "cpu:1"])]
            pid = ray.get(victim.actor.info.remote())["pid"]
            kill_after = rng.randrange(12)
            futures = []
            for k in range(12):
                futures.append(ch.submit(list(_feeds(k)), timeout=120))
                if k == kill_after:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
            got = [f.result(timeout=120) for f in futures]  # read in submission order
            for g, w in zip(got, want, strict=True):
                for a, b in zip(g, w, strict=True):
                    np.testing.assert_array_equal(a, b)
        assert ch.recoveries == kills
    assert all(d.alive() for d in session.devices.values())
