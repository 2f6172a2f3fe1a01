"""The public op functions (``tr.add``, ``tr.softmax``, ...), made from the op specs.

Each op's function takes its inputs positionally, then its attributes (positionally in
the spec's order, or by name). Ops without attributes on host tensors take the same
NumPy fast path as the Python operators.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from tfrt_ray.core.kernels import find_kernel
from tfrt_ray.errors import OpAttributeError
from tfrt_ray.frontends.dispatch import apply
from tfrt_ray.frontends.tensor import FAST_FORWARD, Tensor, _binary, _unary, ready
from tfrt_ray.ir.ops import OpSpec, all_ops
from tfrt_ray.ir.types import dtype_token


def tensor(data: Any, dtype: Any = None) -> Tensor:
    """A ready tensor on the host holding a copy of ``data`` (array-like), as ``dtype``."""
    if isinstance(data, Tensor):
        return data if dtype is None else data.astype(dtype)
    array = np.array(data, dtype=dtype)
    dtype_token(array.dtype)  # a clear DTypeError for unsupported dtypes
    return ready(array)


def op_function(spec: OpSpec) -> Callable:
    """The public function of one op."""
    variadic = bool(spec.inputs) and spec.inputs[0].startswith("*")
    in_names = [n.strip("*?") for n in spec.inputs]
    n_in = 1 if variadic else len(in_names)
    attr_names = list(spec.attrs)
    fast = _fast_function(spec)

    def fn(*args: Any, **kwargs: Any):
        if spec.name in ("argmax", "argmin") and kwargs.get("axis") is None and len(args) == 1:
            # NumPy's default (the ONNX op's is axis 0): the index into the flattened tensor
            return _flat_arg(spec.name, args[0], kwargs.get("keepdims", False))
        if "axis" in kwargs and "axes" in spec.attrs and "axis" not in spec.attrs:
            if "axes" in kwargs:
                raise OpAttributeError(f"{spec.name}() got both axis= and axes=",
                                       hint="pass one of them (axis= is NumPy's name)")
            axis = kwargs.pop("axis")
            kwargs["axes"] = None if axis is None else (
                (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis))
        if fast is not None and not kwargs and len(args) == n_in and type(args[0]) is Tensor:
            return fast(*args)
        inputs = list(args[:n_in])
        if variadic and inputs:
            inputs = list(inputs[0])
        attrs = dict(zip(attr_names, args[n_in:]))
        if len(args) > n_in + len(attr_names):
            raise TypeError(f"{spec.name}() takes at most {n_in + len(attr_names)} arguments")
        for key, value in kwargs.items():
            if key in in_names and not variadic:
                index = in_names.index(key)
                inputs += [None] * (index + 1 - len(inputs))
                inputs[index] = value
            else:
                attrs[key] = value
        return apply(spec.name, inputs, attrs)

    fn.__name__ = fn.__qualname__ = spec.name
    fn.__doc__ = spec.doc or f"The '{spec.name}' op."
    fn.__signature__ = _signature(spec, variadic, in_names)
    return fn


def _flat_arg(name: str, x: Any, keepdims: bool) -> Tensor:
    """NumPy's ``argmax(x, axis=None)``: the index into the flattened tensor."""
    x = x if isinstance(x, Tensor) else tensor(x)
    out = apply(name, [apply("reshape", [x], {"shape": (-1,)})], {"axis": 0})
    return apply("reshape", [out], {"shape": (1,) * x.ndim}) if keepdims else out


def _fast_function(spec: OpSpec) -> Callable | None:
    if spec.attrs or spec.name in FAST_FORWARD:
        return FAST_FORWARD.get(spec.name) if not spec.attrs else None
    kernel = find_kernel(spec.name, "cpu")
    if kernel is None or spec.family != "elementwise" or spec.min_inputs != spec.max_inputs:
        return None
    if spec.max_inputs == 1:
        FAST_FORWARD[spec.name] = _unary(spec.name, kernel)
    elif spec.max_inputs == 2:
        FAST_FORWARD[spec.name] = _binary(spec.name, kernel)[0]
    return FAST_FORWARD.get(spec.name)


def _signature(spec: OpSpec, variadic: bool, in_names: list[str]) -> inspect.Signature:
    P = inspect.Parameter
    params = []
    if variadic:
        params.append(P(in_names[0], P.POSITIONAL_OR_KEYWORD))
    else:
        for raw, name in zip(spec.inputs, in_names):
            default = None if raw.endswith("?") else P.empty
            params.append(P(name, P.POSITIONAL_OR_KEYWORD, default=default))
    keyword_only = any(p.default is not P.empty for p in params)
    for name, attr in spec.attrs.items():
        default = P.empty if attr.required else attr.default
        if default is P.empty and keyword_only:
            kind = P.KEYWORD_ONLY
        else:
            kind = P.KEYWORD_ONLY if keyword_only else P.POSITIONAL_OR_KEYWORD
            keyword_only = keyword_only or default is not P.empty
        params.append(P(name, kind, default=default))
    return inspect.Signature(params)


OPS: dict[str, Callable] = {name: op_function(spec) for name, spec in all_ops().items()}
