"""Chrome/Perfetto traces of a step across devices."""

from __future__ import annotations

import json

import numpy as np
import pytest

import tfrt_ray as tr
from tests.integration.programs import PROGRAMS

pytestmark = pytest.mark.integration


def test_trace_has_a_track_per_device_and_a_span_per_executed_op(kept_session_of, tmp_path):
    kept_session_of(devices=2)
    fn, make_args = PROGRAMS["branches"]
    args = make_args()
    prog = tr.compile(fn, args, strategy="pipeline", micro_batches=1)
    used = {s.device for s in prog.plan.stages}
    assert len(used) == 2
    path = tmp_path / "trace.json"
    outs = prog.run(list(args), trace=str(path))
    assert len(outs) == 2
    trace = json.loads(path.read_text())  # valid JSON
    events = trace["traceEvents"]
    tracks = {e["args"]["name"] for e in events if e.get("name") == "process_name"}
    assert tracks == used  # one track per device
    op_spans = [e for e in events if e.get("cat") == "op"]
    executed = [n for s in prog.plan.stages for n in s.nodes if n.inputs]
    assert sorted(e["name"] for e in op_spans) == sorted(n.name for n in executed)
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in op_spans)
    transfers = [e for e in events if e.get("cat") == "transfer"]
    crossing = [t for t in prog.last_transfers if t[1] != "input"]
    assert len(transfers) >= len(crossing) > 0


def test_host_program_trace_too(tmp_path):
    x = np.ones((4, 4), np.float32)
    prog = tr.compile(lambda x: tr.relu(x - 0.5) * 2.0, (x,))
    path = tmp_path / "host.json"
    prog.run([x], trace=str(path))
    spans = {e["name"] for e in json.loads(path.read_text())["traceEvents"] if e.get("cat") == "op"}
    assert spans == {n.name for s in prog.plan.stages for n in s.nodes if n.inputs}
    assert any("relu" in name for name in spans)  # (fused with its neighbours at -O2)


def test_profile_reports_busy_idle_bytes_and_ops_per_device(kept_session_of):
    kept_session_of(devices=2)
    fn, make_args = PROGRAMS["branches"]
    args = make_args()
    prog = tr.compile(fn, args, strategy="pipeline", micro_batches=1)
    report = prog.profile(list(args))
    lines = report.splitlines()
    rows = {ln.split()[0]: ln.split() for ln in lines[2:4]}  # the per-device table
    assert set(rows) == {"cpu:0", "cpu:1"}
    receiver = {dst for _, src, dst in prog.last_transfers if src not in ("input",)}
    for device in receiver:
        assert int(rows[device][3]) > 0  # bytes that crossed into it
    executed = [n.name for s in prog.plan.stages for n in s.nodes if n.inputs]
    assert all(any(name[:36] in ln for ln in lines) for name in executed)


def test_host_program_profile(caplog):
    x = np.ones((4, 4), np.float32)
    prog = tr.compile(lambda x: tr.tanh(x) @ x, (x,))
    report = prog.profile([x])
    assert "host:0" in report and "idle" in report and "matmul" in report
