"""What crosses devices, how, and who touches the bytes."""

from __future__ import annotations

import numpy as np
import pytest

import tfrt_ray as tr
from device_actors import transport
from tests.integration.programs import PROGRAMS

pytestmark = pytest.mark.integration


def test_one_transfer_per_tensor_and_destination(kept_session_of):
    kept_session_of(devices=2)
    fn, make_args = PROGRAMS["branches"]
    args = make_args()
    prog = tr.compile(fn, args, strategy="pipeline", micro_batches=1)
    assert len({s.device for s in prog.plan.stages}) == 2
    steps = [prog.submit(list(args)) for _ in range(3)]
    assert all(np.array_equal(a, b) for s in steps for a, b in zip(s.result(), steps[0].result()))
    (moved,) = steps[0].transfers  # one slice; every step's own record, the same for each
    assert all(s.transfers == [moved] for s in steps) and prog.last_transfers == moved
    assert len(moved) == len(set((v, dst) for v, _, dst in moved))  # no (tensor, dst) twice
    planned = {(t.value, t.src, t.dst) for t in prog.plan.transfers}
    assert set(moved) == planned  # what runs is what was planned
    assert any(src != "input" for _, src, _ in moved)  # really actor to actor


def test_same_node_reader_gets_a_zero_copy_view_of_the_object_store(ray_cluster):
    import ray

    @ray.remote(num_cpus=0)
    def inspect(wire):
        a = transport.decode(wire)
        return {
            "mapping": _mapping_of(wire.body.address),
            "writeable": a.flags.writeable,
            "owns": a.flags.owndata,
            "sum": float(a.sum()),
        }

    head = ray.get_runtime_context().get_node_id()
    strategy = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(head, soft=False)
    data = np.arange(2_000_000, dtype=np.float32)  # 8 MB: lives in the object store
    ref = ray.put(transport.encode(data))
    a, b = ray.get([inspect.options(scheduling_strategy=strategy).remote(ref) for _ in range(2)])
    assert a["sum"] == b["sum"] == float(data.sum())
    assert not a["writeable"] and not a["owns"]  # a view, not a copy
    for reader in (a, b):  # both read straight from the store's shared memory
        mapping = reader["mapping"].split()
        assert mapping[1].endswith("s"), reader["mapping"]  # a shared mapping...
        assert "plasma" in mapping[-1] or "/dev/shm" in reader["mapping"]  # ...of the store


def test_driver_fetches_only_the_outputs(kept_session_of, monkeypatch):
    import ray

    kept_session_of(devices=2)
    fn, make_args = PROGRAMS["mlp"]
    args = make_args()
    prog = tr.compile(fn, args, strategy="pipeline", micro_batches=2)
    assert prog.slices > 1 and len(prog.plan.stages) > 1
    fetched = []
    real_get = ray.get

    def recording_get(refs, *a, **kw):
        fetched.extend(refs if isinstance(refs, list) else [refs])
        return real_get(refs, *a, **kw)

    monkeypatch.setattr(ray, "get", recording_get)
    step = prog.submit(list(args))
    outputs = {r for part in step.parts for r in part}
    step.result()
    assert fetched and set(fetched) <= outputs
    assert len(fetched) == len(prog.output_names) * prog.slices


def test_failed_op_on_one_actor_reaches_the_user_with_its_line(kept_session_of):
    kept_session_of(devices=2)

    def program(x, e):
        with tr.device("cpu:0"):
            bad = tr.pow(e, tr.tensor(np.array([-1], np.int64)))  # fails on cpu:0
            good = tr.exp(x)
        with tr.device("cpu:1"):
            return good + 1.0, bad * 2

    x, e = np.zeros(3, np.float32), np.array([2], np.int64)
    prog = tr.compile(program, (x, e), strategy="place")
    assert {s.device for s in prog.plan.stages} == {"cpu:0", "cpu:1"}
    good, bad = prog.submit([x, e]).tensors(timeout=60)
    np.testing.assert_allclose(good.numpy(), np.exp(x) + 1)  # the sibling is delivered
    with pytest.raises(tr.errors.OpExecutionError) as info:
        bad.numpy()
    err = info.value
    assert err.op == "pow" and err.device == "cpu:0" and err.node
    assert "test_transport.py" in err.loc
    with pytest.raises(tr.errors.OpExecutionError):
        prog.run([x, e], timeout=60)
    # The device is fine afterwards: later steps and programs still run.
    np.testing.assert_allclose(prog.submit([x, e]).tensors()[0].numpy(), np.exp(x) + 1)


def _mapping_of(address: int) -> str:
    """The /proc/self/maps line of the mapping that holds ``address``."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            if lo <= address < hi:
                return line.strip()
    return ""
