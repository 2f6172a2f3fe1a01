"""The checked path of every op: to the active tracer, or to the current device.

Eager ops check their spec before anything runs, so shape and dtype mistakes raise a
typed error at the line that made the op. A kernel that fails at run time gives a failed
tensor (errors are values); it raises when read, and ops that use it fail with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tfrt_ray.core.kernels import get_kernel
from tfrt_ray.errors import OpExecutionError, TfrtRayError
from tfrt_ray.frontends.context import state
from tfrt_ray.frontends.tensor import (
    _SCALARS,
    FAST_OK,
    Tensor,
    failed,
    operand_key,
    ready,
)
from tfrt_ray.ir.location import user_location
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.types import TensorType

HOST = "host:0"


def apply(op: str, inputs: Sequence[Any], attrs: dict[str, Any]):
    """Applies ``op``; returns a Tensor, or a tuple of them for a multi-output op."""
    inputs = list(inputs)
    while inputs and inputs[-1] is None:
        inputs.pop()
    tracer = state.tracer
    if tracer is not None:
        return tracer.apply(op, inputs, attrs)
    if state.device is not None:
        return _apply_on(state.device, op, inputs, attrs)
    spec = get_op(op)
    values = weak_scalars([to_value(x) for x in inputs])
    types = tuple(_type_of(x, v) for x, v in zip(inputs, values))
    try:
        full, out_types = spec.check(types, attrs)
    except TfrtRayError as err:
        raise err.with_context(loc=user_location()) from None
    upstream = next((v for v in values if isinstance(v, TfrtRayError)), None)
    if upstream is not None:
        return _wrap([failed(upstream, t) for t in out_types])
    try:
        out = get_kernel(op, "cpu")(*values, **full)
    except Exception as exc:  # noqa: BLE001 - a kernel failure is a value
        err = exc if isinstance(exc, TfrtRayError) else OpExecutionError(
            f"kernel raised {type(exc).__name__}: {exc}", hint=spec.doc.strip() or None
        )
        err.with_context(op=op, device=HOST, loc=user_location(), inputs=types)
        return _wrap([failed(err, t) for t in out_types])
    outs = tuple(out) if len(out_types) > 1 else (out,)
    if op in FAST_OK and len(outs) == 1:
        key = tuple(operand_key(x) for x in inputs)
        if None not in key and outs[0].dtype == out_types[0].np_dtype:
            FAST_OK[op].add(key)
    return _wrap([ready(v) for v in outs])



def _wrap(tensors: list[Tensor]):
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def _type_of(x: Any, v: Any) -> TensorType | None:
    if v is None:
        return None
    if type(x) is Tensor:
        return x.type
    return TensorType.of(v) if type(v) is np.ndarray else TensorType.of(np.asarray(v))


def to_value(x: Any):
    """An eager operand as a NumPy value, a Python scalar (kept weak), or its error."""
    if type(x) is Tensor:
        if x._value is not None:
            return x._value
        if x._error is not None:
            return x._error
        if x._symbol is not None:
            from tfrt_ray.frontends.tracing import escaped_error

            raise escaped_error(x)
        resolve(x)
        return x._value
    if x is None or type(x) in _SCALARS or isinstance(x, (np.ndarray, np.generic)):
        return x
    return np.asarray(x)


def weak_scalars(values: list) -> list:
    """Python scalars take the dtype NumPy would give them next to the tensor operands."""
    if not any(type(v) in _SCALARS for v in values):
        return values
    peers = [v.dtype for v in values if hasattr(v, "dtype")]
    out = []
    for v in values:
        if type(v) in _SCALARS:
            v = np.asarray(v, dtype=np.result_type(*peers, v) if peers else None)
        out.append(v)
    return out


def resolve(t: Tensor) -> None:
    """Waits for a tensor's value; raises its error."""
    if t._error is not None:
        raise t._error
    if t._symbol is not None:
        from tfrt_ray.frontends.tracing import escaped_error

        raise escaped_error(t)
    if t._remote is not None:
        value = t._remote.fetch()
        if isinstance(value, TfrtRayError):
            t._error = value
            raise value
        t._value = value


def _apply_on(device, op: str, inputs: Sequence[Any], attrs: dict[str, Any]):
    """Dispatches one eager op to a device actor (``tr.device("cpu:1")``); returns remote
    tensor(s) at once. Operands already on a device travel as their ObjectRefs."""
    from tfrt_ray.frontends.tensor import remote
    from tfrt_ray.runtime.devices import RemoteValue

    on_device = [type(x) is Tensor and x._remote is not None for x in inputs]
    hosts = weak_scalars([None if there else _host_value(x)
                          for x, there in zip(inputs, on_device)])
    args, types = [], []
    for x, host, there in zip(inputs, hosts, on_device):
        if there:
            args.append(x._remote.ref)
            types.append(x.type)
        else:
            args.append(device.put(host))
            types.append(TensorType.of(np.asarray(host)))
    try:
        full, out_types = get_op(op).check(tuple(types), attrs)
    except TfrtRayError as err:
        raise err.with_context(loc=user_location(), device=device.device_id) from None
    refs = device.run_op(op, full, len(out_types), args)
    outs = [remote(RemoteValue(r, device.device_id), t) for r, t in zip(refs, out_types)]
    return outs[0] if len(outs) == 1 else tuple(outs)


def _host_value(x: Any):
    value = to_value(x)
    if isinstance(value, TfrtRayError):
        raise value
    return value
