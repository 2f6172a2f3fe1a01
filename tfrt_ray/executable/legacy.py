"""Reading format 1 files: their ``fused_elementwise`` nodes hold a program string,
``"t0 = mul(x0, x1); t1 = gelu[none](t0); ..."`` (``x<i>`` the node's i-th input, ``t<j>``
a buffer, parameters in brackets, the last instruction's buffer the result), where format 2
holds the body graph. `upgrade_v1_node` builds that body from the string, op by op, so a
file written before bodies existed loads and runs as it did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from tfrt_ray.errors import ExecutableFormatError, TfrtRayError
from tfrt_ray.ir.graph import Graph, GraphBuilder, Node, freeze_attrs
from tfrt_ray.ir.location import UNKNOWN, Loc
from tfrt_ray.ir.types import TensorType

_INSTR = re.compile(r"\s*t(\d+)\s*=\s*([a-z_]+)\s*(?:\[([^\]]*)\])?\s*\(([^)]*)\)\s*\Z")
_REG = re.compile(r"\s*([xt])(\d+)\s*\Z")
# The attributes format 1 wrote as an instruction's parameters, in order, and their kinds.
_PARAMS = {"gelu": (("approximate", str),), "leaky_relu": (("alpha", float),),
           "clip": (("min", float), ("max", float))}


def _param(text: str, kind: type):
    text = text.strip()
    return None if text == "none" and kind is float else kind(text)  # "none" bounds none


def program_body(program: str, in_types: Sequence[TensorType], name: str,
                 loc: Loc = UNKNOWN) -> Graph:
    """The body a format 1 program stands for; raises ValueError or TfrtRayError."""
    b = GraphBuilder(name)
    xs = [b.add_input(t, f"x{i}") for i, t in enumerate(in_types)]
    regs: dict[int, int] = {}
    result = None
    for k, part in enumerate(filter(str.strip, program.split(";"))):
        m = _INSTR.match(part)
        if m is None:
            raise ValueError(f"cannot read instruction {part.strip()!r}")
        dst, op, params, args = int(m[1]), m[2], m[3], m[4]
        srcs = []
        for a in args.split(","):
            r = _REG.match(a)
            if r is None:
                raise ValueError(f"{op}: {a.strip()!r} is not a register")
            table = xs if r[1] == "x" else regs
            if int(r[2]) not in (range(len(xs)) if r[1] == "x" else regs):
                raise ValueError(f"{op} reads {r[1]}{r[2]}, which holds no value")
            srcs.append(table[int(r[2])])
        values = params.split(",") if params else []
        names = _PARAMS.get(op, ())
        if len(values) != len(names):
            raise ValueError(f"{op} takes {len(names)} parameter(s), got {len(values)}")
        attrs = {n: _param(v, kind) for (n, kind), v in zip(names, values, strict=True)}
        (regs[dst],) = b.add_node(op, srcs, attrs, loc=loc, name=f"{op}_{k}")
        result = regs[dst]
    if result is None:
        raise ValueError("the program is empty")
    return b.build([result], ["y"])


def upgrade_v1_node(node: Node, types: Sequence[TensorType],
                    fail: Callable[..., ExecutableFormatError]) -> Node:
    """``node`` as format 2 holds it (itself unless it is a format 1 fused program)."""
    attrs = node.attr_dict
    if node.op != "fused_elementwise" or set(attrs) != {"program", "dtype"}:
        return node
    try:
        in_types = [types[v] for v in node.inputs]
        body = program_body(attrs["program"], in_types, node.name or "fused", node.loc)
    except (ValueError, TypeError, IndexError, TfrtRayError) as exc:
        msg = exc.message if isinstance(exc, TfrtRayError) else str(exc)
        raise fail("", f"node '{node.name}': its format 1 program cannot be read: {msg}",
                    node=node.name or None) from None
    if body.types[body.outputs[0]].dtype != attrs["dtype"]:
        raise fail("", f"node '{node.name}': its format 1 program computes "
                   f"{body.types[body.outputs[0]].dtype}, not {attrs['dtype']}",
                   node=node.name or None)
    return Node(node.op, node.inputs, node.outputs, freeze_attrs({"body": body}), node.name,
                node.loc)
