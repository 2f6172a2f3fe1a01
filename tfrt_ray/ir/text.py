"""The IR's text form, close to MLIR's generic op syntax, and its parser::

    func @f(%0: tensor<8x{N}xf32> {name = "x"}) -> (tensor<8x{N}xf32> {name = "y"}) {
      %1 = "tr.relu"(%0) : (tensor<8x{N}xf32>) -> tensor<8x{N}xf32> loc("relu"("m.py":12))
      %2, %3 = "tr.split"(%1) {axis = 0, sizes = [5, 3]} : (tensor<8x{N}xf32>) -> (...) loc(..)
      return %2
    }

``parse_graph(print_graph(g)) == g`` for every well-formed graph. Value ids are kept as
printed; they must be dense (each of ``0..n-1`` defined once, by an argument or a node).
Parsed nodes are checked by their op spec (attrs canonicalized, result types compared).

Types: ``tensor<3x{N}x?xf32>``, ``{N}`` a named symbolic dim (``{"any text"}`` if the name
is not an identifier), ``?`` an anonymous one; ``tensor<f32>`` a scalar.

Attributes: int ``3``; float ``repr(x)`` (has ``.`` or ``e``, or is ``inf``/``-inf``/``nan``);
bool ``true``/``false``; str JSON-quoted; tuple ``[1, [2.0]]``; None ``none``; an attribute
of kind ``dtype`` a bare token (``f32``: it parses to the same str as ``"f32"``); a tensor
``dense<"0xHEX"> : tensor<2x3xf32>`` (the little-endian bytes of the C-contiguous array),
or ``dense<...elided...> : tensor<..>`` with ``elide_constants=True`` (not parseable); a
graph (a fused op's body) a nested ``func`` with value ids of its own::

    %3 = "tr.fused_elementwise"(%0, %1) {body = func @"mul+tanh"(%0: tensor<4xf32> ...
        %2 = "tr.mul"(%0, %1) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("mul")
        %3 = "tr.tanh"(%2) : (tensor<4xf32>) -> tensor<4xf32> loc("tanh")
        return %3
      }} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("mul+tanh")

Locations carry a node's name and its `Loc`: the outermost name is the node's name, and
whatever is nested in it is the Loc, whose own name is always nested (even when equal to
the node's), which keeps every combination unambiguous::

    loc("relu")                       name "relu", Loc()
    loc("relu"("m.py":3))             name "relu", Loc("m.py", 3)
    loc("relu"("onnx_n7"("m.py":3)))  name "relu", Loc("m.py", 3, "onnx_n7")
    loc("relu"("onnx_n7"))            name "relu", Loc(None, 0, "onnx_n7")
    loc("m.py":3), loc(unknown:7)     name "", Loc("m.py", 3), Loc(None, 7)

``//`` starts a comment. Malformed text raises `IRParseError` (``line:column: expected
...``), never another exception.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from tfrt_ray.errors import IRError
from tfrt_ray.ir.graph import ConstTensor, Graph
from tfrt_ray.ir.location import UNKNOWN, Loc
from tfrt_ray.ir.types import DTYPES, TensorType

DIALECT = "tr."
MAX_DEPTH = 64  # nesting of attribute lists
ELIDED = "...elided..."
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.$]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # printed bare: attr names, dim symbols
_INT = re.compile(r"-?[0-9]+")
_NUM = re.compile(r"-?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?")
_STR = re.compile(r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"')
_WS = re.compile(r"[ \t\r\n]*")
_SPACE = (" ", "\t", "\r", "\n", "/")
_DTYPE = re.compile(r"[a-z][a-z0-9]*")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})*")
_MAX_TOKEN = 1000  # longest number or identifier (int() of huge digit strings is slow)
_WORDS = {"true": True, "false": False, "none": None, "inf": math.inf, "nan": math.nan}


# ---- printing ------------------------------------------------------------------------


def _q(s: str) -> str:
    return json.dumps(s)


def _dim(d: int | str) -> str:
    if type(d) is int or d == "?":
        return str(d)
    return "{" + (d if _KEY.match(d) else _q(d)) + "}"


def format_type(t: TensorType) -> str:
    return "tensor<" + "".join(_dim(d) + "x" for d in t.shape) + t.dtype + ">"


def format_attr(v: Any, kind: str | None = None, elide: bool = False,
                indent: str = "  ") -> str:
    """One attribute value as text; ``kind="dtype"`` prints a dtype token bare; a graph
    prints as a nested ``func``, its lines indented below ``indent``."""
    if v is None or v is True or v is False:
        return {None: "none", True: "true", False: "false"}[v]
    if isinstance(v, int):
        return int.__repr__(v)
    if isinstance(v, float):
        return float.__repr__(v)
    if isinstance(v, str):
        return v if kind == "dtype" and v in DTYPES else _q(v)
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(format_attr(x, kind, elide) for x in v) + "]"
    if isinstance(v, Graph):
        return print_graph(v, elide, indent).rstrip("\n")
    if isinstance(v, ConstTensor):
        a = v.array
        if not elide:
            a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        body = ELIDED if elide else _q("0x" + a.tobytes().hex().upper())
        return f"dense<{body}> : {format_type(v.type)}"
    raise IRError(f"attribute value {v!r} of type {type(v).__name__} has no text form")


def _fileline(loc: Loc) -> str:
    if loc.file is None:
        return "unknown" if loc.line == 0 else f"unknown:{loc.line}"
    return f"{_q(loc.file)}:{loc.line}"


def format_loc(name: str, loc: Loc) -> str:
    """``loc(...)`` holding a node's name and Loc (see the module docstring)."""
    if loc.name is None:
        inner = _fileline(loc)
    elif loc.file is None and loc.line == 0:
        inner = _q(loc.name)
    else:
        inner = f"{_q(loc.name)}({_fileline(loc)})"
    if name == "" and loc.name is None:
        return f"loc({inner})"
    return f"loc({_q(name)})" if loc == UNKNOWN else f"loc({_q(name)}({inner}))"


