"""Pluggable device types.

A device type is described by a `DeviceType`: its name, how to find its devices on this node
(`discover`), the Ray resources its actor needs, its kernels (registered with
``tfrt_ray.core.kernels.kernel(op, device_type=name)``) or a stage compiler for devices that
compile whole subgraphs, how its values move to and from host NumPy arrays, and its cost
figures for the scheduler.

Built-in types ("cpu", "ort", "gpu") are listed here; any other comes from a package that
declares an entry point in the group ``tfrt_ray.devices`` whose object is a `DeviceType` or a
callable returning one::

    [project.entry-points."tfrt_ray.devices"]
    toy = "tfrt_ray_example_device:device_type"

`load_plugins()` loads them once (a broken plugin is a warning naming its package, never a
crash); `supports(op, device_type)` is what the scheduler asks; `compile_stage` and
`eager_kernel` are what a `DeviceRuntime` runs.
"""

from __future__ import annotations

import functools
import importlib
import threading
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import numpy as np

from tfrt_ray.core.executor import CompiledStage
from tfrt_ray.core.host_boundary import HostBoundaryStage
from tfrt_ray.core.kernels import find_kernel, get_kernel, kernel, register_device_type
from tfrt_ray.core.kernels import supported_ops as _kernel_ops
from tfrt_ray.core.stage import Stage, as_stage
from tfrt_ray.errors import DeviceError, KernelNotFoundError, TfrtRayError
from tfrt_ray.ir.types import TensorType

ENTRY_POINT_GROUP = "tfrt_ray.devices"


@dataclass(frozen=True)
class LocalDevice:
    """One device of a type found on this node."""

    index: int
    mem_bytes: int
    name: str = ""


def _no_devices() -> list[LocalDevice]:
    return []


@dataclass
class DeviceType:
    """What tfrt-ray needs to know about a kind of device.

    Attributes:
        name: the device type (``DeviceSpec.type``, ``kernel(op, device_type=name)``).
        discover: the devices of this type on the node it runs on; [] when there are none.
        resources: Ray actor options a device actor of this type needs, e.g.
            ``{"num_gpus": 1}`` or ``{"resources": {"my_accel": 1}}``.
        kernels: op -> kernel, registered under ``name`` when the type is loaded (a plugin may
            instead register kernels itself with the ``kernel`` decorator at import).
        compile_stage: for devices that compile whole subgraphs: a callable with
            `CompiledStage`'s signature ``(nodes, types, inputs, outputs, device_type,
            device_id, cores)`` returning an object with ``run(inputs) -> outputs``,
            ``run_checked(inputs, timings=None, timeline=None)`` and ``template`` (its
            resident constants); profiled runs call ``run_profiled(inputs, timings,
            timeline)`` where the object has one, else ``run_checked``.
        stage_ops: the ops ``compile_stage`` can compile.
        to_host / from_host: a device value -> host ``np.ndarray`` and back; None when the
            type's values already are host NumPy arrays.
        flops_per_s: compute speed of one device, for the scheduler's cost model.
        bytes_per_s: speed of a copy between the device's memory and the host.
        falls_back_to_reference: run the NumPy reference kernel for ops without a kernel of
            its own (only for types whose values are host NumPy arrays).
        stage_passes: ``pass(stage, types)`` callables run in order on each `CompiledStage`
            of this type after it is lowered (the CPU's: oneDNN layout, memory planning).
            They rewrite its sequential steps, so a stage that runs its ops on a thread pool
            skips them.
        source: where the type came from (filled in by `load_plugins`).
    """

    name: str
    discover: Callable[[], Sequence[LocalDevice]] = _no_devices
    resources: Mapping[str, Any] = field(default_factory=dict)
    kernels: Mapping[str, Callable] = field(default_factory=dict)
    compile_stage: Callable | None = None
    stage_ops: frozenset[str] = frozenset()
    to_host: Callable[[Any], np.ndarray] | None = None
    from_host: Callable[[np.ndarray], Any] | None = None
    flops_per_s: float = 2e10
    bytes_per_s: float = 5e9
    falls_back_to_reference: bool = False
    stage_passes: tuple[Callable[[Any, Sequence[TensorType]], None], ...] = ()
    source: str = ""
    description: str = ""

    @property
    def moves_values(self) -> bool:
        return self.to_host is not None or self.from_host is not None

    def ops(self) -> set[str]:
        """The ops this device type runs."""
        if self.compile_stage is not None:
            return set(self.stage_ops)
        return _kernel_ops(self.name)


# Built-in types: name -> "module:factory" (loaded like an entry point, but always present).
BUILTINS = {
    "cpu": "device_actors.cpu:device_type",
    "ort": "device_actors.ort.device:device_type",
    "gpu": "device_actors.gpu.device:device_type",
}

