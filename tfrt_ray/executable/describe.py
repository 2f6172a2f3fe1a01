"""`describe_executable`: what `tfrt-ray inspect` prints about an executable file."""

from __future__ import annotations

import os

from tfrt_ray.executable.reader import read_executable
from tfrt_ray.ir.text import format_type

_SHOWN = 32  # inputs or outputs listed one per line


def describe_executable(path: str | os.PathLike, *, verify_weights: bool = False) -> str:
    """A summary of an executable file: format, producer, metadata, the graph's inputs,
    outputs and op counts, its weights, and the plan if one is stored.

    The file is fully checked except, by default, the weights' checksums (pass
    ``verify_weights=True`` to check those too). Raises what `read_executable` raises.
    """
    where = os.fspath(path)
    exe = read_executable(where, verify_weights=verify_weights)
    g = exe.graph
    lines = [
        f"executable {where} ({_bytes(os.path.getsize(where))})",
        f"  format version {exe.format_version}, written by {exe.producer}",
    ]
    lines += [f"  {k} = {v}" for k, v in sorted(exe.metadata.items())]
    lines.append(
        f"graph '{g.name}': {len(g.nodes)} ops, {len(g.inputs)} input(s), "
        f"{len(g.outputs)} output(s)"
    )
    for label, ids, names in (
        ("input", g.inputs, g.input_names),
        ("output", g.outputs, g.output_names),
    ):
        pairs = list(zip(names, ids, strict=True))
        lines += [f"  {label} {n}: {format_type(g.types[v])}" for n, v in pairs[:_SHOWN]]
        if len(pairs) > _SHOWN:
            lines.append(f"  ... and {len(pairs) - _SHOWN} more {label}s")
    counts = sorted(g.op_counts().items(), key=lambda kv: (-kv[1], kv[0]))
    lines.append("  ops: " + (", ".join(f"{op} {k}" for op, k in counts) or "none"))
    weights = exe.weights
    by_dtype: dict[str, int] = {}
    for w in weights:
        by_dtype[w.type.dtype] = by_dtype.get(w.type.dtype, 0) + 1
    kinds = ", ".join(f"{d} {k}" for d, k in sorted(by_dtype.items()))
    total = sum(w.array.nbytes for w in weights)
    checked = "checksums verified" if verify_weights else "checksums not verified"
    lines.append(
        f"weights: {len(weights)} tensor(s), {_bytes(total)}"
        + (f" ({kinds}; {checked})" if weights else "")
    )
    lines.append(_plan_summary(exe.plan_dict))
    return "\n".join(lines)


def _plan_summary(plan: dict | None) -> str:
    if plan is None:
        return "plan: none (the runtime plans the graph when it is loaded)"
    text = (
        f"plan: strategy {plan['strategy']}, {len(plan['stages'])} stages on "
        f"{len(plan['devices'])} devices ({', '.join(map(str, plan['devices'][:8]))}"
        f"{', ...' if len(plan['devices']) > 8 else ''}), {len(plan['transfers'])} transfers, "
        f"predicted step {float(plan['predicted_step_s']) * 1e3:.3g} ms"
    )
    if int(plan["micro_batches"]) > 1:
        text += f", {plan['micro_batches']} micro-batches"
    if plan["replicas"]:
        text += f", {len(plan['replicas'])} replicas"
    return text


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"
