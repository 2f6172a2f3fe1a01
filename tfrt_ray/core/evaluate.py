"""`evaluate`: one op on host arrays, outside any stage. What the compiler uses to evaluate
constants (the ONNX importer's folding, `passes.fold_constants`), with one rule for a
kernel whose result disagrees with the op's spec."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tfrt_ray.core.kernels import get_kernel
from tfrt_ray.errors import OpExecutionError, TfrtRayError
from tfrt_ray.ir.types import TensorType


def evaluate(op: str, args: Sequence[Any], attrs: Mapping[str, Any],
             out_types: Sequence[TensorType], device_type: str = "cpu") -> tuple[np.ndarray, ...]:
    """``op``'s outputs for ``args``, each an array of exactly its ``out_types`` entry.

    The spec decides the dtype: a kernel that computes in another one (NumPy promoting a
    scalar, say) is cast to it, as a stage's consumers would read it. A result of another
    shape is a kernel bug and raises `OpExecutionError`, as does a kernel that raises
    (a `TfrtRayError` from the kernel is raised as it is)."""
    try:
        with np.errstate(all="ignore"):
            out = get_kernel(op, device_type)(*args, **attrs)
    except TfrtRayError:
        raise
    except Exception as exc:  # noqa: BLE001 - the caller says which node it was
        raise OpExecutionError(f"kernel raised {type(exc).__name__}: {exc}", op=op,
                               inputs=[str(TensorType.of(np.asarray(a))) for a in args]) from exc
    outs = tuple(out) if len(out_types) > 1 else (out,)
    result = []
    for array, want in zip(outs, out_types, strict=True):
        array = np.asarray(array)
        if want.is_static and array.shape != tuple(want.shape):
            raise OpExecutionError(
                f"the kernel returned shape {array.shape} where the op's rule gives {want}",
                op=op, hint="this is a kernel bug; please report it with the op's inputs")
        result.append(array if array.dtype == want.np_dtype else array.astype(want.np_dtype))
    return tuple(result)
