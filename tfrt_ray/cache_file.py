"""Small JSON caches in the user's cache directory (file hashes, kernel choices).

A cache is a speed-up, never a source of truth: one that is missing, corrupt or cannot be
written reads as empty and is skipped. Writes are atomic (a temp file, then a rename), so
two processes that store at once leave one whole file, never a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any


def load(path: Path) -> dict[str, Any]:
    """The cache's entries ({} when it is missing or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def store(path: Path, entries: dict[str, Any], max_entries: int) -> None:
    """Adds ``entries`` to the cache at ``path``, dropping the oldest beyond
    ``max_entries``; a cache that cannot be written is skipped."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = load(path)
        data.update(entries)
        for old in list(data)[: max(0, len(data) - max_entries)]:  # oldest first
            del data[old]
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, path)
