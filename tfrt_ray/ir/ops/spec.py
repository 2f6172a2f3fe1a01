"""The op spec: one per op. Inputs, typed attributes with defaults, the shape and dtype
rule, and a cost (flops and bytes) for the scheduler.

An op's spec is written with the `op` decorator on its shape rule, in the family module
beside this one (``tfrt_ray/ir/ops/nn.py``, ...); its reference kernel is registered in
the same family of `tfrt_ray.core.kernels`, and an ONNX converter, where ONNX has the op,
in ``tfrt_ray/frontends/onnx/converters``. README's "Adding an op" lists every table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tfrt_ray.errors import (
    DTypeError,
    OpAttributeError,
    ShapeError,
    TfrtRayError,
    UnknownOpError,
)
from tfrt_ray.ir.graph import ConstTensor, Graph
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.types import TensorType, dtype_token

_REQUIRED = object()


class Cost(NamedTuple):
    flops: float
    bytes: float


@dataclass(frozen=True)
class Attr:
    """An attribute's kind and default. Kinds: int, float, bool, str, ints, floats, dtype,
    tensor, graph (a sub-graph, e.g. a fused op's body); ``optional=True`` also admits
    None."""

    kind: str
    default: Any = _REQUIRED
    optional: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED


def _coerce(kind: str, value: Any) -> Any:
    if kind == "int":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError("an int")
        return int(value)
    if kind == "float":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise TypeError("a float")
        return float(value)
    if kind == "bool":
        if not isinstance(value, (bool, np.bool_, int)) or value not in (0, 1):
            raise TypeError("a bool")
        return bool(value)
    if kind == "str":
        if not isinstance(value, str):
            raise TypeError("a str")
        return value
    if kind in ("ints", "floats"):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise TypeError(f"a sequence of {kind[:-1]}s")
        return tuple(_coerce(kind[:-1], v) for v in value)
    if kind == "dtype":
        return dtype_token(value)
    if kind == "tensor":
        if isinstance(value, ConstTensor):
            return value
        return ConstTensor(np.asarray(value))
    if kind == "graph":
        if not isinstance(value, Graph):
            raise TypeError("a Graph")
        return value
    raise TypeError(f"attribute kind {kind!r} is unknown")


def _trusted(kind: str, value: Any) -> bool:
    """Values already in canonical form skip coercion (a fast path for the executor)."""
    t = type(value)
    return (
        (kind == "int" and t is int)
        or (kind == "float" and t is float)
        or (kind == "bool" and t is bool)
        or (kind == "str" and t is str)
    )


@dataclass(frozen=True)
class Fusion:
    """How an elementwise op joins the body of a ``fused_elementwise`` node
    (`tfrt_ray.ir.ops.fused`), and the fused activation it becomes after a matmul or a
    convolution (`passes.fuse_bias_activation`). An op with a Fusion has a reference
    kernel that takes ``out=`` (the fused kernel writes every step into a buffer)."""

    flops: float  # per element, for the fused op's cost
    fresh_dst: bool = False  # it reads its source after the first write: never in place
    activation: Callable[[dict], str | None] | None = None  # attrs -> fused activation


@dataclass(frozen=True)
class OpSpec:
    """Everything the compiler knows about one op."""

    name: str
    inputs: tuple[str, ...]  # "x" required, "b?" optional, "*xs" variadic (last only)
    attrs: dict[str, Attr]
    infer: Callable[..., Any]
    cost_fn: Callable[..., Cost] | None
    family: str
    doc: str = ""
    # (BatchView) -> the output's batch axis, or None: it would mix rows (`batch_rules`)
    batch_rule: Callable[..., Any] | None = None
    fusion: Fusion | None = None  # None: it never joins a fused op
    min_inputs: int = field(init=False)
    max_inputs: int | None = field(init=False)

    def __post_init__(self) -> None:
        required = [n for n in self.inputs if not n.endswith("?") and not n.startswith("*")]
        variadic = any(n.startswith("*") for n in self.inputs)
        object.__setattr__(self, "min_inputs", len(required) + (1 if variadic else 0))
        object.__setattr__(self, "max_inputs", None if variadic else len(self.inputs))

    def normalize_attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Checks attributes and fills defaults; raises OpAttributeError saying what is wrong."""
        unknown = set(attrs) - set(self.attrs)
        if unknown:
            raise OpAttributeError(
                f"unknown attribute(s) {sorted(unknown)}",
                op=self.name,
                hint=f"'{self.name}' takes {sorted(self.attrs) or 'no attributes'}",
            )
        full = {}
        for key, a in self.attrs.items():
            value = attrs.get(key, a.default)
            if value is _REQUIRED:
                raise OpAttributeError(
                    f"attribute '{key}' is required", op=self.name, hint=f"pass {key}=<{a.kind}>"
                )
            if value is None and (a.optional or a.default is None):
                full[key] = None
                continue
            if _trusted(a.kind, value):
                full[key] = value
                continue
            try:
                full[key] = _coerce(a.kind, value)
            except (TypeError, ValueError, TfrtRayError) as exc:
                raise OpAttributeError(
                    f"attribute '{key}' must be {exc}, got {value!r}",
                    op=self.name,
                    hint=f"pass {key} as {a.kind}",
                ) from None
        return full

    def check(
        self,
        in_types: tuple[TensorType, ...],
        attrs: dict[str, Any],
        node: str | None = None,
        loc: Loc | None = None,
    ) -> tuple[dict[str, Any], tuple[TensorType, ...]]:
        """Validates a would-be node; returns (full attrs, output types).

        Every error raised names the op, node, location and input types.
        """
        try:
            n = len(in_types)
            if n < self.min_inputs or (self.max_inputs is not None and n > self.max_inputs):
                expect = (
                    f"at least {self.min_inputs}"
                    if self.max_inputs is None
                    else (
                        str(self.min_inputs)
                        if self.min_inputs == self.max_inputs
                        else f"{self.min_inputs} to {self.max_inputs}"
                    )
                )
                raise ShapeError(
                    f"takes {expect} inputs ({', '.join(self.inputs)}), got {n}",
                    hint="check the number of arguments",
                )
            full = self.normalize_attrs(attrs)
            if self.max_inputs is not None and n < self.max_inputs:
                in_types = tuple(in_types) + (None,) * (self.max_inputs - n)
            out = self.infer(*in_types, **full)
            out_types = (out,) if isinstance(out, TensorType) else tuple(out)
        except TfrtRayError as err:
            raise err.with_context(op=self.name, node=node, loc=loc, inputs=in_types) from None
        return full, out_types

    def cost(
        self, in_types: tuple[TensorType, ...], out_types: tuple[TensorType, ...], attrs: dict
    ) -> Cost:
        moved = sum(t.nbytes for t in in_types) + sum(t.nbytes for t in out_types)
        if self.cost_fn is None:
            return Cost(float(sum(t.numel for t in out_types)), float(moved))
        return self.cost_fn(in_types, out_types, attrs, moved)


_REGISTRY: dict[str, OpSpec] = {}


def op(
    name: str,
    inputs: tuple[str, ...],
    attrs: dict[str, Attr] | None = None,
    family: str = "misc",
    cost: Callable[..., Cost] | None = None,
    batch: Callable[..., Any] | None = None,
    fusion: Fusion | None = None,
) -> Callable:
    """Registers the decorated shape/dtype rule as op ``name``.

    The rule takes the input types positionally (None for a missing optional input) and
    the attributes as keywords, and returns the output type(s); it raises ShapeError or
    DTypeError with a message that says what is wrong. ``batch``: the op's batch-axis rule
    (`tfrt_ray.ir.ops.batch_rules`); ``fusion``: how it fuses (`Fusion`).
    """

    def register(infer: Callable) -> Callable:
        if name in _REGISTRY:
            raise ValueError(f"op {name!r} is registered twice")
        _REGISTRY[name] = OpSpec(
            name, tuple(inputs), dict(attrs or {}), infer, cost, family, infer.__doc__ or "",
            batch, fusion,
        )
        return infer

    return register


def get_op(name: str) -> OpSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownOpError(
            f"no op named '{name}'",
            hint="see tfrt_ray.ir.ops.all_ops() for the op vocabulary",
        ) from None


def all_ops() -> dict[str, OpSpec]:
    return dict(_REGISTRY)


# ---- helpers shared by shape rules -------------------------------------------------


def normalize_axis(axis: int, rank: int, what: str = "axis") -> int:
    if not -rank <= axis < max(rank, 1):
        raise ShapeError(
            f"{what} {axis} is out of range for a tensor of rank {rank}",
            hint=f"use an {what} in [{-rank}, {rank - 1}]",
        )
    return axis % rank if rank else 0


def broadcast_shapes(*shapes: tuple) -> tuple:
    """numpy broadcasting, with symbolic dims: a symbol matches anything that is not 1."""
    rank = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(rank):
        dim: Any = 1
        for s in shapes:
            j = i - (rank - len(s))
            if j < 0:
                continue
            d = s[j]
            if d == 1:
                continue
            if dim == 1 or dim == d:
                dim = d
            elif type(dim) is int and type(d) is int:
                raise ShapeError(
                    "shapes "
                    + " and ".join(str(tuple(x)) for x in shapes)
                    + " cannot be broadcast together"
                    + f" (dim {i - rank}: {dim} vs {d})",
                    hint="make the sizes equal, or 1, in each trailing dimension",
                )
            elif type(dim) is not int:
                dim = d  # a static size refines a symbol
        out.append(dim)
    return tuple(out)


def require_dtype(t: TensorType, allowed: tuple[str, ...], what: str = "input") -> None:
    if t.dtype not in allowed:
        raise DTypeError(
            f"{what} has dtype {t.dtype}, which this op does not accept",
            hint=f"cast it to one of {', '.join(allowed)} (tr.cast)",
        )


def require_same_dtype(*types: TensorType) -> str:
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) > 1:
        raise DTypeError(
            f"inputs have different dtypes {sorted(dtypes)}",
            hint="cast the inputs to one dtype (tr.cast)",
        )
    return dtypes.pop()


def result_dtype(*types: TensorType) -> str:
    return dtype_token(np.result_type(*(t.np_dtype for t in types)))