def print_graph(graph: Graph, elide_constants: bool = False, indent: str = "") -> str:
    """The graph as text; `parse_graph` reads it back to an equal graph. ``indent``
    prefixes every line after the first (a graph nested in an attribute)."""
    from tfrt_ray.ir.ops import all_ops

    specs, types, cache = all_ops(), graph.types, {}

    def ty(v: int) -> str:
        if type(v) is not int or not 0 <= v < len(types):
            return "<undefined>"
        if types[v] not in cache:
            cache[types[v]] = format_type(types[v])
        return cache[types[v]]

    def sig(vs: tuple[int, ...], names: tuple[str, ...], arg: bool) -> str:
        return ", ".join(
            (f"%{v}: " if arg else "")
            + ty(v)
            + (f" {{name = {_q(names[i])}}}" if i < len(names) else "")
            for i, v in enumerate(vs)
        )

    def ids(vs: tuple[int, ...]) -> str:
        return ", ".join(f"%{v}" for v in vs)

    gname = graph.name if _IDENT.fullmatch(graph.name) else _q(graph.name)
    args = sig(graph.inputs, graph.input_names, True)
    lines = [f"func @{gname}({args}) -> ({sig(graph.outputs, graph.output_names, False)}) {{"]
    for n in graph.nodes:
        spec = specs.get(n.op)
        kind = {k: a.kind for k, a in spec.attrs.items()} if spec else {}
        attrs = ", ".join(
            f"{k if _KEY.match(k) else _q(k)} = "
            + format_attr(v, kind.get(k), elide_constants, indent + "    ")
            for k, v in n.attrs
        )
        lhs = ids(n.outputs) + " = " if n.outputs else ""
        attrs = f" {{{attrs}}}" if attrs else ""
        ins, outs = (", ".join(ty(v) for v in vs) for vs in (n.inputs, n.outputs))
        outs = outs if len(n.outputs) == 1 else f"({outs})"
        op, loc = _q(DIALECT + n.op), format_loc(n.name, n.loc)
        lines.append(f"{indent}  {lhs}{op}({ids(n.inputs)}){attrs} : ({ins}) -> {outs} {loc}")
    lines += [f"{indent}  return {ids(graph.outputs)}".rstrip(), indent + "}", ""]
    return "\n".join(lines)
