"""The parser of the IR text form (see `tfrt_ray.ir.text` for the syntax)."""


from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from tfrt_ray.errors import IRParseError, TfrtRayError
from tfrt_ray.ir.graph import ConstTensor, Graph, Node, freeze_attrs
from tfrt_ray.ir.location import UNKNOWN, Loc
from tfrt_ray.ir.text import (  # noqa: F401  (shared lexical constants)
    _DTYPE,
    _HEX,
    _IDENT,
    _INT,
    _KEY,
    _MAX_TOKEN,
    _NUM,
    _SPACE,
    _STR,
    _WORDS,
    _WS,
    DIALECT,
    ELIDED,
    MAX_DEPTH,
    format_type,
)
from tfrt_ray.ir.types import DTYPES, TensorType, numpy_dtype

# ---- parsing -------------------------------------------------------------------------


def parse_graph(text: str) -> Graph:
    """Parses `print_graph`'s text; raises IRParseError (with line:column) if malformed."""
    return _Parser(text).graph()


def parse_type(text: str) -> TensorType:
    """Parses one type, e.g. ``tensor<2x{N}xf32>``."""
    p = _Parser(text)
    t = p.type()
    p.end()
    return t


class _Parser:
    """Recursive descent straight over the characters (types need their own lexing)."""

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise IRParseError(f"expected IR text as a str, got {type(text).__name__}")
        self.s, self.i = text, 0
        self.types: dict[str, TensorType] = {}  # type text -> type, for repeated types
        self.nesting = 0  # graphs inside attributes (fused bodies) being parsed

    def error(self, msg: str, pos: int | None = None, **fields: Any) -> IRParseError:
        pos = self.i if pos is None else pos
        line, col = self.s.count("\n", 0, pos) + 1, pos - self.s.rfind("\n", 0, pos)
        return IRParseError(f"{line}:{col}: {msg}", **fields)

    def ws(self) -> int:
        if self.s[self.i : self.i + 1] not in _SPACE:  # the fast path: no space to skip
            return self.i
        while True:
            self.i = _WS.match(self.s, self.i).end()
            if not self.s.startswith("//", self.i):
                return self.i
            j = self.s.find("\n", self.i)
            self.i = len(self.s) if j < 0 else j

    def expected(self, what: str) -> IRParseError:
        s, i = self.s, self.ws()
        m = _STR.match(s, i) or _NUM.match(s, i) or _IDENT.match(s, i)
        tok = m.group() if m else s[i : i + 1]
        found = repr(tok if len(tok) <= 24 else tok[:24] + "...") if tok else "end of input"
        return self.error(f"expected {what}, found {found}")

    def peek(self, lit: str) -> bool:
        return self.s.startswith(lit, self.ws())

    def eat(self, lit: str) -> bool:
        if self.peek(lit):
            self.i += len(lit)
            return True
        return False

    def expect(self, lit: str, what: str | None = None) -> None:
        if not self.eat(lit):
            raise self.expected(what or repr(lit))

    def match(self, pattern: re.Pattern, what: str, limit: int = _MAX_TOKEN) -> str:
        m = pattern.match(self.s, self.ws())
        if not m or m.end() - m.start() > limit:
            raise self.expected(what)
        self.i = m.end()
        return m.group()

    def keyword(self, word: str) -> bool:
        m = _IDENT.match(self.s, self.ws())
        if m and m.group() == word:
            self.i = m.end()
            return True
        return False

    def string(self, what: str = "a string") -> str:
        text = self.match(_STR, what, limit=len(self.s))
        if "\\" not in text:
            return text[1:-1]
        try:
            return json.loads(text, strict=False)
        except ValueError:
            raise self.error("invalid escape in string") from None

    def name(self, what: str) -> str:
        return self.string(what) if self.peek('"') else self.match(_IDENT, what)

    def integer(self, what: str = "a line number") -> int:
        return int(self.match(_INT, what))

    def seq(self, item: Any, close: str, eat_close: bool = True) -> list:
        """``item (',' item)*`` up to ``close``."""
        out = []
        if not self.peek(close):
            out.append(item())
            while not self.peek(close):
                self.expect(",", f"',' or {close!r}")
                out.append(item())
        self.i += len(close) if eat_close else 0
        return out

    def end(self) -> None:
        if self.ws() != len(self.s):
            raise self.expected("end of input")

    # -- grammar

    def value(self) -> tuple[int, int]:
        """``%N``, with its position."""
        pos = self.ws()
        self.expect("%", "a value like %0")
        if not self.s[self.i : self.i + 1].isdigit():
            raise self.expected("a value number after '%'")
        return pos, self.integer("a value number")

    def type(self) -> TensorType:
        s, i = self.s, self.ws()
        key = s[i : s.find(">", i) + 1]
        if key in self.types:
            self.i += len(key)
            return self.types[key]
        if not s.startswith("tensor<", i):
            raise self.expected("a type like tensor<2x3xf32>")
        self.i += 7
        dims: list[int | str] = []
        while True:
            if s.startswith("?", self.i):
                dims.append("?")
                self.i += 1
            elif s.startswith("{", self.i):
                self.i += 1
                dims.append(self.name("a dimension symbol"))
                if not s.startswith("}", self.i):
                    raise self.expected("'}'")
                self.i += 1
            elif _INT.match(s, self.i):
                dims.append(self.integer("a dimension"))
            else:
                break
            if not s.startswith("x", self.i):
                raise self.expected("'x' after a dimension")
            self.i += 1
        m = _DTYPE.match(s, self.i)
        if not m or m.group() not in DTYPES or not s.startswith(">", m.end()):
            raise self.expected(f"a dtype ({', '.join(DTYPES)}) and '>'")
        self.i = m.end() + 1
        t = TensorType(m.group(), tuple(dims))
        if '"' not in key and self.i - i == len(key):
            self.types[key] = t
        return t

    def attr(self, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.error(f"attribute nested deeper than {MAX_DEPTH} levels")
        s, i = self.s, self.ws()
        if s.startswith('"', i):
            return self.string()
        if self.eat("["):
            return tuple(self.seq(lambda: self.attr(depth + 1), "]"))
        if s.startswith("-inf", i) and not _IDENT.match(s, i + 4):
            self.i += 4
            return -math.inf
        m = _NUM.match(s, i)
        if m:
            text = self.match(_NUM, "a number")
            return float(text) if m.group(1) or m.group(2) else int(text)
        m = _IDENT.match(s, i)
        word = m.group() if m else ""
        if word in _WORDS or word in DTYPES:
            self.i = m.end()
            return _WORDS.get(word, word)
        if word == "dense":
            self.i = m.end()
            return self.dense()
        if word == "func":
            if self.nesting >= MAX_DEPTH:
                raise self.error(f"graphs nested deeper than {MAX_DEPTH} levels")
            self.nesting += 1
            try:
                return self.func()
            finally:
                self.nesting -= 1
        raise self.expected("an attribute value")

    def dense(self) -> ConstTensor:
        self.expect("<")
        pos = self.ws()
        if self.eat(ELIDED):
            msg = "constants were elided when this text was printed; it cannot be parsed back"
            raise self.error(msg, pos, hint="print it with elide_constants=False")
        data = self.string('a hex string like "0x00FF"')
        self.expect(">")
        self.expect(":")
        t = self.type()
        count = 1
        for d in t.shape:
            count *= d if type(d) is int and d >= 0 else -1
        dtype = numpy_dtype(t.dtype)
        if data[:2] != "0x" or not _HEX.fullmatch(data, 2):
            raise self.error('constant data must be "0x" and hex digits', pos)
        raw = bytes.fromhex(data[2:])
        if count < 0 or len(raw) != count * dtype.itemsize:
            raise self.error(f"constant data ({len(raw)} bytes) does not fit {format_type(t)}", pos)
        if t.dtype == "i1" and raw.strip(b"\x00\x01"):
            raise self.error("i1 constant data must be bytes 00 or 01", pos)
        try:
            array = np.frombuffer(raw, dtype.newbyteorder("<")).astype(dtype).reshape(t.shape)
        except (ValueError, OverflowError) as exc:
            raise self.error(f"bad constant: {exc}", pos) from None
        return ConstTensor(array)

    def attr_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        self.expect("{")

        def item() -> None:
            pos = self.ws()
            key = self.name("an attribute name")
            if key in out:
                raise self.error(f"attribute '{key}' is given twice", pos)
            self.expect("=")
            out[key] = self.attr()

        self.seq(item, "}")
        return out

    def arg(self, with_value: bool) -> tuple[int, int, TensorType, str | None]:
        """A signature entry: ``%0: tensor<..> {name = "x"}`` (results have no ``%0:``)."""
        pos, v = self.value() if with_value else (self.ws(), -1)
        if with_value:
            self.expect(":")
        t, name = self.type(), None
        if self.peek("{"):
            apos = self.ws()
            attrs = self.attr_dict()
            if set(attrs) != {"name"} or not isinstance(attrs["name"], str):
                raise self.error('expected {name = "<string>"}', apos)
            name = attrs["name"]
        return pos, v, t, name

    def loc(self) -> tuple[str, Loc]:
        """``loc(...)``: the node's name and its Loc (see the module docstring)."""
        self.expect("(")
        names: list[str] = []
        fl, opened = UNKNOWN, 0
        while len(names) < 3:
            if self.keyword("unknown"):
                fl = Loc(None, self.integer() if self.eat(":") else 0)
                break
            text = self.string("a location")
            if self.eat(":"):
                fl = Loc(text, self.integer("a line number"))
                break
            names.append(text)
            if not self.eat("("):
                break
            opened += 1
        if len(names) > 2:
            raise self.error("location nested too deeply: expected at most name(name(loc))")
        for _ in range(opened + 1):
            self.expect(")")
        if len(names) < 2:
            return (names[0] if names else ""), fl
        return names[0], Loc(fl.file, fl.line, names[1])

    def graph(self) -> Graph:
        g = self.func()
        self.end()
        return g

    def func(self) -> Graph:
        """``func @name(args) -> (results) { nodes; return ... }`` (value ids are its own)."""
        from tfrt_ray.ir.ops import get_op

        if not self.keyword("func"):
            raise self.expected("'func'")
        self.expect("@")
        gname = self.name("a function name")
        self.expect("(")
        args = self.seq(lambda: self.arg(True), ")")
        self.expect("->")
        self.expect("(")
        results = self.seq(lambda: self.arg(False), ")")
        self.expect("{")
        types: dict[int, TensorType] = {}
        self.define(types, [(pos, v) for pos, v, _, _ in args], [a[2] for a in args])
        nodes = []
        while not self.keyword("return"):
            nodes.append(self.node(types, get_op))
        rets = self.seq(self.value, "}", eat_close=False)
        self.expect("}")
        if len(rets) != len(results):
            raise self.error(f"returns {len(rets)} values but the signature has {len(results)}")
        self.use(types, rets, [r[2] for r in results])
        for k in range(len(types)):
            if k not in types:
                raise self.error(f"value ids must be dense, but %{k} is never defined", 0)
        return Graph(
            name=gname,
            types=tuple(types[k] for k in range(len(types))),
            inputs=tuple(a[1] for a in args),
            outputs=tuple(v for _, v in rets),
            nodes=tuple(nodes),
            input_names=tuple(f"input_{i}" if a[3] is None else a[3] for i, a in enumerate(args)),
            output_names=tuple(
                f"output_{i}" if r[3] is None else r[3] for i, r in enumerate(results)
            ),
        )

    def define(self, types: dict, values: list, new: list) -> None:
        for (pos, v), t in zip(values, new, strict=True):
            if v in types:
                raise self.error(f"value %{v} is defined twice", pos)
            types[v] = t

    def use(self, types: dict, values: list, annotated: list, label: str = "", **where: Any):
        """Checks that values are defined and have their annotated types."""
        for (pos, v), t in zip(values, annotated, strict=True):
            if v not in types:
                raise self.error(f"{label}use of undefined value %{v}", pos, **where)
            if types[v] != t:
                msg = f"{label}%{v} is {format_type(types[v])}, not {format_type(t)}"
                raise self.error(msg, pos, **where)

    def node(self, types: dict, get_op: Any) -> Node:
        start = self.ws()
        outs = self.seq(self.value, "=") if self.peek("%") else []
        op_pos = self.ws()
        op = self.string("an op name like \"tr.add\" (or 'return')")
        if not op.startswith(DIALECT):
            raise self.error(f"op name {op!r} must start with {DIALECT!r}", op_pos)
        op = op[len(DIALECT) :]
        self.expect("(")
        ins = self.seq(self.value, ")")
        attrs = self.attr_dict() if self.peek("{") else {}
        self.expect(":")
        tpos = self.ws()
        self.expect("(")
        in_types = self.seq(self.type, ")")
        self.expect("->")
        out_types = self.seq(self.type, ")") if self.eat("(") else [self.type()]
        name, loc = self.loc() if self.keyword("loc") else ("", UNKNOWN)
        where = dict(op=op, node=name or None, loc=None if loc == UNKNOWN else loc)
        label = "" if name else f"'{DIALECT}{op}': "  # else str(err) names op and node
        if len(in_types) != len(ins) or len(out_types) != len(outs):
            raise self.error(f"{label}the numbers of types and values differ", tpos, **where)
        self.use(types, ins, in_types, label, **where)
        try:
            spec = get_op(op)
        except TfrtRayError:
            raise self.error(f"unknown op '{DIALECT}{op}'", op_pos, **where) from None
        try:
            full, inferred = spec.check(tuple(in_types), attrs, node=name or None, loc=loc)
            frozen = freeze_attrs(full)
        except TfrtRayError as err:
            raise self.error(label + err.message, start, hint=err.hint, **where) from None
        except Exception as exc:  # an op rule's bug must not leak as another type
            raise self.error(f"{label}{exc!r}", start, **where) from None
        if tuple(inferred) != tuple(out_types):
            got, want = (", ".join(map(format_type, ts)) for ts in (out_types, inferred))
            msg = f"{label}result types ({got}) differ from the inferred ({want})"
            raise self.error(msg, start, **where)
        self.define(types, outs, inferred)
        return Node(op, tuple(v for _, v in ins), tuple(v for _, v in outs), frozen, name, loc)
