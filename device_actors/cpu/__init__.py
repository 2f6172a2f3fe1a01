"""The "cpu" device type: the core's NumPy reference kernels, one device per core.

Its stage passes run after a stage is lowered (`tfrt_ray.core.device_types.compile_stage`):
the oneDNN layout lowering (`onednn_lowering`, kernels chosen by a timed trial in
`autotune`), then memory planning (`memory_plan`)."""

from __future__ import annotations

import functools
import os

from tfrt_ray.core.device_types import DeviceType, LocalDevice


def host_memory() -> int:
    """The node's physical memory in bytes (4 GiB where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 4 << 30


def _discover_cpus() -> list[LocalDevice]:
    n = os.cpu_count() or 1
    mem = host_memory() // n
    return [LocalDevice(i, mem, f"cpu core {i}") for i in range(n)]


def _lower_to_onednn(stage, types) -> None:
    from device_actors.cpu import onednn
    from device_actors.cpu.onednn_lowering import lower_to_onednn

    stage.onednn_ops = lower_to_onednn(stage, types)  # ops the layout moved to oneDNN
    if stage.onednn_ops:  # oneDNN's threads are process-wide: set them for each run
        stage.before_run.append(functools.partial(onednn.set_threads, stage.cores))


def _plan_memory(stage, types) -> None:
    from device_actors.cpu.memory_plan import plan_memory

    # steps that update a dying input, and that write into a dead value's buffer
    stage.in_place_steps, stage.reused_buffers = plan_memory(stage, types)


def device_type() -> DeviceType:
    return DeviceType(
        name="cpu",
        discover=_discover_cpus,
        resources={"num_cpus": 1},
        flops_per_s=2e10,
        bytes_per_s=5e9,
        falls_back_to_reference=True,
        stage_passes=(_lower_to_onednn, _plan_memory),
        description="NumPy reference kernels; one device per CPU core",
    )
