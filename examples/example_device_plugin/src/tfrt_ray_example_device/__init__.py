"""The "toy" device type: an example tfrt-ray device plugin.

Its memory is simulated: a value on the device is a `ToyArray` (a NumPy array in a wrapper
that tfrt-ray never looks inside), so every tensor crosses `to_host` / `from_host`, as it
would on real hardware. Its kernels are plain NumPy. `CALLS` counts kernel calls per op.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tfrt_ray.core.device_types import DeviceType, LocalDevice
from tfrt_ray.core.kernels import kernel

NAME = "toy"
CALLS: Counter = Counter()


class ToyArray:
    """A tensor in the toy device's memory."""

    __slots__ = ("data",)

    def __init__(self, data: np.ndarray) -> None:
        self.data = data

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nbytes(self) -> int:  # the runtime counts resident weights with this
        return self.data.nbytes


def to_host(value: ToyArray) -> np.ndarray:
    return value.data


def from_host(array: np.ndarray) -> ToyArray:
    return ToyArray(np.array(array))  # a copy into "device memory"


@kernel("add", device_type=NAME)
def add(a: ToyArray, b: ToyArray) -> ToyArray:
    CALLS["add"] += 1
    return ToyArray(np.add(a.data, b.data))


@kernel("mul", device_type=NAME)
def mul(a: ToyArray, b: ToyArray) -> ToyArray:
    CALLS["mul"] += 1
    return ToyArray(np.multiply(a.data, b.data))


@kernel("relu", device_type=NAME)
def relu(x: ToyArray) -> ToyArray:
    CALLS["relu"] += 1
    return ToyArray(np.maximum(x.data, np.zeros((), x.dtype)))


@kernel("matmul", device_type=NAME)
def matmul(a: ToyArray, b: ToyArray) -> ToyArray:
    CALLS["matmul"] += 1
    return ToyArray(np.asarray(np.matmul(a.data, b.data)))


def discover() -> list[LocalDevice]:
    """The toy devices on this node: one simulated device with 1 GiB."""
    return [LocalDevice(index=0, mem_bytes=1 << 30, name="toy device 0")]


def device_type() -> DeviceType:
    """The entry point's object: what tfrt-ray needs to know about the toy device."""
    return DeviceType(
        name=NAME,
        discover=discover,
        resources={"num_cpus": 1},  # real hardware: {"resources": {"toy": 1}}
        to_host=to_host,
        from_host=from_host,
        flops_per_s=1e11,
        bytes_per_s=2e9,
        description="example plugin: NumPy kernels behind a simulated device memory",
    )
