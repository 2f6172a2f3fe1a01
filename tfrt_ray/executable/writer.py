"""Writes an executable file: header, program section, weights (see the package docstring)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from collections.abc import Mapping
from typing import Any

import numpy as np

from tfrt_ray.errors import ExecutableFormatError, TfrtRayError
from tfrt_ray.executable.header import MAX_PROGRAM_BYTES, Header, crc32
from tfrt_ray.executable.program import dumps, encode_program, weight_table
from tfrt_ray.ir.graph import Graph
from tfrt_ray.ir.verifier import verify


def write_executable(
    path: str | os.PathLike,
    graph: Graph,
    *,
    plan: Any = None,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Writes ``graph`` (and optionally its plan and metadata) to one executable file.

    The file is written under a temporary name in the same folder, synced, then renamed
    over ``path``, so readers see the old file or the new one, never a half-written one.

    Args:
        path: where to write.
        graph: the program; it is verified first.
        plan: a `scheduler.plan.Plan` made for ``graph`` (or its ``to_dict()``); stored
            without its copy of the graph, which the file holds once.
        metadata: str -> str, stored as is (a model name, a compiler flag, ...).

    Returns:
        The number of bytes written.

    Raises:
        VerificationError: ``graph`` is not well formed.
        ExecutableFormatError: an attribute, the plan or the metadata cannot be stored.
    """
    where = os.fspath(path)
    verify(graph)
    meta = _metadata(metadata)
    doc, weights = encode_program(graph, _plan_dict(plan, graph), meta)
    arrays = [_little_endian_bytes(ct.array) for ct in weights]
    doc["weights"], data_length = weight_table(weights, [crc32(a) for a in arrays])
    try:
        raw = dumps(doc)
    except (TypeError, ValueError) as exc:  # a plan's or a type's odd values
        raise ExecutableFormatError(
            f"{where}: the program cannot be stored as JSON ({exc})",
            hint="a plan's numbers must be finite; types' dims ints or str",
        ) from None
    if len(raw) > MAX_PROGRAM_BYTES:
        raise ExecutableFormatError(
            f"{where}: the program section would be {len(raw)} bytes, over the cap of "
            f"{MAX_PROGRAM_BYTES}",
            hint="large data belongs in constant tensors, which are stored as weights",
        )
    header = Header.layout(len(raw), crc32(raw), data_length)
    _write_atomically(where, header, raw, doc["weights"], arrays)
    return header.file_length


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    meta = dict(metadata or {})
    bad = [k for k, v in meta.items() if type(k) is not str or type(v) is not str]
    if bad:
        raise ExecutableFormatError(
            f"metadata must map str to str; {bad[0]!r} does not",
            hint="convert the keys and values to str (json.dumps for structured values)",
        )
    return meta


def _plan_dict(plan: Any, graph: Graph) -> dict | None:
    if plan is None:
        return None
    from scheduler.plan import Plan

    if isinstance(plan, Plan):
        # to_dict() prints its graph as text (constants in hex); the file holds the graph
        # already, so it gets a node-free stand-in and the text is dropped.
        stub = Graph(graph.name, (), (), (), ())
        data = dataclasses.replace(plan, graph=stub).to_dict()
    elif isinstance(plan, Mapping):
        data = dict(plan)
    else:
        raise ExecutableFormatError(
            f"plan must be a Plan or Plan.to_dict(), got {type(plan).__name__}"
        )
    data.pop("graph", None)
    try:
        Plan.from_dict(data, graph=graph)
    except (TfrtRayError, KeyError, TypeError, ValueError) as exc:
        raise ExecutableFormatError(
            f"the plan does not fit the graph: {exc}",
            hint="pass the plan that scheduler.plan() made for this graph",
        ) from None
    return data


def _little_endian_bytes(array: np.ndarray) -> np.ndarray:
    """The array's bytes as a flat uint8 view (a copy only on big-endian hosts)."""
    a = np.ascontiguousarray(array)
    little = a.dtype.newbyteorder("<")
    if a.dtype != little:  # pragma: no cover - big-endian hosts
        a = a.astype(little)
    return a.reshape(-1).view(np.uint8)


def _write_atomically(
    where: str, header: Header, raw: bytes, table: list[dict], arrays: list[np.ndarray]
) -> None:
    folder, base = os.path.split(os.path.abspath(where))
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(tmp, flags, 0o666)  # the umask applies, as for any new file
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header.pack())
            f.write(raw)
            pos = header.program_offset + len(raw)
            f.write(bytes(header.data_offset - pos))
            end = 0  # in the data region
            for entry, a in zip(table, arrays, strict=True):
                f.write(bytes(entry["offset"] - end))
                f.write(a)
                end = entry["offset"] + entry["nbytes"]
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, where)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
