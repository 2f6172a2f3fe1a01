"""Debug switches: the one place tfrt-ray reads its environment variables.

``TFRT_RAY_CHECK_EAGER=1`` makes eager execution on the host also run each op's shape and
dtype rule and compare it with what the kernel produced (slower; for testing the op specs).
``TFRT_RAY_PRINT_IR_AFTER_ALL=1`` prints the graph after every compiler pass.
``TFRT_RAY_ONEDNN=0`` keeps the CPU device off oneDNN (NumPy kernels everywhere);
``TFRT_RAY_ONEDNN=/path/to/libdnnl.so.3`` names the library to load instead of the wheel's.
``TFRT_RAY_HASH_CACHE=/path/file.json`` is where the content hashes of batch inputs and
models are cached (default ``$XDG_CACHE_HOME/tfrt-ray/file-hashes.json``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@dataclass
class DebugConfig:
    check_eager: bool = False
    print_ir_after_all: bool = False
    onednn: str = ""  # "" = the installed library if any; "0" = off; else a library path


debug = DebugConfig(
    check_eager=_flag("TFRT_RAY_CHECK_EAGER"),
    print_ir_after_all=_flag("TFRT_RAY_PRINT_IR_AFTER_ALL"),
    onednn=os.environ.get("TFRT_RAY_ONEDNN", "").strip(),
)


def hash_cache_path() -> Path:
    """The JSON cache of file hashes (read at each call, so a test may point it away)."""
    override = os.environ.get("TFRT_RAY_HASH_CACHE", "").strip()
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tfrt-ray" / "file-hashes.json"
