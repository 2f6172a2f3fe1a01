"""Elementwise ops: unary, binary with numpy broadcasting, comparisons, logic, where,
clip, cast."""

from __future__ import annotations

from tfrt_ray.ir.ops.batch_rules import elementwise
from tfrt_ray.ir.ops.spec import (
    Attr,
    Cost,
    Fusion,
    broadcast_shapes,
    op,
    require_dtype,
    result_dtype,
)
from tfrt_ray.ir.types import FLOAT_DTYPES, INT_DTYPES, TensorType

NUMERIC = FLOAT_DTYPES + INT_DTYPES
SIGNED = FLOAT_DTYPES + ("i8", "i16", "i32", "i64")


def _per_element(flops: float):
    def cost(ins, outs, attrs, moved):
        return Cost(flops * sum(t.numel for t in outs), float(moved))

    return cost


def _unary(name: str, allowed: tuple[str, ...], flops: float = 1.0,
           fusion: Fusion | None = None, **attrs: Attr) -> None:
    def infer(x: TensorType, **_: object) -> TensorType:
        require_dtype(x, allowed)
        return x

    infer.__doc__ = f"Elementwise {name}."
    op(name, ("x",), attrs, family="elementwise", batch=elementwise,
       cost=_per_element(flops), fusion=fusion)(infer)


def _as(activation: str):
    return lambda attrs: activation


for _name in ("exp", "log", "sqrt", "tanh", "sigmoid", "erf", "sin", "cos", "reciprocal"):
    _unary(_name, FLOAT_DTYPES, flops=8.0, fusion=Fusion(
        8.0, activation=_as(_name) if _name in ("tanh", "sigmoid") else None))
for _name in ("floor", "ceil", "round"):
    _unary(_name, FLOAT_DTYPES, fusion=None if _name == "round" else Fusion(1.0))
for _name in ("neg", "abs", "relu", "sign"):
    _unary(_name, SIGNED, fusion=Fusion(1.0, activation=_as("relu") if _name == "relu" else None))
_unary("gelu", FLOAT_DTYPES, flops=16.0, approximate=Attr("str", "none"),
       fusion=Fusion(16.0, fresh_dst=True,
                     activation=lambda a: {"none": "gelu", "tanh": "gelu_tanh"}.get(
                         a["approximate"])))
_unary("leaky_relu", FLOAT_DTYPES, flops=2.0, alpha=Attr("float", 0.01),
       fusion=Fusion(2.0, fresh_dst=True))


def _binary(name: str, allowed: tuple[str, ...], out_dtype: str | None = None,
            fusion: Fusion | None = None) -> None:
    def infer(a: TensorType, b: TensorType) -> TensorType:
        require_dtype(a, allowed, "first input")
        require_dtype(b, allowed, "second input")
        shape = broadcast_shapes(a.shape, b.shape)
        return TensorType(out_dtype or result_dtype(a, b), shape)

    infer.__doc__ = f"Elementwise {name} with numpy broadcasting and type promotion."
    op(name, ("a", "b"), family="elementwise", batch=elementwise, cost=_per_element(1.0),
       fusion=fusion)(infer)


for _name in ("add", "sub", "mul", "maximum", "minimum"):
    _binary(_name, NUMERIC, fusion=Fusion(1.0))
_binary("pow", NUMERIC, fusion=Fusion(8.0))
_binary("mod", NUMERIC, fusion=Fusion(2.0))
for _name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
    _binary(_name, NUMERIC + ("i1",), out_dtype="i1")
for _name in ("logical_and", "logical_or", "logical_xor"):
    _binary(_name, ("i1",), out_dtype="i1")
_unary("logical_not", ("i1",))


@op("div", ("a", "b"), family="elementwise", batch=elementwise, cost=_per_element(1.0),
    fusion=Fusion(1.0))
def _div(a: TensorType, b: TensorType) -> TensorType:
    """True division; integer inputs give f64, as in numpy."""
    require_dtype(a, NUMERIC, "first input")
    require_dtype(b, NUMERIC, "second input")
    dtype = result_dtype(a, b)
    if dtype not in FLOAT_DTYPES:
        dtype = "f64"
    return TensorType(dtype, broadcast_shapes(a.shape, b.shape))


@op("floor_div", ("a", "b"), family="elementwise", batch=elementwise, cost=_per_element(1.0))
def _floor_div(a: TensorType, b: TensorType) -> TensorType:
    """Floor division (Python's ``//``)."""
    require_dtype(a, NUMERIC, "first input")
    require_dtype(b, NUMERIC, "second input")
    return TensorType(result_dtype(a, b), broadcast_shapes(a.shape, b.shape))


@op("where", ("cond", "x", "y"), family="elementwise", batch=elementwise, cost=_per_element(1.0))
def _where(cond: TensorType, x: TensorType, y: TensorType) -> TensorType:
    """``x`` where ``cond`` is true, else ``y``; all three broadcast."""
    require_dtype(cond, ("i1",), "condition")
    return TensorType(result_dtype(x, y), broadcast_shapes(cond.shape, x.shape, y.shape))


@op(
    "clip",
    ("x",),
    {"min": Attr("float", None), "max": Attr("float", None)},
    family="elementwise", batch=elementwise,
    cost=_per_element(2.0), fusion=Fusion(2.0),
)
def _clip(x: TensorType, *, min: float | None, max: float | None) -> TensorType:
    """Clamps to [min, max]; either bound may be omitted."""
    require_dtype(x, NUMERIC)
    return x


@op("cast", ("x",), {"dtype": Attr("dtype")}, family="elementwise", batch=elementwise)
def _cast(x: TensorType, *, dtype: str) -> TensorType:
    """Converts to ``dtype`` (numpy ``astype`` semantics)."""
    return TensorType(dtype, x.shape)


@op("identity", ("x",), family="elementwise", batch=elementwise,
    cost=lambda i, o, a, m: Cost(0.0, 0.0))
def _identity(x: TensorType) -> TensorType:
    """Returns its input."""
    return x
