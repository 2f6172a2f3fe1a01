"""What a converter sees: its ONNX node's inputs as `Value`s, attributes and opset, and
`NodeContext.emit` to add tfrt-ray ops (folded at once when every input is a constant)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tfrt_ray.errors import OpAttributeError, StaticValueError, TfrtRayError
from tfrt_ray.frontends.onnx.proto import pb
from tfrt_ray.frontends.onnx.tensors import array_format, attribute_value, to_carrier
from tfrt_ray.ir.location import Loc
from tfrt_ray.ir.types import TensorType, dtype_token, numpy_dtype

if TYPE_CHECKING:
    from tfrt_ray.frontends.onnx.importer import Importer


class Value:
    """An ONNX value during import: a constant known now (``array``), or a value of the
    graph being built (``id``). ``deps``/``shape_deps`` are the graph inputs whose values
    (shapes) it is computed from, which says what to specialize on when it must be static."""

    __slots__ = ("type", "id", "array", "deps", "shape_deps", "fmt")

    def __init__(self, type: TensorType, id: int | None = None, array: np.ndarray | None = None):
        self.type = type
        self.id = id
        self.array = array
        self.deps: frozenset[str] = frozenset()
        self.shape_deps: frozenset[str] = frozenset()
        self.fmt: str | None = None  # the emulated ONNX format this carrier value holds

    @staticmethod
    def const(array: Any, fmt: str | None = None) -> Value:
        """A constant; an array of an emulated type (ml_dtypes) becomes its carrier."""
        array = np.asarray(array)
        found = array_format(array)
        if found is not None:
            array, fmt = to_carrier(array), found
        v = Value(TensorType.of(array), array=array)
        v.fmt = fmt
        return v

    @property
    def is_const(self) -> bool:
        return self.array is not None

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def shape(self) -> tuple:
        return self.type.shape

    @property
    def rank(self) -> int:
        return self.type.rank

    def __repr__(self) -> str:
        return f"Value({self.type}, {'const' if self.is_const else f'%{self.id}'})"


class SequenceValue:
    """An ONNX sequence during import: a list of tensor Values known when importing (its
    length is static); ``dtype`` is the element dtype (for an empty sequence)."""

    is_const = False

    def __init__(self, items: list[Value], dtype: str) -> None:
        self.items = list(items)
        self.dtype = dtype

    @property
    def deps(self) -> frozenset[str]:
        return frozenset().union(*(v.deps for v in self.items))

    @deps.setter
    def deps(self, _: frozenset[str]) -> None:
        pass  # follows the items

    @property
    def shape_deps(self) -> frozenset[str]:
        return frozenset().union(*(v.shape_deps for v in self.items))

    @shape_deps.setter
    def shape_deps(self, _: frozenset[str]) -> None:
        pass


class Empty:
    """An ONNX optional without a value."""

    is_const = True
    deps = shape_deps = frozenset()


Operand = Value | np.ndarray | None


class NodeContext:
    """One ONNX node being converted."""

    def __init__(
        self,
        importer: Importer,
        node: pb.NodeProto,
        name: str,
        opset: int,
        loc: Loc,
        inputs: list[Value | None],
    ) -> None:
        self.importer = importer
        self.node = node
        self.name = name
        self.opset = opset
        self.loc = loc
        self.inputs = inputs
        self._attrs = {a.name: a for a in node.attribute}

    @property
    def op_type(self) -> str:
        return self.node.op_type

    @property
    def n_outputs(self) -> int:
        return len(self.node.output)

    def wants(self, i: int) -> bool:
        """Whether the node's output ``i`` is used (present and named)."""
        return i < len(self.node.output) and bool(self.node.output[i])

    # ---- attributes -----------------------------------------------------------------

    def attr(self, name: str, default: Any = None) -> Any:
        a = self._attrs.get(name)
        if a is None:
            return default
        return attribute_value(a, f"attribute '{name}' of node '{self.name}'")

    def has_attr(self, name: str) -> bool:
        return name in self._attrs

    # ---- inputs ---------------------------------------------------------------------

    def has(self, i: int) -> bool:
        return i < len(self.inputs) and self.inputs[i] is not None

    def input(self, i: int) -> Value:
        if not self.has(i):
            raise self.error(f"input {i} is required but missing", OpAttributeError)
        return self.inputs[i]  # type: ignore[return-value]

    def const(self, i: int, what: str | None = None) -> np.ndarray | None:
        """Input ``i``'s value, which must be known at import time (None if absent)."""
        if not self.has(i):
            return None
        return self.static_value(self.inputs[i], what or f"input {i}")

    def item(self, i: int, what: str | None = None, default: Any = None) -> Any:
        """Input ``i`` as a Python scalar (its one element); ``default`` if absent."""
        a = self.const(i, what)
        if a is None or a.size == 0:
            return default
        return np.asarray(a).reshape(-1)[0].item()

    def ints(self, i: int, what: str | None = None) -> list[int] | None:
        a = self.const(i, what)
        return None if a is None else [int(v) for v in np.asarray(a).reshape(-1)]

    def static_value(self, v: Value, what: str) -> np.ndarray:
        if v.is_const:
            return v.array  # type: ignore[return-value]
        err = StaticValueError(
            f"{self.op_type} needs its {what} when the model is compiled, but it is "
            "computed at run time",
            node=self.name,
            loc=self.loc,
            hint="make it a constant or initializer; tfrt-ray compiles one graph per value "
            "of the inputs it depends on",
        )
        err.value_deps = v.deps  # type: ignore[attr-defined]
        err.shape_deps = v.shape_deps  # type: ignore[attr-defined]
        raise err

    def static_shape(self, v: Value, what: str = "input") -> tuple[int, ...]:
        if v.type.is_static:
            return tuple(v.shape)  # type: ignore[arg-type]
        err = StaticValueError(
            f"{self.op_type} needs the shape of its {what} when the model is compiled, "
            f"but it is {v.type}",
            node=self.name,
            loc=self.loc,
            hint="give the model static input shapes; tfrt-ray compiles one graph per input "
            "shape otherwise",
        )
        err.value_deps = frozenset()  # type: ignore[attr-defined]
        err.shape_deps = v.shape_deps | v.deps  # type: ignore[attr-defined]
        raise err

    # ---- building -------------------------------------------------------------------

    def emit(self, op: str, *inputs: Operand, **attrs: Any) -> Any:
        """Adds tfrt-ray op ``op``; returns its output Value (a tuple for several)."""
        outs = self.importer.emit(op, list(inputs), attrs, self.name, self.loc)
        return outs[0] if len(outs) == 1 else outs

    def constant(self, array: Any, dtype: Any = None) -> Value:
        a = np.asarray(array) if dtype is None else np.asarray(array, dtype=np_dtype(dtype))
        return Value.const(a)

    def scalar(self, x: float, like: Value | str) -> Value:
        """A 0-d constant of ``like``'s dtype."""
        return self.constant(x, like.dtype if isinstance(like, Value) else like)

    def cast(self, v: Value, dtype: str) -> Value:
        return v if v.dtype == dtype and not v.fmt else self.emit("cast", v, dtype=dtype)

    def to_format(self, v: Value, fmt: str | None, saturate: bool = True) -> Value:
        """``v`` rounded to emulated format ``fmt`` (held in its carrier dtype)."""
        if fmt is None:
            return v
        out = self.emit("to_format", v, format=fmt, saturate=saturate)
        out.fmt = fmt
        return out

    def reshape(self, v: Value, shape: Sequence[int]) -> Value:
        return self.emit("reshape", v, shape=tuple(int(s) for s in shape))

    def error(self, message: str, cls: type = OpAttributeError, hint: str | None = None):
        """A typed error naming this node (to raise)."""
        err: TfrtRayError = cls(message, hint=hint)
        return err.with_context(node=self.name, loc=self.loc, op=f"onnx.{self.op_type}")


def np_dtype(dtype: Any) -> np.dtype:
    if isinstance(dtype, str):
        return numpy_dtype(dtype_token(dtype))
    return np.dtype(dtype)
