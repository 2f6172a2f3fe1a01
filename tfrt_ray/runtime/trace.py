"""Chrome / Perfetto traces of profiled steps: one track (process) per device, with
its stage calls and op spans, plus a span per transfer on the receiving device's track
from the moment the value was produced to the moment the stage that reads it started.

Open the file in https://ui.perfetto.dev or chrome://tracing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence


def chrome_trace(
    timelines: Mapping[str, Sequence[tuple]],
    stage_keys: Mapping[str, int],
    transfers: Sequence[tuple[int, str, str, int]],
    stage_of_value: Mapping[int, int],
    readers: Mapping[tuple[int, str], int],
) -> dict:
    """The trace as a dict (the Chrome trace event format).

    Args:
        timelines: device id -> (name, kind, start s, end s) spans; kind "stage" marks a
            stage call (its name is the stage key), anything else is an op.
        stage_keys: stage key -> stage id.
        transfers: (value, src device or "input", dst device, bytes).
        stage_of_value: value id -> id of the stage that produces it.
        readers: (value, dst device) -> id of the first stage on dst that reads it.
    """
    events: list[dict] = []
    t_zero = min((span[2] for spans in timelines.values() for span in spans), default=0.0)
    stage_span: dict[int, tuple[str, float, float]] = {}
    for pid, (device, spans) in enumerate(sorted(timelines.items())):
        events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0,
                       "args": {"name": device}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 0,
                       "args": {"name": "stages"}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 1,
                       "args": {"name": "ops"}})
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": 2,
                       "args": {"name": "transfers in"}})
        for name, kind, start, end in spans:
            is_stage = kind == "stage"
            events.append({
                "ph": "X",
                "name": f"stage {stage_keys.get(name, name)}" if is_stage else name,
                "cat": "stage" if is_stage else "op",
                "pid": pid,
                "tid": 0 if is_stage else 1,
                "ts": (start - t_zero) * 1e6,
                "dur": max(end - start, 0.0) * 1e6,
                "args": {"device": device} if is_stage else {"op": kind, "device": device},
            })
            if is_stage and name in stage_keys:
                stage_span[stage_keys[name]] = (device, start, end)
    pids = {device: pid for pid, device in enumerate(sorted(timelines))}
    for value, src, dst, nbytes in transfers:
        reader = stage_span.get(readers.get((value, dst), -1))
        producer = stage_span.get(stage_of_value.get(value, -1))
        if reader is None or dst not in pids:
            continue
        start = producer[2] if producer is not None else reader[1]
        events.append({
            "ph": "X",
            "name": f"%{value} from {src}",
            "cat": "transfer",
            "pid": pids[dst],
            "tid": 2,
            "ts": (start - t_zero) * 1e6,
            "dur": max(reader[1] - start, 0.0) * 1e6,
            "args": {"value": value, "src": src, "dst": dst, "bytes": nbytes},
        })
    return {"traceEvents": events, "displayTimeUnit": "ms"}


def write_trace(path: str, trace: dict) -> None:
    with open(path, "w") as f:
        json.dump(trace, f)