_lock = threading.RLock()
_types: dict[str, DeviceType] = {}
_broken: dict[str, dict] = {}  # entry key -> {"name", "source", "error"}
_seen: set[tuple[str, str]] = set()


def _resolve(value: str) -> Any:
    module, _, attr = value.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def _instantiate(obj: Any) -> DeviceType:
    if not isinstance(obj, DeviceType) and callable(obj):
        obj = obj()
    if isinstance(obj, Mapping):
        obj = DeviceType(**obj)
    if not isinstance(obj, DeviceType):
        raise TypeError(f"expected a DeviceType (or a callable returning one), got {obj!r}")
    if not obj.name or not isinstance(obj.name, str):
        raise TypeError("the device type has no name")
    return obj


def register(dt: DeviceType, source: str = "built-in") -> DeviceType:
    """Adds a device type: registers its kernels and its reference fallback.

    Raises ValueError when a type of that name is already registered from elsewhere.
    """
    with _lock:
        old = _types.get(dt.name)
        if old is not None:
            if old is dt:
                return dt
            raise ValueError(f"device type '{dt.name}' is already provided by {old.source}")
        dt.source = dt.source or source
        own = _kernel_ops(dt.name)  # before its reference fallback is switched on
        for op, fn in dt.kernels.items():
            if op in own:
                continue  # the plugin's import registered it already
            kernel(op, device_type=dt.name)(fn)
        if dt.moves_values and dt.compile_stage is None and "constant" not in own:
            _register_constant(dt)
        register_device_type(dt.name, dt.falls_back_to_reference)
        _types[dt.name] = dt
        return dt


def _register_constant(dt: DeviceType) -> None:
    """Every type whose values live off the host gets ``constant`` through its from_host,
    so a stage's weights are made resident on the device once, at load."""
    to_device = dt.from_host

    def constant(*, value):
        return to_device(value.array)

    kernel("constant", device_type=dt.name)(constant)


def _warn_broken(key: tuple[str, str], name: str, source: str, exc: BaseException) -> None:
    _broken[f"{source}:{name}"] = {"name": name, "source": source, "error": repr(exc)}
    warnings.warn(
        f"tfrt-ray device plugin '{name}' from package '{source}' could not be loaded and is "
        f"ignored: {type(exc).__name__}: {exc}",
        RuntimeWarning,
        stacklevel=3,
    )


def load_plugins() -> dict[str, DeviceType]:
    """Loads the built-in device types and every ``tfrt_ray.devices`` entry point not loaded
    yet; returns name -> DeviceType. Idempotent (call it again after installing a plugin).
    A plugin that fails to load is a RuntimeWarning naming its package, and is skipped."""
    with _lock:
        for name, value in BUILTINS.items():
            key = ("built-in", value)
            if key in _seen:
                continue
            _seen.add(key)
            try:
                register(_instantiate(_resolve(value)), "built-in")
            except Exception as exc:  # noqa: BLE001 - a broken type never stops the runtime
                _warn_broken(key, name, "tfrt-ray", exc)
        try:
            eps = list(entry_points(group=ENTRY_POINT_GROUP))
        except Exception as exc:  # noqa: BLE001
            warnings.warn(f"tfrt-ray could not list device plugins: {exc}", RuntimeWarning,
                          stacklevel=2)
            eps = []
        for ep in eps:
            dist = getattr(ep, "dist", None)
            source = dist.metadata["Name"] if dist is not None else ep.value.split(":")[0]
            key = (source, f"{ep.name}={ep.value}")
            if key in _seen:
                continue
            _seen.add(key)
            try:
                register(_instantiate(ep.load()), source)
            except Exception as exc:  # noqa: BLE001
                _warn_broken(key, ep.name, source, exc)
        return dict(_types)


def get_device_type(name: str) -> DeviceType:
    """The described device type ``name``; raises DeviceError if none is."""
    dt = _types.get(name)
    if dt is None:
        dt = load_plugins().get(name)
    if dt is None:
        raise DeviceError(
            f"no device type '{name}' is registered",
            hint=f"the device types are {sorted(_types)}; install the plugin package that "
            "provides it (its entry point group is 'tfrt_ray.devices')",
        )
    return dt


def _find(name: str) -> DeviceType | None:
    dt = _types.get(name)
    if dt is None and not _seen:
        dt = load_plugins().get(name)
    return dt


def safe_discover(dt: DeviceType) -> list[LocalDevice]:
    """``dt.discover()``, or [] (with a warning) when it raises."""
    try:
        return list(dt.discover())
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"device type '{dt.name}' ({dt.source}): discover() failed: {exc}",
                      RuntimeWarning, stacklevel=2)
        return []


