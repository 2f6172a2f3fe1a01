"""A Parquet output written in checkpoints, so an interrupted run resumes where it stopped.

While a run is going, ``preds.parquet`` is being built as

- ``preds.parquet.partial/``: committed segments ``part-00000.parquet``, ... each a whole
  Parquet file (its footer written, fsync'ed, then renamed into place), plus the one
  being written (``*.tmp``);
- ``preds.parquet.partial.json``: the sidecar, replaced atomically after each segment:
  the rows committed, the segment names, and the identity of the input and the model.

A commit is "segment renamed, then sidecar replaced"; whatever the sidecar does not list
(a segment of a killed run, even a renamed one) is deleted on resume, so rows are never
duplicated, and a kill -9 loses at most the rows since the last commit. On resume the
input's identity (size, row count and a SHA-256 of every byte, cached by path, size,
mtime and inode), the model's and the run's options must be the same, or the run refuses.
When every row is done, the
segments are joined into ``preds.parquet`` (renamed into place) and the partial files go.

Ctrl-C waits while a batch is written, a commit is made or the file is finished
(`interrupts_deferred`), so a row is counted exactly when it is in a committed segment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tfrt_ray import cache_file
from tfrt_ray.config import hash_cache_path
from tfrt_ray.errors import InputError

VERSION = 2  # 2: files are identified by a hash of every byte
_CHUNK = 1 << 20  # bytes read at a time while hashing
_CACHE_ENTRIES = 4096  # files whose hash the cache keeps


def file_identity(path: str | Path, head: bool = False) -> dict[str, Any]:
    """Size, mtime and a SHA-256 of every byte, cached by (path, size, mtime, inode).

    ``head`` is accepted for compatibility; the whole file is always hashed.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}|{st.st_ino}"
    cache = hash_cache_path()
    digest = cache_file.load(cache).get(key)
    if not isinstance(digest, str):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
        digest = h.hexdigest()
        cache_file.store(cache, {key: digest}, _CACHE_ENTRIES)
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
            "sha256": digest}


