"""Which stage outputs go through shared memory (`SharedValues.plan`), checked on plain
data: no Ray, devices are stand-ins with a node and an arena directory."""

from __future__ import annotations

from dataclasses import dataclass, field

from device_actors.arena import MIN_BYTES
from tfrt_ray.ir.types import TensorType
from tfrt_ray.runtime.shared_values import SharedValues

BIG = TensorType("f32", (MIN_BYTES // 4,))
SMALL = TensorType("f32", (16,))


@dataclass
class Host:
    node_id: str
    released: list = field(default_factory=list)

    def release(self, tags):
        self.released.extend(tags)


@dataclass
class Device:
    node_id: str
    host: Host | None
    arena_dir: str | None = "/dev/shm/tfrt-ray-test"
    later: list = field(default_factory=list)

    @property
    def near_host(self):
        return self.host is not None and self.arena_dir is not None \
            and self.host.node_id == self.node_id

    def release_later(self, tag):
        self.later.append(tag)

    def fence(self):
        return None  # an in-process device: no call is ever left over


@dataclass
class Stage:
    id: int
    inputs: tuple
    outputs: tuple


@dataclass
class Graph:
    types: dict
    outputs: tuple


def _plan(devices, stages, types, results):
    shared = SharedValues()
    shared.plan([[(d, s) for d, s in stages]], devices, Graph(types, results))
    return shared


def test_a_large_result_on_the_drivers_node_goes_through_its_producers_arena():
    host = Host("n0")
    devices = {"a": Device("n0", host), "b": Device("n0", host)}
    # a: x -> 1 (read by b), b: 1 -> 2 (a result)
    stages = [("a", Stage(0, (0,), (1,))), ("b", Stage(1, (1,), (2,)))]
    shared = _plan(devices, stages, {0: BIG, 1: BIG, 2: BIG}, (2,))
    assert shared.positions(0) == {0: (0,), 1: (0,)}
    boxes_a = shared.mailboxes(devices["a"], 7, 0, 0, 0, (0,))
    boxes_b = shared.mailboxes(devices["b"], 7, 0, 0, 1, (0,))
    assert boxes_a[0] is not None and boxes_a[0].startswith(devices["a"].arena_dir)
    assert boxes_b == (None,)  # only the driver reads it: no mailbox to post
    assert shared.between_stages
    shared.release(devices, [7])
    assert devices["a"].later == [7] and devices["b"].later == [7] and host.released == [7]


def test_results_away_from_the_driver_small_ones_and_no_arena_take_ray():
    host = Host("n0")
    devices = {"far": Device("n1", host), "small": Device("n0", host),
               "bare": Device("n0", host, arena_dir=None)}
    stages = [("far", Stage(0, (0,), (1,))), ("small", Stage(1, (0,), (2,))),
              ("bare", Stage(2, (0,), (3,)))]
    shared = _plan(devices, stages, {0: BIG, 1: BIG, 2: SMALL, 3: BIG}, (1, 2, 3))
    assert shared.positions(0) == {}
    assert not shared.between_stages
    shared.release(devices, [3])
    assert host.released == [3]  # the driver's inputs may still be in its blocks


def test_a_result_that_another_stage_reads_is_posted_and_kept_for_the_driver():
    host = Host("n0")
    devices = {"a": Device("n0", host), "b": Device("n0", host)}
    stages = [("a", Stage(0, (0,), (1,))), ("b", Stage(1, (1,), (2,)))]
    shared = _plan(devices, stages, {0: BIG, 1: BIG, 2: SMALL}, (1, 2))
    assert shared.positions(0) == {0: (0,)}
    assert shared.mailboxes(devices["a"], 1, 0, 0, 0, (0,))[0] is not None


def test_a_reader_on_another_node_keeps_a_value_out_of_the_arena():
    host = Host("n0")
    devices = {"a": Device("n0", host), "b": Device("n1", host)}
    stages = [("a", Stage(0, (0,), (1,))), ("b", Stage(1, (1,), (2,)))]
    shared = _plan(devices, stages, {0: BIG, 1: BIG, 2: BIG}, (1, 2))
    assert shared.positions(0) == {}  # 1 is read on n1; 2 is made away from the driver


def test_cancelled_steps_without_calls_left_are_given_back_at_once():
    host = Host("n0")
    devices = {"a": Device("n0", host), "b": Device("n0", host)}
    stages = [("a", Stage(0, (0,), (1,))), ("b", Stage(1, (1,), (2,)))]
    shared = _plan(devices, stages, {0: BIG, 1: BIG, 2: BIG}, (2,))
    shared.release_cancelled(devices, [4, 5])
    assert devices["a"].later == [4, 5] and host.released == [4, 5]
