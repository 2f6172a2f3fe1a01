"""Shared-memory channels (`device_actors.channels`): values of every kind round trip,
views stay valid until the next read, a full channel blocks its writer, errors and stops
travel as values, and every wait ends: on a value, a deadline, a close or a dead peer (one
killed while we read or write, or in the middle of its own write, which publishes
nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from device_actors import channels
from device_actors.channels import STOPPED, Channel
from tfrt_ray.errors import (
    ChannelClosedError,
    ChannelTimeoutError,
    OpExecutionError,
    PeerLostError,
    ShapeError,
)

pytestmark = pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="no /dev/shm here")


@pytest.fixture
def make(tmp_path):
    """Makes channels in a directory of the test's own; removes them afterwards."""
    made = []
    directory = "/dev/shm" if os.path.isdir("/dev/shm") else str(tmp_path)
    root = os.path.join(directory, f"tfrt-ray-test-{os.getpid()}-{time.monotonic_ns()}")
    os.makedirs(root)

    def new(depth: int = 2, slot_bytes: int = 1024):
        spec = channels.create(root, f"tfrt-ray-test-{os.getpid()}-{len(made)}-"
                               f"{time.monotonic_ns()}", depth, slot_bytes)
        made.append(spec)
        return spec

    yield new
    for spec in made:
        channels.unlink(spec)
        assert not os.path.exists(spec.path)
    os.rmdir(root)


VALUES = [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.array(2.5),
    np.zeros((0, 3), np.int64),
    np.array([True, False, True]),
    np.arange(24, dtype=np.int8).reshape(2, 3, 4)[:, ::2],  # not contiguous
    np.arange(5000, dtype=np.float64),  # larger than a slot: spilled
]


def test_values_of_every_kind_round_trip_in_order(make):
    spec = make(depth=3)
    w, r = Channel(spec), Channel(spec)
    for v in VALUES:
        w.write(v)
        got = r.read(timeout=5, copy=True)
        assert got.dtype == v.dtype and got.shape == v.shape
        np.testing.assert_array_equal(got, v)


def test_a_view_is_read_only_and_holds_its_slot_until_the_next_read(make):
    spec = make(depth=2)
    w, r = Channel(spec), Channel(spec)
    w.write(np.full(4, 1.0))
    view = r.read(timeout=5)
    assert not view.flags.writeable
    w.write(np.full(4, 2.0))  # the other slot: the view is untouched
    np.testing.assert_array_equal(view, np.full(4, 1.0))
    with pytest.raises(ChannelTimeoutError):
        w.write(np.full(4, 3.0), timeout=0.2)  # both slots taken: the reader holds one
    np.testing.assert_array_equal(r.read(timeout=5), np.full(4, 2.0))  # frees the first
    w.write(np.full(4, 3.0), timeout=5)
    np.testing.assert_array_equal(r.read(timeout=5), np.full(4, 3.0))


def test_a_full_channel_blocks_its_writer_until_a_read(make):
    spec = make(depth=2)
    w, r = Channel(spec), Channel(spec)
    w.write(np.ones(2))
    w.write(np.ones(2))
    done = threading.Event()

    def third():
        w.write(np.full(2, 7.0), timeout=30)
        done.set()

    t = threading.Thread(target=third)
    t.start()
    assert not done.wait(0.3)  # blocked: no free slot
    r.read(timeout=5, copy=True)
    assert done.wait(30)
    t.join()
    r.read(timeout=5, copy=True)
    np.testing.assert_array_equal(r.read(timeout=5, copy=True), np.full(2, 7.0))


def test_errors_and_stops_travel_as_values(make):
    spec = make(depth=4)
    w, r = Channel(spec), Channel(spec)
    w.write_error(OpExecutionError("log of a negative", op="log", node="log_3",
                                   device="cpu:1", hint="clip it first"))
    w.write_error(ZeroDivisionError("division by zero"))
    w.write_error(OpExecutionError("x" * 5000, op="add"))  # longer than a slot
    w.write_stop()
    with pytest.raises(OpExecutionError, match="log of a negative") as info:
        r.read(timeout=5)
    assert (info.value.op, info.value.node, info.value.device) == ("log", "log_3", "cpu:1")
    with pytest.raises(OpExecutionError, match="ZeroDivisionError: division by zero"):
        r.read(timeout=5)
    with pytest.raises(OpExecutionError, match="x" * 5000):
        r.read(timeout=5)
    assert r.read(timeout=5) is STOPPED


