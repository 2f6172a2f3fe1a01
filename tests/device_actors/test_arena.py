"""The shared-memory arena on its own (no Ray): blocks, reuse after release, the capacity
bound, resident tensors, readers' views, and clean-up."""

from __future__ import annotations

import os

import numpy as np
import pytest

from device_actors import arena, transport
from tfrt_ray.errors import DeviceError

pytestmark = pytest.mark.skipif(not os.path.isdir(arena.SHM_ROOT), reason="no /dev/shm")


@pytest.fixture
def shm(tmp_path):
    directory = os.path.join(arena.SHM_ROOT, f"tfrt-ray-test-{os.getpid()}-{tmp_path.name}")
    a = arena.Arena.open(directory, "dev", 8 << 20)
    yield a
    a.close()
    assert not os.path.exists(directory), os.listdir(directory)  # close left nothing


def big(seed: int, n: int = 1 << 18) -> np.ndarray:  # 1 MiB of float32
    return np.random.default_rng(seed).standard_normal(n).astype(np.float32)


def test_a_value_reaches_a_reader_as_a_read_only_view_of_the_block(shm):
    value = big(0)
    wire = transport.encode_shared(value, shm, tag=1)
    assert type(wire) is transport.ArenaTensor and wire.path.startswith(shm.directory)
    got = transport.decode(wire)
    np.testing.assert_array_equal(got, value)
    assert not got.flags.writeable and not got.flags.owndata
    assert shm.stats()["arena_copied"] == 1


def test_small_values_and_errors_take_rays_path(shm):
    assert type(transport.encode_shared(np.ones(16, np.float32), shm, 1)) is transport.WireTensor
    err = DeviceError("boom")
    assert transport.encode_shared(err, shm, 1) is err


def test_blocks_are_reused_only_after_their_step_is_released(shm):
    first = transport.encode_shared(big(1), shm, tag=1)
    second = transport.encode_shared(big(2), shm, tag=2)
    assert first.path != second.path  # step 1 still holds its block
    shm.release([1])
    third = transport.encode_shared(big(3), shm, tag=3)
    assert third.path == first.path  # the released block, pages already mapped
    np.testing.assert_array_equal(transport.decode(second), big(2))  # untouched
    np.testing.assert_array_equal(transport.decode(third), big(3))


def test_a_full_arena_falls_back_to_rays_path(shm):
    wires = [transport.encode_shared(big(i, 1 << 19), shm, tag=i) for i in range(6)]  # 2 MiB
    kinds = [type(w) for w in wires]
    assert kinds[:4] == [transport.ArenaTensor] * 4 and kinds[4:] == [transport.WireTensor] * 2
    assert shm.used <= shm.capacity
    for i, w in enumerate(wires):
        np.testing.assert_array_equal(transport.decode(w), big(i, 1 << 19))


def test_a_resident_tensor_is_sent_without_a_copy(shm):
    resident = shm.adopt(big(4))
    assert not resident.flags.writeable
    for tag in range(3):
        wire = transport.encode_shared(resident, shm, tag)
        np.testing.assert_array_equal(transport.decode(wire), big(4))
    assert shm.stats()["arena_copied"] == 0 and shm.stats()["arena_sent"] == 3
    assert shm.used == 0  # resident blocks are not step blocks


def test_a_transposed_view_of_a_block_is_copied_not_sent_as_the_block(shm):
    resident = shm.adopt(big(6).reshape(512, 512))
    wire = transport.encode_shared(resident.T, shm, tag=1)
    np.testing.assert_array_equal(transport.decode(wire), big(6).reshape(512, 512).T)
    assert shm.stats()["arena_copied"] == 1


def test_close_removes_every_file_and_the_directory(shm):
    wire = transport.encode_shared(big(5), shm, tag=1)
    view = transport.decode(wire)
    shm.close()
    assert not os.path.exists(shm.directory)
    assert view.sum() == big(5).sum()  # a reader's mapping outlives the file


def test_a_missing_block_is_a_typed_error(shm):
    wire = transport.ArenaTensor("f32", (4,), os.path.join(shm.directory, "gone"), 16)
    with pytest.raises(DeviceError, match="shared-memory block"):
        transport.decode(wire)


def test_no_directory_means_no_arena():
    assert arena.Arena.open(None, "dev", 1 << 30) is None
    assert arena.Arena.open("/proc/not-a-dir/x", "dev", 1 << 30) is None


def test_init_sweeps_the_shared_memory_of_dead_drivers_only(tmp_path):
    import subprocess
    import sys

    from tfrt_ray.cluster.shared_memory import ARENA_PREFIX, sweep_stale_arenas

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f"{ARENA_PREFIX}{gone.pid}-abcd1234"
    live = tmp_path / f"{ARENA_PREFIX}{os.getpid()}-abcd1234"
    other = tmp_path / "not-ours-1"
    for d in (dead, live, other):
        d.mkdir()
        (d / "block-0").write_bytes(b"x")
    # A channel's named semaphores live beside the directories as "sem.<name>".
    dead_sem = tmp_path / f"sem.{dead.name}-c123456-0.free"
    live_sem = tmp_path / f"sem.{live.name}-c123456-0.free"
    for f in (dead_sem, live_sem):
        f.write_bytes(b"s")
    assert sorted(sweep_stale_arenas(str(tmp_path))) == sorted([dead.name, dead_sem.name])
    assert not dead.exists() and live.exists() and other.exists()
    assert not dead_sem.exists() and live_sem.exists()


def test_a_posted_block_reaches_the_reader_without_ray(shm, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "get", lambda ref: pytest.fail("asked Ray"))
    wire = transport.encode_shared(big(7), shm, tag=1)
    box = os.path.join(shm.directory, "mb-1")
    transport.post(box, wire)
    shm.posted(box, 1)
    np.testing.assert_array_equal(transport.decode(transport.Posted(box, ["ref"])), big(7))


def test_a_reader_asks_ray_when_told_to_or_when_nothing_is_posted(shm, monkeypatch):
    import ray

    asked = []
    small = transport.encode(np.arange(3, dtype=np.float32))
    monkeypatch.setattr(ray, "get", lambda ref: asked.append(ref) or small)
    box = os.path.join(shm.directory, "mb-2")
    transport.post(box, small)  # a small value: not in the arena
    shm.posted(box, 2)
    np.testing.assert_array_equal(transport.decode(transport.Posted(box, ["r1"])), [0, 1, 2])
    monkeypatch.setattr(transport, "POST_WAIT_S", 0.05)
    never = os.path.join(shm.directory, "mb-never")
    np.testing.assert_array_equal(transport.decode(transport.Posted(never, ["r2"])), [0, 1, 2])
    assert asked == ["r1", "r2"]


def test_mailboxes_go_with_their_step(shm):
    box = os.path.join(shm.directory, "mb-3")
    transport.post(box, transport.encode_shared(big(8), shm, tag=3))
    shm.posted(box, 3)
    shm.release([3])
    assert not os.path.exists(box)
