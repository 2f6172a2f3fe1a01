"""Control flow with trip counts and conditions known at import time: If takes the branch
its (constant) condition selects; Loop and Scan are unrolled, one copy of the body per
iteration. Sequences (SequenceConstruct, SequenceAt, ...) are lists of values at import
time."""

from __future__ import annotations

import numpy as np

from tfrt_ray.errors import ShapeError
from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter

MAX_UNROLL = 4096


@converter("If")
def _if(ctx: NodeContext) -> list[Value]:
    cond = bool(np.asarray(ctx.const(0, "condition")).reshape(-1)[0])
    branch = ctx.attr("then_branch" if cond else "else_branch")
    return ctx.importer.inline(branch, [], ctx, "then" if cond else "else")


def stack(ctx: NodeContext, values: list[Value], axis: int = 0) -> Value:
    parts = [ctx.emit("unsqueeze", v, axes=(axis,)) for v in values]
    return parts[0] if len(parts) == 1 else ctx.emit("concat", *parts, axis=axis)


@converter("Loop")
def _loop(ctx: NodeContext) -> list[Value]:
    body = ctx.attr("body")
    trip = ctx.const(0, "trip count M")
    trip = None if trip is None else int(np.asarray(trip).reshape(-1)[0])
    cond_in = ctx.const(1, "condition")
    cond = True if cond_in is None else bool(np.asarray(cond_in).reshape(-1)[0])
    state = [v for v in ctx.inputs[2:]]
    n_state = len(state)
    scans: list[list[Value]] = []
    i = 0
    while cond and (trip is None or i < trip):
        if i >= MAX_UNROLL:
            raise ctx.error(f"Loop runs more than {MAX_UNROLL} iterations", ShapeError,
                            hint="tfrt-ray unrolls loops; bound the trip count")
        it = ctx.constant(np.array(i, np.int64))
        c = ctx.constant(np.array(cond))
        outs = ctx.importer.inline(body, [it, c, *state], ctx, f"iter{i}")
        cond = bool(np.asarray(ctx.static_value(outs[0], "loop condition")).reshape(-1)[0])
        state = outs[1: 1 + n_state]
        for k, v in enumerate(outs[1 + n_state:]):
            if len(scans) <= k:
                scans.append([])
            scans[k].append(v)
        i += 1
    n_scan = len(body.output) - 1 - n_state
    if n_scan and not scans:
        raise ctx.error("Loop with scan outputs ran zero iterations", ShapeError,
                        hint="tfrt-ray cannot type an empty scan output")
    return list(state) + [stack(ctx, s) for s in scans]


@converter("Scan")
def _scan(ctx: NodeContext) -> list[Value]:
    body = ctx.attr("body")
    if ctx.opset < 9:
        raise ctx.error("Scan before opset 9 (with a batch axis) is not supported")
    m = ctx.attr("num_scan_inputs")
    inputs = list(ctx.inputs)
    n_state = len(inputs) - m
    state, seqs = inputs[:n_state], inputs[n_state:]
    in_axes = ctx.attr("scan_input_axes") or [0] * m
    in_dirs = ctx.attr("scan_input_directions") or [0] * m
    n_out = len(body.output) - n_state
    out_axes = ctx.attr("scan_output_axes") or [0] * n_out
    out_dirs = ctx.attr("scan_output_directions") or [0] * n_out
    axes = [a % seqs[j].rank for j, a in enumerate(in_axes)]
    length = ctx.static_shape(seqs[0])[axes[0]]
    if length > MAX_UNROLL:
        raise ctx.error(f"Scan over {length} steps", ShapeError, hint="scan fewer steps")
    outs_seq: list[list[Value]] = [[] for _ in range(n_out)]
    for t in range(length):
        elems = []
        for j, x in enumerate(seqs):
            k = length - 1 - t if in_dirs[j] else t
            piece = ctx.emit("slice", x, starts=(k,), ends=(k + 1,), axes=(axes[j],))
            elems.append(ctx.emit("squeeze", piece, axes=(axes[j],)))
        outs = ctx.importer.inline(body, [*state, *elems], ctx, f"step{t}")
        state = outs[:n_state]
        for k, v in enumerate(outs[n_state:]):
            outs_seq[k].append(v)
    results = list(state)
    for k, values in enumerate(outs_seq):
        if out_dirs[k]:
            values = values[::-1]
        axis = out_axes[k] % (values[0].rank + 1)
        results.append(stack(ctx, values, axis))
    return results