def test_a_read_ends_at_its_deadline_a_close_or_a_dead_peer(make):
    r = Channel(make())
    with pytest.raises(ChannelTimeoutError, match="a value did not come within 0.2 s"):
        r.read(timeout=0.2)

    spec = make()
    r, other = Channel(spec), Channel(spec)
    threading.Timer(0.2, other.close).start()
    with pytest.raises(ChannelClosedError):
        r.read(timeout=30)

    peer = {"alive": True}
    r = Channel(make(), alive=lambda: peer["alive"], check_every=0.05)
    threading.Timer(0.2, lambda: peer.update(alive=False)).start()
    with pytest.raises(PeerLostError, match="the other end died"):
        r.read(timeout=30)


def test_too_many_dims_is_a_typed_error(make):
    w = Channel(make())
    with pytest.raises(ShapeError, match="at most 16 dims"):
        w.write(np.zeros((1,) * 17))


ECHO = """
import sys
import numpy as np
from device_actors.channels import STOPPED, Channel, ChannelSpec
a = ChannelSpec(sys.argv[1], sys.argv[2], 4, 1024)
b = ChannelSpec(sys.argv[3], sys.argv[4], 4, 1024)
src, dst = Channel(a), Channel(b)
while True:
    v = src.read(timeout=60)
    if v is STOPPED:
        dst.write_stop()
        break
    dst.write(v * 2)
"""


def test_another_process_reads_and_writes_in_order(make):
    a, b = make(depth=4), make(depth=4)
    child = subprocess.Popen([sys.executable, "-c", ECHO, a.name, a.path, b.name, b.path],
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        w, r = Channel(a), Channel(b)
        got = []
        for i in range(200):
            w.write(np.array([i, -i], np.int64), timeout=60)
            if i >= 2:
                got.append(r.read(timeout=60, copy=True))
        w.write_stop(timeout=60)
        while (v := r.read(timeout=60, copy=True)) is not STOPPED:
            got.append(v)
        assert [tuple(v) for v in got] == [(2 * i, -2 * i) for i in range(200)]
        assert child.wait(timeout=60) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


HALF_WRITE = """
import os, signal, sys
import numpy as np
from device_actors.channels import Channel, ChannelSpec
ch = Channel(ChannelSpec(sys.argv[1], sys.argv[2], 2, 1024))
ch.write(np.arange(4.0))                 # one whole value
slot = ch.reserve(np.float64, (4,))      # then a slot taken and half written...
slot[:2] = 99.0
os.kill(os.getpid(), signal.SIGKILL)     # ...and the writer dies before publishing it
"""


def test_a_writer_killed_mid_write_publishes_nothing_and_is_noticed(make):
    spec = make(depth=2)
    child = subprocess.Popen([sys.executable, "-c", HALF_WRITE, spec.name, spec.path],
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    child.wait(timeout=60)
    r = Channel(spec, alive=lambda: child.poll() is None, check_every=0.05)
    np.testing.assert_array_equal(r.read(timeout=30, copy=True), np.arange(4.0))
    with pytest.raises(PeerLostError):
        r.read(timeout=30)  # the half-written slot was never published


def test_a_peer_killed_while_we_read_or_write_is_noticed(make):
    import signal

    a, b = make(depth=2), make(depth=2)
    child = subprocess.Popen([sys.executable, "-c", ECHO, a.name, a.path, b.name, b.path],
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        def alive():
            return child.poll() is None

        w, r = Channel(a, alive, check_every=0.05), Channel(b, alive, check_every=0.05)
        w.write(np.ones(2), timeout=60)
        np.testing.assert_array_equal(r.read(timeout=60, copy=True), np.full(2, 2.0))
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
        with pytest.raises(PeerLostError):
            r.read(timeout=30)  # a reader waiting on a dead writer
        with pytest.raises(PeerLostError):
            for _ in range(3):  # fills the ring, then waits on a dead reader
                w.write(np.ones(2), timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
