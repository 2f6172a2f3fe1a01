"""Properties of the IR text form: random graphs round trip exactly, and mutated text
raises only `IRParseError` (with line:column), never another exception."""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.ir.text_graphs import round_trip, sample_graph
from tfrt_ray.errors import IRParseError, TfrtRayError
from tfrt_ray.ir import Graph, GraphBuilder, Loc, Node, TensorType, parse_graph, print_graph, verify
from tfrt_ray.ir.types import DTYPES

_text = st.text(st.characters(exclude_categories=()), max_size=8)
_floats = st.floats(allow_nan=False, width=64)
_dims = st.one_of(st.integers(0, 9), st.sampled_from(["?", "N", "batch size", ""]))
_locs = st.builds(Loc, st.none() | _text, st.integers(-3, 10**9), st.none() | _text)
_input_dtypes = st.sampled_from(("f32", "f32", "f64", "f16", "i32", "i1"))
_UNARY = ["relu", "tanh", "neg", "abs", "exp", "sign", "logical_not", "identity", "floor"]
_BINARY = ["add", "sub", "mul", "maximum", "div", "pow", "less", "logical_and"]


@st.composite
def graphs(draw) -> Graph:
    b = GraphBuilder(draw(_text))
    shape = tuple(draw(st.lists(_dims, max_size=3)))
    values = [
        b.add_input(TensorType(draw(_input_dtypes), s), draw(st.none() | _text))
        for s in draw(st.lists(st.sampled_from([shape, shape[1:], ()]), min_size=1, max_size=3))
    ]
    for _ in range(draw(st.integers(0, 12))):
        op = draw(st.sampled_from(_UNARY + _BINARY + ["gelu", "leaky_relu", "clip", "cast"]))
        attrs = {
            "gelu": {"approximate": draw(_text)},
            "leaky_relu": {"alpha": draw(_floats)},
            "clip": {"min": draw(st.none() | _floats), "max": draw(st.none() | _floats)},
            "cast": {"dtype": draw(st.sampled_from(DTYPES))},
        }.get(op, {})
        ins = [draw(st.sampled_from(values)) for _ in range(2 if op in _BINARY else 1)]
        name, loc = draw(st.none() | _text), draw(_locs)
        try:
            values += b.add_node(op, ins, attrs, loc=loc, name=name)
        except TfrtRayError:
            pass  # the drawn inputs do not suit the op
    outs = draw(st.lists(st.sampled_from(values), max_size=4))
    g = b.build(outs, draw(st.lists(_text, min_size=len(outs), max_size=len(outs))) or None)
    perm = draw(st.permutations(range(len(g.types))))  # ids need not follow the order
    new = dict(enumerate(perm))
    types = [None] * len(perm)
    for old, v in new.items():
        types[v] = g.types[old]

    def ids(vs):
        return tuple(new[v] for v in vs)

    nodes = tuple(
        Node(n.op, ids(n.inputs), ids(n.outputs), n.attrs, n.name, n.loc) for n in g.nodes
    )
    return Graph(
        g.name, tuple(types), ids(g.inputs), ids(g.outputs), nodes, g.input_names, g.output_names
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_round_trip(g: Graph) -> None:
    verify(g)
    round_trip(g)


_SYNTAX = st.sampled_from(list('%"(){}[]<>,:=-.x019 \n@/\\') + ["tr.", "tensor<", "loc(", "dense<"])


@st.composite
def mutated(draw) -> str:
    text = print_graph(draw(st.sampled_from(_FUZZ_BASES)))
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        kind = draw(st.sampled_from(["truncate", "delete", "insert", "replace", "dup"]))
        if kind == "truncate":
            text = text[:i]
        elif kind == "delete":
            text = text[:i] + text[j:]
        elif kind == "dup":
            text = text[:j] + text[i:j] + text[j:]
        else:
            junk = "".join(draw(st.lists(_SYNTAX | st.characters(), min_size=1, max_size=4)))
            text = text[:i] + junk + text[j if kind == "replace" else i :]
    return text


def _fuzz_bases() -> list[Graph]:
    b = GraphBuilder("g")
    x = b.add_input(TensorType("f32", (2, "N")), "x")
    (y,) = b.add_node("clip", [x], {"min": 0.0}, loc=Loc("a.py", 1, "c"))
    (z,) = b.add_node("cast", [y], {"dtype": "i64"})
    bases = [sample_graph(), b.build([z, y])]
    try:  # other families, when registered: a constant and a multi-output op
        (k,) = b.add_node("constant", [], {"value": np.array([[1.5, -0.0]], np.float32)})
        bases.append(b.build(b.add_node("split", [k], {"axis": 1, "sizes": [1, 1]}) + (z,)))
    except TfrtRayError:
        pass
    return bases


_FUZZ_BASES = _fuzz_bases()


@settings(max_examples=200, deadline=None)
@given(mutated() | st.text(max_size=40))
def test_fuzzed_text_raises_only_parse_errors(text: str) -> None:
    try:
        g = parse_graph(text)
    except IRParseError as err:
        assert re.match(r"\d+:\d+: ", err.message)
        return
    assert parse_graph(print_graph(g)) == g