def list_device_types() -> list[dict]:
    """One row per device type (for ``tfrt-ray devices``): name, source, devices found on
    this node, their memory, the ops it supports, its actor resources and cost figures;
    plugins that failed to load are listed with their error."""
    rows = []
    for name, dt in sorted(load_plugins().items()):
        found = safe_discover(dt)
        rows.append({
            "name": name,
            "source": dt.source,
            "devices": len(found),
            "mem_bytes": sum(d.mem_bytes for d in found),
            "ops": len(dt.ops()),
            "stage_compiler": dt.compile_stage is not None,
            "resources": dict(dt.resources),
            "flops_per_s": dt.flops_per_s,
            "bytes_per_s": dt.bytes_per_s,
            "description": dt.description,
        })
    rows += [{**b, "devices": 0, "ops": 0} for b in _broken.values()]
    return rows


def supports(op: str, device_type: str) -> bool:
    """Whether ``device_type`` runs ``op``: a kernel is registered for it (or its reference
    fallback), or its stage compiler can compile it. Pass this to `scheduler.plan` /
    `scheduler.place` so ops are placed only where they can run."""
    dt = _find(device_type)
    if dt is not None and dt.compile_stage is not None:
        return op in dt.stage_ops
    return find_kernel(op, device_type) is not None


# ---- running on a device type ----------------------------------------------------------------


def compile_stage(nodes, types, inputs, outputs, device_type: str = "cpu",
                  device_id: str = "host:0", cores: int = 1) -> Stage:
    """A stage compiled for ``device_type``: its stage compiler when it has one, else a
    `CompiledStage` over its kernels, wrapped in the host boundary when its values live off
    the host. Same arguments as `CompiledStage`."""
    dt = _find(device_type)
    if dt is not None and dt.compile_stage:
        stage = as_stage(
            dt.compile_stage(nodes, types, inputs, outputs, device_type, device_id, cores),
            [types[v] for v in outputs], device_type)
    else:
        stage = CompiledStage(nodes, types, inputs, outputs, device_type, device_id, cores)
        if dt is not None and stage.concurrent is None:
            for stage_pass in dt.stage_passes:
                stage_pass(stage, types)
    if dt is not None and dt.moves_values:
        stage = HostBoundaryStage(stage, dt.from_host, dt.to_host, device_id)
    return stage


@functools.lru_cache(maxsize=256)
def _one_op_stage(op: str, device_type: str, attrs: tuple, types: tuple) -> Stage:
    """A stage of the one op ``op`` (frozen ``attrs``, input ``types``), compiled once for
    eager ops on a stage-compiling type; the least recently used are dropped."""
    from tfrt_ray.ir.graph import GraphBuilder

    b = GraphBuilder(op)
    outs = b.add_node(op, [b.add_input(t) for t in types], dict(attrs))
    g = b.build(outs)
    return compile_stage(g.nodes, g.types, g.inputs, g.outputs, device_type,
                         f"{device_type}:eager", 1)


def eager_kernel(op: str, device_type: str) -> Callable:
    """A callable ``(*host_inputs, **attrs) -> host output(s)`` running one op on
    ``device_type``: its kernel with host transfers, or a one-op compiled stage."""
    dt = _find(device_type)
    if dt is None or (dt.compile_stage is None and not dt.moves_values):
        return get_kernel(op, device_type)
    if dt.compile_stage is None:
        fn = get_kernel(op, device_type)
        to_dev, to_host = dt.from_host or (lambda x: x), dt.to_host or np.asarray

        def run_kernel(*inputs, **attrs):
            out = fn(*[None if x is None else to_dev(x) for x in inputs], **attrs)
            return tuple(map(to_host, out)) if isinstance(out, tuple) else to_host(out)

        return run_kernel
    if op not in dt.stage_ops:
        raise KernelNotFoundError(f"no kernel for op '{op}' on device type '{device_type}'",
                                  op=op, hint="run it on a device type that has it")

    def run_stage(*inputs, **attrs):
        from tfrt_ray.ir.graph import freeze_attrs

        args = [np.asarray(x) for x in inputs if x is not None]
        stage = _one_op_stage(op, device_type, freeze_attrs(attrs),
                              tuple(TensorType.of(a) for a in args))
        results = stage.run(args)
        for r in results:
            if isinstance(r, TfrtRayError):
                raise r
        return results[0] if len(results) == 1 else tuple(results)

    return run_stage


def discover_local() -> dict[str, list[LocalDevice]]:
    """Device type -> its devices on this node (types with none are left out)."""
    found = {name: safe_discover(dt) for name, dt in load_plugins().items()}
    return {name: devs for name, devs in found.items() if devs}
