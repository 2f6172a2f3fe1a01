"""The kernel registry: plain functions keyed by (op, device type).

A kernel takes its inputs positionally (numpy arrays, or None for a missing optional
input) and the op's attributes as keywords, and returns an array, or a tuple of arrays
for an op with several outputs. Kernels never see Ray, ObjectRefs or Arrow.

The NumPy reference kernels are registered under ``REFERENCE``; every device type whose
`falls_back_to_reference` is true (the CPU device) uses them where it has no kernel of
its own.
"""

from __future__ import annotations

from collections.abc import Callable

from tfrt_ray.errors import KernelNotFoundError

REFERENCE = "reference"
_KERNELS: dict[tuple[str, str], Callable] = {}
_REFERENCE_FALLBACK: set[str] = {"cpu"}


def kernel(op: str, device_type: str = REFERENCE) -> Callable[[Callable], Callable]:
    """Registers the decorated function as the kernel of ``op`` on ``device_type``."""

    def register(fn: Callable) -> Callable:
        key = (op, device_type)
        if key in _KERNELS:
            raise ValueError(f"kernel for {key} is registered twice")
        _KERNELS[key] = fn
        return fn

    return register


def register_device_type(device_type: str, falls_back_to_reference: bool) -> None:
    if falls_back_to_reference:
        _REFERENCE_FALLBACK.add(device_type)


def find_kernel(op: str, device_type: str) -> Callable | None:
    fn = _KERNELS.get((op, device_type))
    if fn is None and device_type in _REFERENCE_FALLBACK:
        fn = _KERNELS.get((op, REFERENCE))
    return fn


def get_kernel(op: str, device_type: str) -> Callable:
    fn = find_kernel(op, device_type)
    if fn is None:
        raise KernelNotFoundError(
            f"no kernel for op '{op}' on device type '{device_type}'",
            op=op,
            hint="place the op on a device type that has it (the CPU device has every op)",
        )
    return fn


def supported_ops(device_type: str) -> set[str]:
    ops = {o for (o, d) in _KERNELS if d == device_type}
    if device_type in _REFERENCE_FALLBACK:
        ops |= {o for (o, d) in _KERNELS if d == REFERENCE}
    return ops
