"""The program section: a graph, its weights' table, plan and metadata as JSON, and back::

    {"graph": {"name": str, "types": [[dtype, [dim, ...]], ...],  # dim: int or symbol str
               "inputs": [id, ...], "outputs": [id, ...],
               "input_names": [str, ...], "output_names": [str, ...],
               "nodes": [{"op": str, "inputs": [id, ...], "outputs": [id, ...],
                          "attrs": [[name, value], ...], "name": str,
                          "loc": null | [file | null, line, name | null]}, ...]},
     "weights": [{"dtype": str, "shape": [int, ...], "offset": int, "nbytes": int,
                  "crc32": int}, ...],       # offsets relative to the data region
     "plan": null | Plan.to_dict() without its "graph" text,
     "metadata": {str: str}}

Every object has exactly these keys; each weight starts at the first 64-byte boundary
after the one before, and every weight is used by some attribute, so the form is canonical.
Attribute values map to JSON one to one, so a value keeps its Python type (``1`` stays an
int, ``1.0`` a float, ``True`` a bool): None, bools, ints, finite floats and strs are
themselves; tuples are arrays; ``{"f": "nan" | "inf" | "-inf"}`` is a non-finite float,
``{"t": i}`` is weight ``i`` (a `ConstTensor` whose bytes are in the data region) and
``{"g": {graph}}`` a graph (a fused op's body, format 2 on), in the graph's own form.

Format 1 files hold ``fused_elementwise`` as a program string; `tfrt_ray.executable.legacy`
turns it into the body it stands for as the file is read.

Decoding trusts nothing: every field's type, every dtype token and op name is checked, and
each problem is an `ExecutableFormatError` that names the field (``nodes[3].attrs[0]``).
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

from tfrt_ray.errors import ExecutableFormatError, TfrtRayError
from tfrt_ray.executable.header import ALIGN, FORMAT_VERSION, RECOMPILE, align
from tfrt_ray.ir.graph import ConstTensor, Graph, Node
from tfrt_ray.ir.location import UNKNOWN, Loc
from tfrt_ray.ir.types import DTYPES, TensorType, numpy_dtype

MAX_DEPTH = 64  # nesting of attribute lists
_DOC_KEYS = ("graph", "weights", "plan", "metadata")
_GRAPH_KEYS = ("name", "types", "inputs", "outputs", "input_names", "output_names", "nodes")
_NODE_KEYS = ("op", "inputs", "outputs", "attrs", "name", "loc")
_WEIGHT_KEYS = ("dtype", "shape", "offset", "nbytes", "crc32")
_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class WeightEntry(NamedTuple):
    """Where one weight's bytes are: ``offset`` is relative to the data region."""

    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int
    crc32: int


# ---- encoding ------------------------------------------------------------------------


def encode_program(
    graph: Graph, plan: dict | None, metadata: dict[str, str]
) -> tuple[dict, list[ConstTensor]]:
    """The program as JSON-able data (weights' offsets and checksums left to fill), and the
    weights in data-region order. A ConstTensor held twice is stored once."""
    weights: list[ConstTensor] = []
    index: dict[int, int] = {}

    def enc_value(v: Any, where: str, depth: int) -> Any:
        if v is None:
            return None
        if isinstance(v, bool):
            return bool(v)
        if isinstance(v, str):
            return str(v)
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            v = float(v)
            return v if math.isfinite(v) else {"f": repr(v)}
        if isinstance(v, ConstTensor):
            if id(v) not in index:
                index[id(v)] = len(weights)
                weights.append(v)
            return {"t": index[id(v)]}
        if isinstance(v, (tuple, list)) and depth < MAX_DEPTH:
            return [enc(x, where, depth + 1) for x in v]
        raise ExecutableFormatError(
            f"{where}: {type(v).__name__} value {v!r:.80} has no executable form",
            hint="attributes hold None, bool, int, float, str, ConstTensor, Graph and tuples "
            f"of those (nested at most {MAX_DEPTH} deep)",
        )

    def enc_graph(g: Graph, where: str) -> dict:
        nodes = []
        for n in g.nodes:
            attrs = [[k, enc(v, f"{where}node '{n.name}' attribute '{k}'")] for k, v in n.attrs]
            loc = None if n.loc == UNKNOWN else [n.loc.file, n.loc.line, n.loc.name]
            nodes.append({"op": n.op, "inputs": list(n.inputs), "outputs": list(n.outputs),
                          "attrs": attrs, "name": n.name, "loc": loc})
        return {
            "name": g.name,
            "types": [[t.dtype, [d if type(d) is str else int(d) for d in t.shape]]
                      for t in g.types],
            "inputs": list(g.inputs),
            "outputs": list(g.outputs),
            "input_names": list(g.input_names),
            "output_names": list(g.output_names),
            "nodes": nodes,
        }

    def enc(v: Any, where: str, depth: int = 0) -> Any:
        if isinstance(v, Graph) and depth < MAX_DEPTH:
            return {"g": enc_graph(v, f"{where}: body ")}
        return enc_value(v, where, depth)

    doc = {"graph": enc_graph(graph, ""), "weights": [], "plan": plan,
           "metadata": dict(metadata)}
    return doc, weights


