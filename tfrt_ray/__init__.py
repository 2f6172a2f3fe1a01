"""tfrt-ray: a TFRT-style asynchronous tensor runtime on Ray.

Eager ops (``tr.tensor``, ``tr.add``, Python operators) run at once on the current
device and return futures; ``@tr.function`` traces a Python function into a graph once
per input signature and runs it as a compiled schedule. See README.md.

The public names are loaded on first use (PEP 562), so importing one submodule (the
kernels in a device actor, say) never loads the whole front end.
"""

from __future__ import annotations

from typing import Any

from tfrt_ray._version import __version__  # noqa: F401  (tfrt_ray.__version__)


def _public() -> dict[str, Any]:
    from tfrt_ray.api import PUBLIC

    return PUBLIC


def __getattr__(name: str) -> Any:
    import importlib.util

    if importlib.util.find_spec(f"{__name__}.{name}") is not None:  # a submodule
        return importlib.import_module(f"{__name__}.{name}")
    public = _public()
    if name in public:
        return public[name]
    raise AttributeError(f"module 'tfrt_ray' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_public()))