@contextlib.contextmanager
def interrupts_deferred():
    """Runs the block whole: a SIGINT meanwhile is handled once it is over (by the handler
    that was in place, so Ctrl-C still raises KeyboardInterrupt, just afterwards). Off the
    main thread, where Python delivers no signals, the block just runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            if callable(previous):
                previous(signal.SIGINT, None)
            elif previous == signal.SIG_DFL:
                signal.raise_signal(signal.SIGINT)


def same_file(a: dict, b: dict) -> bool:
    """Same content (the path and mtime may differ)."""
    return bool(a.get("sha256")) and all(
        a.get(k) == b.get(k) for k in ("size", "sha256", "rows"))


class CheckpointedOutput:
    """The output of one run. ``open`` resumes a partial output or starts a new one."""

    def __init__(self, final: str | Path, identity: dict[str, Any], schema: pa.Schema) -> None:
        self.final = Path(final)
        self.dir = self.final.with_name(self.final.name + ".partial")
        self.sidecar = self.final.with_name(self.final.name + ".partial.json")
        self.identity = identity
        self.schema = schema
        self.rows = 0  # committed
        self.segments: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self._tmp: Path | None = None
        self._pending = 0  # rows written to the open segment

    @property
    def resumed(self) -> bool:
        return self.rows > 0

    def open(self) -> CheckpointedOutput:
        if self.sidecar.exists():
            state = json.loads(self.sidecar.read_text())
            self._check(state)
            self.rows = int(state["rows"])
            self.segments = list(state["segments"])
        elif self.dir.exists():  # a run that never committed anything
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for leftover in set(os.listdir(self.dir)) - set(self.segments):
            (self.dir / leftover).unlink()
        missing = [s for s in self.segments if not (self.dir / s).exists()]
        if missing:
            raise InputError(
                f"'{self.dir}' lacks the committed segments {missing}",
                hint=f"delete '{self.dir}' and '{self.sidecar}' to start over",
            )
        return self

    def _check(self, state: dict) -> None:
        start_over = (f"delete '{self.dir}' and '{self.sidecar}' (or pass --overwrite) "
                      "to start over")
        if state.get("version") != VERSION:
            raise InputError(f"'{self.sidecar}' was written by another version of tfrt-ray",
                             hint=start_over)
        for key, what in (("input", "input file"), ("model", "model")):
            old, new = state.get(key) or {}, self.identity.get(key) or {}
            if not same_file(old, new):
                raise InputError(
                    f"the {what} '{new.get('path')}' is not the one the partial output "
                    f"'{self.dir}' was started from (then: {_describe(old)}; now: "
                    f"{_describe(new)})",
                    hint=f"restore the original {what} to resume, or {start_over}",
                )
        old_opts, new_opts = state.get("options") or {}, self.identity.get("options") or {}
        if old_opts != new_opts:
            changed = sorted(k for k in {*old_opts, *new_opts}
                             if old_opts.get(k) != new_opts.get(k))
            raise InputError(
                f"the options {changed} differ from those the partial output '{self.dir}' "
                f"was started with (then: {old_opts}; now: {new_opts})",
                hint=f"run with the options of the first run to resume, or {start_over}",
            )
        if state.get("schema") != self.schema.to_string():
            raise InputError(
                f"the partial output '{self.dir}' has other columns than this run writes",
                hint=f"run with the options of the first run (--keep), or {start_over}",
            )

    # ---- writing ------------------------------------------------------------------

    def write(self, batch: pa.RecordBatch) -> None:
        with interrupts_deferred():  # the batch is in the segment and counted, or neither
            if self._writer is None:
                self._tmp = self.dir / f"part-{len(self.segments):05d}.parquet.tmp"
                self._writer = pq.ParquetWriter(self._tmp, self.schema)
            self._writer.write_batch(batch)
            self._pending += batch.num_rows

    def commit(self) -> None:
        """Makes the rows written so far durable (a no-op when there are none)."""
        with interrupts_deferred():
            self._commit()

    def _commit(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        _fsync(self._tmp)
        name = self._tmp.name.removesuffix(".tmp")
        os.replace(self._tmp, self.dir / name)
        self.segments.append(name)
        self.rows += self._pending
        self._pending = 0
        state = {"version": VERSION, "rows": self.rows, "segments": self.segments,
                 "schema": self.schema.to_string(), **self.identity}
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        _fsync(tmp)
        os.replace(tmp, self.sidecar)

    def abandon(self) -> None:
        """Drops the open segment's uncommitted rows (used when the run failed)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
            self._writer = None
            with contextlib.suppress(OSError):
                self._tmp.unlink()
            self._pending = 0

    def finish(self) -> Path:
        """Commits, joins the segments into the final file, removes the partial files."""
        with interrupts_deferred():
            return self._finish()

    def _finish(self) -> Path:
        self._commit()
        tmp = self.final.with_name(self.final.name + ".tmp")
        if not self.segments:
            pq.write_table(self.schema.empty_table(), tmp)
        elif len(self.segments) == 1:
            os.replace(self.dir / self.segments[0], tmp)
        else:
            with pq.ParquetWriter(tmp, self.schema) as writer:
                for seg in self.segments:
                    source = pq.ParquetFile(self.dir / seg)
                    for i in range(source.num_row_groups):
                        writer.write_table(source.read_row_group(i))
        os.replace(tmp, self.final)
        shutil.rmtree(self.dir, ignore_errors=True)
        self.sidecar.unlink(missing_ok=True)
        return self.final


def _describe(identity: dict) -> str:
    if not identity:
        return "unknown"
    rows = f", {identity['rows']} rows" if "rows" in identity else ""
    return f"{identity.get('size')} bytes{rows}, sha256 {str(identity.get('sha256'))[:12]}"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