def weight_table(weights: list[ConstTensor], crcs: list[int]) -> tuple[list[dict], int]:
    """The weights' entries (each at the next 64-byte boundary) and the data region's size."""
    table, end = [], 0
    for ct, crc in zip(weights, crcs, strict=True):
        a = ct.array
        offset = align(end)
        table.append(
            {
                "dtype": ct.type.dtype,
                "shape": list(a.shape),
                "offset": offset,
                "nbytes": a.nbytes,
                "crc32": crc,
            }
        )
        end = offset + a.nbytes
    return table, end


def dumps(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


# ---- decoding ------------------------------------------------------------------------


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("an object has a repeated key")
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Reader:
    """Decodes one program section; ``where`` (the file) prefixes every message."""

    def __init__(self, where: str, version: int = FORMAT_VERSION) -> None:
        self.where = where
        self.version = version  # the file's format version

    def fail(self, path: str, msg: str, hint: str | None = None, **ctx) -> ExecutableFormatError:
        at = f" at {path}" if path else ""
        return ExecutableFormatError(
            f"{self.where}: bad program section{at}: {msg}", hint=hint or RECOMPILE, **ctx
        )

    def loads(self, raw: bytes) -> dict:
        try:
            doc = json.loads(
                raw.decode("utf-8"), object_pairs_hook=_pairs, parse_constant=_no_constant
            )
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise self.fail("", f"not valid JSON ({str(exc)[:200]})") from None
        return self.obj(doc, _DOC_KEYS, "")

    # -- typed fields

    def obj(self, v: Any, keys: tuple[str, ...], path: str) -> dict:
        if type(v) is not dict or v.keys() != set(keys):
            found = sorted(v) if type(v) is dict else type(v).__name__
            raise self.fail(path, f"expected an object with keys {list(keys)}, found {found}")
        return v

    def array(self, v: Any, path: str) -> list:
        if type(v) is not list:
            raise self.fail(path, f"expected an array, found {type(v).__name__}")
        return v

    def string(self, v: Any, path: str) -> str:
        if type(v) is not str:
            raise self.fail(path, f"expected a string, found {type(v).__name__}")
        return v

    def integer(self, v: Any, path: str, lo: int = 0, hi: int | None = None) -> int:
        if type(v) is not int or v < lo or (hi is not None and v >= hi):
            rng = f">= {lo}" if hi is None else f"in [{lo}, {hi})"
            raise self.fail(path, f"expected an int {rng}, found {v!r:.40}")
        return v

    def ints(self, v: Any, path: str) -> tuple[int, ...]:
        return tuple(self.integer(x, f"{path}[{i}]") for i, x in enumerate(self.array(v, path)))

    def strs(self, v: Any, path: str) -> tuple[str, ...]:
        return tuple(self.string(x, f"{path}[{i}]") for i, x in enumerate(self.array(v, path)))

    def dtype(self, v: Any, path: str) -> str:
        if type(v) is not str or v not in DTYPES:
            raise self.fail(path, f"{v!r:.40} is not a dtype token ({', '.join(DTYPES)})")
        return v

    def tensor_type(self, v: Any, path: str) -> TensorType:
        if type(v) is not list or len(v) != 2:
            raise self.fail(path, "expected a type [dtype, [dims]]")
        dims = self.array(v[1], f"{path}[1]")
        for j, d in enumerate(dims):
            if type(d) is not str:
                self.integer(d, f"{path}[1][{j}]")
        return TensorType(self.dtype(v[0], f"{path}[0]"), tuple(dims))

    def loc(self, v: Any, path: str) -> Loc:
        if v is None:
            return UNKNOWN
        if type(v) is not list or len(v) != 3:
            raise self.fail(path, "expected a location [file | null, line, name | null]")
        file, line, name = v
        for x, p in ((file, 0), (name, 2)):
            if x is not None:
                self.string(x, f"{path}[{p}]")
        if type(line) is not int:
            raise self.fail(f"{path}[1]", "expected an int line number")
        return Loc(file, line, name)

    # -- sections

    def weights(self, v: Any, data_length: int) -> list[WeightEntry]:
        """The weights' table, each entry bounds-checked against the data region."""
        out, end = [], 0
        for i, w in enumerate(self.array(v, "weights")):
            path = f"weights[{i}]"
            w = self.obj(w, _WEIGHT_KEYS, path)
            dtype = self.dtype(w["dtype"], f"{path}.dtype")
            shape = self.ints(w["shape"], f"{path}.shape")
            offset = self.integer(w["offset"], f"{path}.offset")
            nbytes = self.integer(w["nbytes"], f"{path}.nbytes")
            crc = self.integer(w["crc32"], f"{path}.crc32", 0, 1 << 32)
            if offset != align(end):
                raise self.fail(
                    path,
                    f"offset {offset} is not {align(end)}, the next "
                    f"{ALIGN}-byte boundary after the previous weight",
                )
            if offset + nbytes > data_length:
                raise self.fail(
                    path,
                    f"bytes [{offset}, {offset + nbytes}) run past the "
                    f"data region ({data_length} bytes): the file is corrupt",
                )
            numel = 0 if 0 in shape else numpy_dtype(dtype).itemsize
            for d in shape:
                numel *= d
                if numel > nbytes:  # stops huge products early
                    break
            if numel != nbytes:
                raise self.fail(
                    path, f"{nbytes} bytes do not hold a {dtype} tensor of shape {list(shape)}"
                )
            out.append(WeightEntry(dtype, shape, offset, nbytes, crc))
            end = offset + nbytes
        if end != data_length:
            raise self.fail(
                "weights",
                f"the weights end at byte {end} of the data region, "
                f"which is {data_length} bytes: the file is corrupt",
            )
        return out

    def metadata(self, v: Any) -> dict[str, str]:
        if type(v) is not dict:
            raise self.fail("metadata", f"expected an object, found {type(v).__name__}")
        for k, x in v.items():
            self.string(x, f"metadata[{k!r:.40}]")
        return dict(v)

    def graph(self, v: Any, tensors: list[ConstTensor]) -> Graph:
        used = [False] * len(tensors)
        graph = self.sub_graph(v, "graph", tensors, used)
        if not all(used):
            raise self.fail("weights", f"weight {used.index(False)} is used by no attribute")
        return graph

    def sub_graph(self, v: Any, path: str, tensors: list[ConstTensor], used: list[bool],
                  depth: int = 0) -> Graph:
        """The graph at ``path``: the program's, or a body held in an attribute."""
        g = self.obj(v, _GRAPH_KEYS, path)
        types = tuple(
            self.tensor_type(t, f"{path}.types[{i}]")
            for i, t in enumerate(self.array(g["types"], f"{path}.types"))
        )
        nodes = tuple(
            self.node(n, f"{path}.nodes[{i}]", tensors, used, depth)
            for i, n in enumerate(self.array(g["nodes"], f"{path}.nodes"))
        )
        if self.version < 2:
            from tfrt_ray.executable.legacy import upgrade_v1_node

            nodes = tuple(upgrade_v1_node(n, types, self.fail) for n in nodes)
        inputs, input_names = self.ends(g, "inputs", path)
        outputs, output_names = self.ends(g, "outputs", path)
        name = self.string(g["name"], f"{path}.name")
        return Graph(name, types, inputs, outputs, nodes, input_names, output_names)

    def ends(self, g: dict, key: str, path: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """The graph's inputs or outputs and their names, one each (else Graph() would
        invent names)."""
        names_key = key[:-1] + "_names"
        ids = self.ints(g[key], f"{path}.{key}")
        names = self.strs(g[names_key], f"{path}.{names_key}")
        if len(names) != len(ids):
            raise self.fail(f"{path}.{names_key}", f"{len(names)} names for {len(ids)} {key}")
        return ids, names

    def node(self, v: Any, path: str, tensors: list[ConstTensor], used: list[bool],
             depth: int = 0) -> Node:
        from tfrt_ray.ir.ops import get_op

        d = self.obj(v, _NODE_KEYS, path)
        name = self.string(d["name"], f"{path}.name")
        op = self.string(d["op"], f"{path}.op")
        loc = self.loc(d["loc"], f"{path}.loc")
        try:
            get_op(op)
        except TfrtRayError:
            raise self.fail(
                path,
                f"unknown op '{op:.80}'",
                node=name or None,
                hint="upgrade tfrt-ray (or install the plugin that registers the op), "
                f"or {RECOMPILE}",
            ) from None

        def attr(x: Any, p: str, depth: int = 0) -> Any:
            t = type(x)
            if x is None or t is bool or t is int or t is float or t is str:
                return x
            if t is list and depth < MAX_DEPTH:
                return tuple(attr(y, f"{p}[{j}]", depth + 1) for j, y in enumerate(x))
            if t is dict and len(x) == 1 and "t" in x:
                k = self.integer(x["t"], f"{p}.t", 0, len(tensors))
                used[k] = True
                return tensors[k]
            if t is dict and len(x) == 1 and type(x.get("f")) is str and x["f"] in _NONFINITE:
                return _NONFINITE[x["f"]]
            if t is dict and len(x) == 1 and "g" in x and self.version >= 2 \
                    and depth + 1 < MAX_DEPTH:
                return self.sub_graph(x["g"], f"{p}.g", tensors, used, depth + 1)
            raise self.fail(p, f"{x!r:.60} is not an attribute value", node=name or None)

        attrs = []
        for j, pair in enumerate(self.array(d["attrs"], f"{path}.attrs")):
            p = f"{path}.attrs[{j}]"
            if type(pair) is not list or len(pair) != 2:
                raise self.fail(p, "expected [name, value]", node=name or None)
            attrs.append((self.string(pair[0], f"{p}[0]"), attr(pair[1], f"{p}[1]")))
        return Node(
            op,
            self.ints(d["inputs"], f"{path}.inputs"),
            self.ints(d["outputs"], f"{path}.outputs"),
            tuple(attrs),
            name,
            loc,
        )
