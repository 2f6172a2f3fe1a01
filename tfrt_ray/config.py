"""Debug switches: the one place tfrt-ray reads its environment variables.

``TFRT_RAY_CHECK_EAGER=1`` makes eager execution on the host also run each op's shape and
dtype rule and compare it with what the kernel produced (slower; for testing the op specs).
``TFRT_RAY_PRINT_IR_AFTER_ALL=1`` prints the graph after every compiler pass.
``TFRT_RAY_ONEDNN=0`` keeps the CPU device off oneDNN (NumPy kernels everywhere);
``TFRT_RAY_ONEDNN=/path/to/libdnnl.so.3`` names the library to load instead of the wheel's.
``TFRT_RAY_HASH_CACHE=/path/file.json`` is where the content hashes of batch inputs and
models are cached (default ``$XDG_CACHE_HOME/tfrt-ray/file-hashes.json``).
``TFRT_RAY_KERNELS=rule`` makes the CPU device choose kernels by its fixed rule instead of
a timed trial on this machine (``device_actors.cpu.autotune``); ``TFRT_RAY_AUTOTUNE_CACHE`` is
where measured choices are kept (default ``$XDG_CACHE_HOME/tfrt-ray/kernel-choices.json``)
and ``TFRT_RAY_AUTOTUNE_BUDGET_S`` bounds the trials' time per process (default 10 s;
past it, the rule decides).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tfrt_ray.errors import ConfigError


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


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")) / "tfrt-ray"


def hash_cache_path() -> Path:
    """The JSON cache of file hashes (read at each call, so a test may point it away)."""
    override = os.environ.get("TFRT_RAY_HASH_CACHE", "").strip()
    return Path(override) if override else _cache_dir() / "file-hashes.json"


def kernel_choice() -> str:
    """How the CPU device picks among kernels: "measure" (the default) or "rule"."""
    return "rule" if os.environ.get("TFRT_RAY_KERNELS", "").strip().lower() == "rule" \
        else "measure"


def autotune_cache_path() -> Path:
    """The JSON cache of measured kernel choices."""
    override = os.environ.get("TFRT_RAY_AUTOTUNE_CACHE", "").strip()
    return Path(override) if override else _cache_dir() / "kernel-choices.json"


def autotune_budget_s() -> float:
    """Seconds of kernel trials a process may spend; past them the rule decides."""
    raw = os.environ.get("TFRT_RAY_AUTOTUNE_BUDGET_S", "").strip()
    try:
        return max(0.0, float(raw)) if raw else 10.0
    except ValueError:
        raise ConfigError(f"TFRT_RAY_AUTOTUNE_BUDGET_S={raw!r} is not a number of seconds; "
                         "unset it or give e.g. 10") from None
