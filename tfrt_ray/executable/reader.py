"""Reads an executable file: memory-maps it, checks it, and returns the program.

Every offset and length is checked against the file's size before any byte it names is
read; nothing from the file is executed (the program is JSON, the weights raw bytes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from tfrt_ray.errors import ExecutableFormatError, TfrtRayError
from tfrt_ray.executable.header import HEADER_SIZE, RECOMPILE, crc32, parse_header
from tfrt_ray.executable.program import Reader, WeightEntry
from tfrt_ray.ir.graph import ConstTensor, Graph, Node
from tfrt_ray.ir.types import numpy_dtype
from tfrt_ray.ir.verifier import verify


@dataclass(frozen=True)
class Executable:
    """A loaded executable file.

    Attributes:
        graph: the program; its constants' arrays are read-only views of ``mapping``.
        plan_dict: the stored plan (``Plan.to_dict()`` without the graph's text), or None.
        metadata: str -> str, as written.
        format_version: the file's format version.
        producer: what wrote the file (``"tfrt-ray 0.1.0"``).
        mapping: the file's memory map (a `pyarrow.Buffer`); it stays mapped while any
            weight is alive.
    """

    graph: Graph
    plan_dict: dict | None
    metadata: dict[str, str]
    format_version: int
    producer: str
    mapping: Any = field(default=None, repr=False, compare=False)

    def plan(self, graph: Graph | None = None) -> Any:
        """The stored plan as a `scheduler.plan.Plan` over ``graph`` (default: the file's
        graph), or None if the file holds no plan."""
        if self.plan_dict is None:
            return None
        where = f"the executable of graph '{self.graph.name}'"
        return load_plan(self.plan_dict, self.graph if graph is None else graph, where)

    @property
    def weights(self) -> list[ConstTensor]:
        """Every tensor attribute's value, each once, in the order nodes hold them."""
        seen: dict[int, ConstTensor] = {}
        for n in self.graph.nodes:
            for _, v in n.attrs:
                if isinstance(v, ConstTensor):
                    seen.setdefault(id(v), v)
        return list(seen.values())


def read_executable(path: str | os.PathLike, *, verify_weights: bool = True) -> Executable:
    """Loads an executable file written by `write_executable`.

    The file is memory-mapped; each weight is a zero-copy, read-only view of the map.

    Args:
        path: the file.
        verify_weights: check every weight's CRC32 (one pass over the weights, a few GB/s)
            and that the padding between weights is zero. With False the load touches
            only the header and the program section, and a weight changed on disk goes
            unnoticed; the program itself is always checked.

    Raises:
        ExecutableVersionError: the file's format version is not one this tfrt-ray reads.
        ExecutableFormatError: not an executable; truncated; corrupt; or its program does
            not verify. The message names the file and the part that is wrong.
        OSError: the file cannot be opened (missing, a folder, no permission).
    """
    where = os.fspath(path)
    source = pa.memory_map(where, "r")
    try:
        whole = source.read_buffer()  # the mapping itself: slices of it are zero-copy
    finally:
        source.close()  # the map lives on while `whole` or a slice of it does
    return load_buffer(whole, where, verify_weights)


def load_buffer(whole: pa.Buffer, where: str, verify_weights: bool = True) -> Executable:
    """`read_executable` of a file's bytes already in memory (``where`` names them in
    errors); the weights are views of ``whole``."""
    size = whole.size
    header = parse_header(whole.slice(0, min(size, HEADER_SIZE)).to_pybytes(), size, where)
    reader = Reader(where, header.format_version)
    p_end = header.program_offset + header.program_length
    raw = whole.slice(header.program_offset, header.program_length).to_pybytes()
    if crc32(raw) != header.program_crc32:
        raise _corrupt(where, "the program section's checksum does not match")
    if whole.slice(p_end, header.data_offset - p_end).to_pybytes().strip(b"\x00"):
        raise _corrupt(where, "the padding after the program section is not zero")
    doc = reader.loads(raw)
    entries = reader.weights(doc["weights"], header.data_length)
    data = whole.slice(header.data_offset, header.data_length)
    tensors = [_weight(where, data, e, i, verify_weights) for i, e in enumerate(entries)]
    if verify_weights:
        _check_padding(where, data, entries)
    metadata = reader.metadata(doc["metadata"])
    plan = doc["plan"]
    if plan is not None and type(plan) is not dict:
        raise reader.fail("plan", f"expected an object or null, found {type(plan).__name__}")
    placeholders = [Placeholder(e) for e in entries]
    graph = reader.graph(doc["graph"], placeholders)
    try:
        verify(graph)
    except TfrtRayError as err:
        raise ExecutableFormatError(
            f"{where}: the program does not verify: {err.message}",
            op=err.op,
            node=err.node,
            loc=err.loc,
            hint=RECOMPILE + (f"; {err.hint}" if err.hint else ""),
        ) from None
    except Exception as exc:  # noqa: BLE001 - a verifier bug must still end in the typed error
        raise reader.fail("graph", f"verifying it failed: {exc!r:.200}") from None
    graph = with_weights(graph, {id(p): t for p, t in zip(placeholders, tensors, strict=True)})
    if plan is not None:
        load_plan(plan, graph, where)
    return Executable(graph, plan, metadata, header.format_version, header.producer, whole)


def _corrupt(where: str, what: str) -> ExecutableFormatError:
    return ExecutableFormatError(f"{where}: {what}: the file is corrupt", hint=RECOMPILE)


def _weight(
    where: str, data: pa.Buffer, entry: WeightEntry, i: int, verify_weights: bool
) -> ConstTensor:
    buf = data.slice(entry.offset, entry.nbytes)
    if verify_weights and crc32(buf) != entry.crc32:
        raise _corrupt(where, f"weight {i}'s checksum does not match")
    array = weight_array(buf, entry)
    # A bool byte other than 0 or 1 is not a bool numpy can hold; this reads bool weights
    # (masks, small) even when checksums are skipped.
    if entry.dtype == "i1" and array.size and np.frombuffer(buf, np.uint8).max() > 1:
        raise _corrupt(where, f"weight {i}, an i1 tensor, holds a byte other than 0 or 1")
    return ConstTensor(array)


def _check_padding(where: str, data: pa.Buffer, entries: list[WeightEntry]) -> None:
    end = 0
    for i, e in enumerate(entries):
        if e.offset > end and data.slice(end, e.offset - end).to_pybytes().strip(b"\x00"):
            raise _corrupt(where, f"the padding before weight {i} is not zero")
        end = e.offset + e.nbytes


def load_plan(data: dict, graph: Graph, where: str) -> Any:
    """`Plan.from_dict`, with any problem in ``data`` raised as ExecutableFormatError."""
    from scheduler.plan import Plan

    try:
        return Plan.from_dict(data, graph=graph)
    except (
        TfrtRayError,
        LookupError,
        TypeError,
        ValueError,
        AttributeError,
        ArithmeticError,
    ) as exc:
        raise ExecutableFormatError(
            f"{where}: the stored plan is malformed or does not fit the graph "
            f"({type(exc).__name__}: {exc})",
            hint=RECOMPILE,
        ) from None


class Placeholder(ConstTensor):
    """Stands in for a weight while the graph is verified: its dtype and shape (a
    zero-stride array, no memory), compared by identity. The verifier compares attributes
    with ``==``, and ConstTensor's ``==`` copies both arrays' bytes, which for mapped
    weights would read the whole file."""

    __slots__ = ()

    def __init__(self, entry: WeightEntry) -> None:
        zero = np.zeros((), numpy_dtype(entry.dtype))
        self.array = np.broadcast_to(zero, entry.shape)  # read-only
        self._hash = None

    def __eq__(self, other: object) -> bool:
        return self is other

    __hash__ = object.__hash__


def with_weights(graph: Graph, weights: dict[int, ConstTensor]) -> Graph:
    """``graph`` with each attribute value ``v`` for which ``weights[id(v)]`` exists
    replaced by that tensor."""

    def swap(v: Any) -> Any:
        if type(v) is tuple:
            return tuple(swap(x) for x in v)
        if type(v) is Graph:
            return with_weights(v, weights)
        return weights.get(id(v), v)

    nodes = tuple(
        Node(n.op, n.inputs, n.outputs, swap(n.attrs), n.name, n.loc) if n.attrs else n
        for n in graph.nodes
    )
    return Graph(
        graph.name,
        graph.types,
        graph.inputs,
        graph.outputs,
        nodes,
        graph.input_names,
        graph.output_names,
    )


def weight_array(buffer: Any, entry: WeightEntry) -> np.ndarray:
    """A read-only view of one weight's bytes (``buffer`` holds exactly them)."""
    dtype = numpy_dtype(entry.dtype)
    array = np.frombuffer(buffer, dtype.newbyteorder("<"))
    if not dtype.isnative:  # pragma: no cover - big-endian hosts copy once
        array = array.astype(dtype)
    return array.reshape(entry.shape)
