"""The plan lowered once into the calls every step makes (`tfrt_ray.runtime.schedule`), on
plans as plain data: no Ray, no devices."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tfrt_ray.errors import TfrtRayError
from tfrt_ray.runtime.schedule import INPUT, lower


def _stage(id_, inputs, outputs):
    return SimpleNamespace(id=id_, inputs=tuple(inputs), outputs=tuple(outputs))


def _lower(runs, inputs, outputs, shared=None):
    graph = SimpleNamespace(inputs=tuple(inputs), outputs=tuple(outputs))
    return lower(runs, graph, lambda s: f"p0/{s.id}", lambda i: (shared or {}).get(i, {}))


def test_each_argument_comes_from_an_earlier_call_or_the_steps_inputs():
    # x(0), w(1) -> stage 0 on a: h(2) -> stage 1 on b: y(3) = f(h, w); outputs y and w
    a, b = _stage(0, [0, 1], [2]), _stage(1, [2, 1], [3])
    (sched,) = _lower([[("a", a), ("b", b)]], inputs=[0, 1], outputs=[3, 1])
    first, second = sched.calls
    assert (first.device_id, first.key, first.input_positions) == ("a", "p0/0", (0, 1))
    assert (second.device_id, second.key, second.input_positions) == ("b", "p0/1", (None, 1))
    assert sched.results == ((True, 3), (False, 1))  # y from a call, w passed through
    # h crosses a -> b; w goes to both devices from the driver, once each
    assert sorted(sched.transfers) == [(0, INPUT, "a"), (1, INPUT, "a"), (1, INPUT, "b"),
                                       (2, "a", "b")]


def test_a_value_read_twice_on_one_device_moves_once_and_shared_outputs_are_kept():
    a, b, c = _stage(0, [0], [1]), _stage(1, [1], [2]), _stage(2, [1, 2], [3])
    (sched,) = _lower([[("a", a), ("b", b), ("b", c)]], inputs=[0], outputs=[3],
                      shared={0: {0: (0,)}})
    assert [t for t in sched.transfers if t[0] == 1] == [(1, "a", "b")]
    assert [call.shared_positions for call in sched.calls] == [(0,), (), ()]


def test_replicas_get_a_schedule_per_slice_on_their_own_device():
    s = _stage(0, [0], [1])
    slices = _lower([[("r0", s)], [("r1", s)]], inputs=[0], outputs=[1])
    assert [sl.calls[0].device_id for sl in slices] == ["r0", "r1"]
    assert [sl.transfers for sl in slices] == [((0, INPUT, "r0"),), ((0, INPUT, "r1"),)]


def test_a_stage_that_reads_a_value_nobody_makes_is_refused_at_load():
    with pytest.raises(TfrtRayError, match="(?s)reads value 7.*partitioner bug"):
        _lower([[("a", _stage(0, [7], [1]))]], inputs=[0], outputs=[1])
