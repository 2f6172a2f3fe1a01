"""Batch inference over Parquet: record batches in, one program step per batch, several
steps in flight, outputs appended to a checkpointed Parquet file.

A compiled program takes a fixed batch size B (its input shapes are fixed when it is
compiled), so every step gets exactly B rows: the last, shorter batch is padded to B by
repeating its last row, and the padded rows' outputs are dropped before writing. With
several programs (one per device, ``replicate``), batches go round-robin to them.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tfrt_ray.batch import ragged
from tfrt_ray.batch.checkpoint import CheckpointedOutput, file_identity, interrupts_deferred
from tfrt_ray.batch.columns import array_to_column, column_to_array, output_schema, pad_rows
from tfrt_ray.errors import InputError, ModelLoadError
from tfrt_ray.ir.graph import Graph


@dataclass
class BatchReport:
    """What a run did."""

    output: Path
    rows: int  # rows in the output
    rows_resumed: int  # rows a previous run had already committed
    batches: int  # steps run by this run
    seconds: float

    @property
    def rows_per_second(self) -> float:
        done = self.rows - self.rows_resumed
        return done / self.seconds if self.seconds > 0 else float("inf")


class InterruptedWhenDone(KeyboardInterrupt):
    """Ctrl-C that came while the finished output was being written: the output is
    complete (``report``), and the interrupt is passed on once it is."""

    def __init__(self, report: BatchReport) -> None:
        super().__init__()
        self.report = report


def run_parquet(
    programs: Sequence[Any],
    graph: Graph,
    input_path: str | Path,
    output_path: str | Path,
    *,
    batch_size: int,
    model_identity: dict | None = None,
    options: dict | None = None,
    keep: Sequence[str] = (),
    in_flight: int = 4,
    commit_every: int = 8,
    progress: bool | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> BatchReport:
    """Runs ``programs`` (compiled from ``graph`` for ``batch_size`` rows) over every row of
    the Parquet file ``input_path``; writes ``output_path``. See the package docstring.

    Args:
        programs: one or more compiled programs of the same graph (`Program`, or anything
            with ``submit(feeds).result()`` or ``run(feeds)`` returning outputs in order).
        graph: their graph: input and output names and types.
        options: further options that change the results (opt level, strategy); a
            resume with other options (or another batch size, other kept columns) is
            refused: the output is then what one run with one set of options writes.
        keep: input columns copied to the output, before the model's outputs.
        in_flight: steps submitted before the oldest one is awaited.
        commit_every: batches per checkpoint (see `CheckpointedOutput`).
        progress: show a progress bar (default: only when stderr is a terminal).
        on_batch: called with the number of batches written so far (after each batch).
    """
    input_path = Path(input_path)
    if not input_path.is_file():
        raise InputError(f"input file '{input_path}' does not exist", hint="check the path")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    try:
        source = pq.ParquetFile(input_path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"cannot read '{input_path}' as Parquet: {exc}",
                         hint="give a Parquet file (data.parquet)") from None
    names = list(graph.input_names)
    in_types = [graph.types[v] for v in graph.inputs]
    out_types = [graph.types[v] for v in graph.outputs]
    columns = set(source.schema_arrow.names)
    missing = [n for n in [*names, *keep] if n not in columns
               and not (ragged.is_mask(n) and n in names)]  # built from the ragged ids
    if missing:
        raise InputError(
            f"'{input_path}' has no column(s) {missing}; its columns are "
            f"{sorted(columns)}",
            hint=f"the model's inputs are {names}: name the columns after them",
        )
    for name, t in zip(names, in_types, strict=True):
        if t.rank == 0:
            raise ModelLoadError(f"input '{name}' is a scalar, not one value per row",
                                 hint="batch inference needs inputs of shape (batch, ...)")
    kept = pa.schema([source.schema_arrow.field(k) for k in keep])
    schema = output_schema(graph.output_names, out_types, kept)
    identity = {"input": {**file_identity(input_path), "rows": source.metadata.num_rows},
                "model": model_identity or {},
                "options": {"batch_size": batch_size, "keep": list(keep),
                            "outputs": list(graph.output_names), **(options or {})}}
    out = CheckpointedOutput(output_path, identity, schema).open()
    total, resumed = source.metadata.num_rows, out.rows
    bar = _progress_bar(total, out.rows, progress)
    start = time.perf_counter()
    done = 0
    pending: deque = deque()
    try:
        present = [n for n in [*names, *keep] if n in columns]
        batches = _batches(source, out.rows, batch_size, present)
        first = out.rows
        for i, table in enumerate(batches):
            rows = table.num_rows
            feeds = {n: pad_rows(column_to_array(table.column(n), n, t, first)
                                 if n in table.column_names
                                 else ragged.missing_mask(table, n, t), batch_size)
                     for n, t in zip(names, in_types, strict=True)}
            first += rows
            step = _submit(programs[i % len(programs)], feeds)
            pending.append((step, rows, [table.column(k) for k in keep]))
            while len(pending) >= max(1, in_flight):
                done += _drain(pending, out, schema, bar, batch_size)
                _after(done, out, commit_every, on_batch)
        while pending:
            done += _drain(pending, out, schema, bar, batch_size)
            _after(done, out, commit_every, on_batch)
    except BaseException:
        # Rows already written are whole batches: keep them, so a rerun resumes after them.
        try:
            out.commit()
        except Exception:  # noqa: BLE001 - the first error is the one to report
            out.abandon()
        raise
    finally:
        bar.close()
    report = None
    try:
        with interrupts_deferred():  # a Ctrl-C meanwhile is raised after, as below
            out.finish()
            report = BatchReport(out.final, total, resumed, done, time.perf_counter() - start)
    except KeyboardInterrupt:
        if report is None:  # finishing failed as well
            raise
        raise InterruptedWhenDone(report) from None
    return report


def _after(done: int, out: CheckpointedOutput, every: int, on_batch) -> None:
    if done % max(1, every) == 0:
        out.commit()
    if on_batch is not None:
        on_batch(done)


def _submit(program: Any, feeds: dict[str, np.ndarray]) -> Any:
    if hasattr(program, "submit"):
        return program.submit(feeds)
    return _Done(program.run(feeds))


class _Done:
    def __init__(self, outputs: Any) -> None:
        self.outputs = outputs

    def result(self, timeout: float | None = None) -> list:
        outs = self.outputs
        return list(outs.values()) if isinstance(outs, dict) else list(outs)


def _drain(pending: deque, out: CheckpointedOutput, schema: pa.Schema, bar,
           batch_size: int) -> int:
    step, rows, kept = pending.popleft()
    arrays = step.result()
    n_kept = len(kept)
    cols = list(kept)
    for field, array in zip(list(schema)[n_kept:], arrays, strict=True):
        array = np.asarray(array)
        if array.ndim == 0 or array.shape[0] != batch_size:
            raise ModelLoadError(
                f"output '{field.name}' has shape {array.shape}; its first dimension is not "
                f"the batch ({batch_size})",
                hint="batch inference needs outputs with one row per input row",
            )
        cols.append(array_to_column(array[:rows], field.type))
    out.write(pa.RecordBatch.from_arrays([_array(c) for c in cols], schema=schema))
    bar.update(rows)
    return 1


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _batches(source: pq.ParquetFile, skip: int, size: int,
             columns: list[str]) -> Iterator[pa.Table]:
    """Tables of exactly ``size`` rows (the last may be shorter), after ``skip`` rows."""
    groups, seen = [], 0
    for i in range(source.num_row_groups):
        n = source.metadata.row_group(i).num_rows
        if not groups and seen + n <= skip:  # wholly committed: not read at all
            seen += n
            continue
        groups.append(i)
    skip -= seen
    buf: list[pa.RecordBatch] = []
    buffered = 0
    if not groups:
        return
    for rb in source.iter_batches(batch_size=size, row_groups=groups, columns=columns):
        if skip:
            cut = min(skip, rb.num_rows)
            rb, skip = rb.slice(cut), skip - cut
            if not rb.num_rows:
                continue
        buf.append(rb)
        buffered += rb.num_rows
        while buffered >= size:
            table = pa.Table.from_batches(buf)
            yield table.slice(0, size)
            rest = table.slice(size)
            buf, buffered = rest.to_batches(), rest.num_rows
    if buffered:
        yield pa.Table.from_batches(buf)


def _progress_bar(total: int, initial: int, show: bool | None):
    from tqdm import tqdm

    if show is None:
        show = sys.stderr.isatty()
    return tqdm(total=total, initial=initial, unit="rows", unit_scale=True,
                disable=not show, file=sys.stderr, dynamic_ncols=True)
