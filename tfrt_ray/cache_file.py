"""Small JSON caches in the user's cache directory (file hashes, kernel choices).

A cache is a speed-up, never a source of truth: one that is missing, corrupt or cannot be
written reads as empty and is skipped. Writes are atomic (a temp file, then a rename), so
two processes that store at once leave one whole file, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

# path -> (its stat when read, its entries): a stage compiling 72 products asks 72 times.
_read: dict[Path, tuple[tuple, Mapping[str, Any]]] = {}


def load(path: Path) -> Mapping[str, Any]:
    """The cache's entries, read-only ({} when it is missing or unreadable); parsed again
    only when the file changed (a store renames a new file over it)."""
    try:
        st = path.stat()
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        hit = _read.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    entries = MappingProxyType(data if isinstance(data, dict) else {})
    _read[path] = (stamp, entries)
    return entries


def store(path: Path, entries: dict[str, Any], max_entries: int) -> None:
    """Adds ``entries`` to the cache at ``path``, dropping the oldest beyond
    ``max_entries``; a cache that cannot be written is skipped."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = dict(load(path))
        data.update(entries)
        for old in list(data)[: max(0, len(data) - max_entries)]:  # oldest first
            del data[old]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
