"""The IR text form: exact round trips, attribute and location syntax, fused bodies, parse
errors (properties over random and mutated graphs: `test_text_properties.py`)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from tests.ir.text_graphs import F32, round_trip, sample_graph
from tfrt_ray.errors import IRParseError, TfrtRayError
from tfrt_ray.ir import (
    ConstTensor,
    Graph,
    GraphBuilder,
    Loc,
    Node,
    TensorType,
    parse_graph,
    print_graph,
)
from tfrt_ray.ir.ops import all_ops, get_op
from tfrt_ray.ir.text import format_attr, format_loc
from tfrt_ray.ir.text_parse import _Parser
from tfrt_ray.ir.types import DTYPES


def test_sample_graph_text() -> None:
    g = sample_graph()
    text = round_trip(g)
    lines = text.splitlines()
    assert lines[0] == (
        'func @mlp(%0: tensor<64x{N}x?xf32> {name = "x"}, %1: tensor<64x{N}x?xf32> '
        '{name = "w"}) -> (tensor<64x{N}x?xi32> {name = "out"}, tensor<64x{N}x?xf32> '
        '{name = "y"}, tensor<64x{N}x?xf32> {name = "x again"}) {'
    )
    assert lines[1] == (
        '  %2 = "tr.add"(%0, %1) : (tensor<64x{N}x?xf32>, tensor<64x{N}x?xf32>) '
        '-> tensor<64x{N}x?xf32> loc("add"("/home/u/model.py":12))'
    )
    assert '{approximate = "tanh"}' in lines[2] and 'loc("gelu"("onnx_7"("m.py":3)))' in lines[2]
    assert "{max = none, min = -1.5}" in lines[3] and 'loc("clamp")' in lines[3]
    assert "{dtype = i32}" in lines[4] and 'loc("cast"(unknown:5))' in lines[4]
    assert 'loc("leaky_relu"("lr"))' in lines[6] and "{alpha = 0.1}" in lines[6]
    assert lines[-2:] == ["  return %6, %9, %0", "}"]
    assert g.as_text() == text
    assert str(g) == print_graph(g, elide_constants=True) == text  # no constants to elide


def test_value_ids_are_kept_as_printed() -> None:
    t = TensorType("f32", (3,))
    relu = Node("relu", (4,), (0,), (), "r", Loc("a.py", 1))
    add = Node("add", (0, 4), (2,), (), "a")
    neg = Node("neg", (2,), (1,), (), "n")
    g = Graph("perm", (t, t, t, TensorType("f32", ()), t), (4, 3), (1, 3), (relu, add, neg))
    text = round_trip(g)
    assert '%0 = "tr.relu"(%4)' in text and "return %1, %3" in text


@pytest.mark.parametrize("name", ["", "relu", "n 1", 'q"\\\n\t\x00é\ud800', "loc", "unknown"])
@pytest.mark.parametrize(
    "loc",
    [
        Loc(),
        Loc("m.py", 3),
        Loc("m.py", 3, "onnx"),
        Loc(None, 0, "onnx"),
        Loc(None, 7),
        Loc(None, 7, ""),
        Loc("", 0),
        Loc("", 0, ""),
        Loc("C:\\a b\\(x):1.py", -2, "relu"),
        Loc("unknown", 0, "unknown"),
    ],
)
def test_locations_and_names_round_trip(name: str, loc: Loc) -> None:
    g = Graph("g", (F32, F32), (0,), (1,), (Node("relu", (0,), (1,), (), name, loc),))
    text = round_trip(g)
    assert format_loc(name, loc) in text


def test_location_forms() -> None:
    assert format_loc("", Loc()) == "loc(unknown)"
    assert format_loc("", Loc("f.py", 2)) == 'loc("f.py":2)'
    assert format_loc("r", Loc()) == 'loc("r")'
    assert format_loc("r", Loc("f.py", 2, "r")) == 'loc("r"("r"("f.py":2)))'
    assert format_loc("", Loc(None, 0, "x")) == 'loc(""("x"))'


def parse_attr(text: str):
    p = _Parser(text)
    value = p.attr()
    p.end()
    return value


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3, "3"),
        (-12, "-12"),
        (2**70, str(2**70)),
        (1.0, "1.0"),
        (-0.0, "-0.0"),
        (1e-05, "1e-05"),
        (1.5e300, "1.5e+300"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (True, "true"),
        (False, "false"),
        (None, "none"),
        ("f32", '"f32"'),
        ('a "q" \\ \n é', '"a \\"q\\" \\\\ \\n \\u00e9"'),
        ((), "[]"),
        ((1, 2), "[1, 2]"),
        ((1.0, (2, ("x", ())), True), '[1.0, [2, ["x", []]], true]'),
    ],
)
def test_attr_syntax(value, text: str) -> None:
    assert format_attr(value) == text
    back = parse_attr(text)
    assert back == value and type(back) is type(value)
    if isinstance(value, float):
        assert math.copysign(1, back) == math.copysign(1, value)


def test_attr_nan_and_dtype_tokens() -> None:
    assert format_attr(math.nan) == "nan" and math.isnan(parse_attr("nan"))
    assert format_attr("i64", kind="dtype") == "i64"
    assert format_attr("i64") == '"i64"'
    assert format_attr("float32", kind="dtype") == '"float32"'  # not a token: quoted
    for token in DTYPES:
        assert parse_attr(token) == token == parse_attr(f'"{token}"')


def test_nan_attr_round_trips_through_text() -> None:
    b = GraphBuilder()
    (y,) = b.add_node("leaky_relu", [b.add_input(F32)], {"alpha": math.nan})
    text = print_graph(b.build([y]))
    assert "{alpha = nan}" in text
    assert print_graph(parse_graph(text)) == text


CONSTANTS = [
    np.arange(6, dtype=np.float32).reshape(2, 3),
    np.array([np.nan, -0.0, np.inf, -np.inf], np.float32),
    np.frombuffer(b"\x01\x00\xc0\x7f\xff\xff\xff\xff", np.float32),  # NaN payloads
    np.zeros((0, 3), np.float64),
    np.array(7, np.int64),
    np.array([[True, False]]),
    np.array([0, 255, 7], np.uint8),
    np.array([-(2**63), 2**63 - 1], np.int64),
    np.array([1.5, -2.25], np.float16),
    np.arange(6, dtype=np.int16).reshape(3, 2).T,  # not contiguous
]


@pytest.mark.parametrize("array", CONSTANTS, ids=range(len(CONSTANTS)))
def test_dense_constants_are_exact(array: np.ndarray) -> None:
    c = ConstTensor(array)
    text = format_attr(c)
    assert text.startswith('dense<"0x') and text.endswith(f"> : {c.type}")
    back = parse_attr(text)
    assert back == c and back.array.tobytes() == c.array.tobytes()
    elided = format_attr(c, elide=True)
    assert elided == f"dense<...elided...> : {c.type}"
    with pytest.raises(IRParseError, match="elided"):
        parse_attr(elided)


@pytest.mark.parametrize(
    "bad",
    [
        'dense<"0x0000"> : tensor<2xf32>',  # too few bytes
        'dense<"0x000"> : tensor<f16>',  # odd hex
        'dense<"00"> : tensor<i8>',  # no 0x
        'dense<"0xZZ"> : tensor<i8>',
        'dense<"0x02"> : tensor<i1>',  # not a bool
        'dense<"0x"> : tensor<{N}xf32>',  # not static
        'dense<"0x00"> : tensor<-1xi8>',
        "dense<0x00> : tensor<i8>",
        '"unterminated',
        '"bad escape \\q"',
        "[1, 2",
        "[1 2]",
        "-",
        "-infinity",
        "tru",
        "1" * 2000,
        "[" * 100 + "]" * 100,
        "[" * 100_000,
    ],
)
def test_malformed_attrs(bad: str) -> None:
    with pytest.raises(IRParseError) as info:
        parse_attr(bad)
    assert re.match(r"\d+:\d+: ", info.value.message)


def _ops_with_defaults():
    """Every registered op that builds from same-typed f32 inputs with default attrs."""
    found = []
    for name, spec in sorted(all_ops().items()):
        for n in range(spec.min_inputs, (spec.max_inputs or spec.min_inputs + 1) + 1):
            try:
                spec.check((TensorType("f32", (4, 4)),) * n, {})
            except TfrtRayError:
                continue
            found.append((name, n))
            break
    return found


def test_every_op_that_builds_with_defaults_round_trips() -> None:
    b = GraphBuilder("all_ops")
    x = b.add_input(TensorType("f32", (4, 4)), "x")
    outs = []
    found = _ops_with_defaults()
    for name, n in found:
        outs += b.add_node(name, [x] * n, loc=Loc(f"{name}.py", n))
    assert {"add", "relu", "gelu", "clip", "where"} - {n for n, _ in found} == {"where"}
    round_trip(b.build(outs))


def _fused_graph() -> Graph:
    from tfrt_ray.passes.fuse_elementwise import body_of

    b = GraphBuilder("fused")
    x = b.add_input(TensorType("f32", ("N", 128)), "x")
    y = b.add_input(TensorType("f32", (128,)), "y")
    (m,) = b.add_node("mul", [x, y], loc=Loc("m.py", 3))
    (c,) = b.add_node("clip", [m], {"max": 6.0}, name="c lip")
    (g,) = b.add_node("gelu", [c], {"approximate": "tanh"}, loc=Loc("m.py", 4, "onnx_9"))
    group = b.build([g])
    body, xs = body_of(group, list(group.nodes))
    b2 = GraphBuilder("fused")
    ins = [b2.add_input(group.types[v], n) for v, n in zip(xs, ("x", "y"), strict=True)]
    (f,) = b2.add_node("fused_elementwise", ins, {"body": body}, loc=Loc("m.py", 4))
    (r,) = b2.add_node("relu", [f])
    return b2.build([r, f], ["r", "f"])


def test_a_fused_body_prints_as_a_nested_func_and_round_trips() -> None:
    text = round_trip(_fused_graph())
    assert 'body = func @"mul+c lip+gelu"(%0: tensor<{N}x128xf32> {name = "x0"}' in text
    inner = [line for line in text.splitlines() if line.startswith("      %")]
    assert [line.split('"')[1] for line in inner] == ["tr.mul", "tr.clip", "tr.gelu"]
    assert 'loc("c lip")' in text and 'loc("gelu"("onnx_9"("m.py":4)))' in text


@pytest.mark.parametrize("old, new, message", [
    ('"tr.clip"', '"tr.cumsum"', "unknown attribute"),
    ('"tr.gelu"(%3)', '"tr.gelu"(%9)', "use of undefined value %9"),
    ("    }}", "    }", "expected"),
])
def test_errors_inside_a_body_say_where(old: str, new: str, message: str) -> None:
    text = print_graph(_fused_graph())
    assert old in text
    with pytest.raises(IRParseError, match=re.escape(message)) as info:
        parse_graph(text.replace(old, new, 1))
    assert re.match(r"\d+:\d+: ", info.value.message)


def test_multi_output_and_other_families() -> None:
    b = GraphBuilder("mlp")
    x = b.add_input(TensorType("f32", (64, 128)), "x")
    w = b.add_input(TensorType("f32", (128, 10)), "w")
    (m,) = b.add_node("matmul", [x, w], loc=Loc("/home/u/model.py", 12))
    (s,) = b.add_node("softmax", [m], {"axis": -1})
    parts = b.add_node("split", [s], {"axis": 1, "sizes": [5, 5]})
    text = round_trip(b.build(parts))
    assert re.search(r'%\d+, %\d+ = "tr.split"', text)
    assert "-> (tensor<64x5xf32>, tensor<64x5xf32>)" in text


def test_constant_op_round_trips_and_elides() -> None:
    spec = get_op("constant")
    keys = [k for k, a in spec.attrs.items() if a.kind == "tensor"]
    assert keys, "constant takes its value as a tensor attribute"
    b = GraphBuilder("consts")
    outs = [
        v for a in CONSTANTS for v in b.add_node("constant", [], {keys[0]: a})
    ]
    g = b.build(outs)
    text = round_trip(g)
    assert 'dense<"0x' in text
    elided = print_graph(g, elide_constants=True)
    assert "dense<...elided...>" in elided and str(g) == elided
    with pytest.raises(IRParseError, match="elided"):
        parse_graph(elided)


def test_reshape_with_ints_attr() -> None:
    b = GraphBuilder()
    x = b.add_input(TensorType("f32", (2, 6)))
    (y,) = b.add_node("reshape", [x], {"shape": [3, 4]})
    round_trip(b.build([y]))


GOOD = (
    'func @f(%0: tensor<4xf32> {name = "x"}) -> (tensor<4xf32> {name = "y"}) {\n'
    '  %1 = "tr.leaky_relu"(%0) {alpha = 0.5} : (tensor<4xf32>) -> tensor<4xf32> loc("lr")\n'
    "  return %1\n"
    "}\n"
)


def test_comments_whitespace_and_defaults() -> None:
    text = (
        "// a comment\nfunc @f(%0: tensor<4xf32>)->(tensor<4xf32>){ // here too\n"
        '%1="tr.leaky_relu"(%0):(tensor<4xf32>)->(tensor<4xf32>)\nreturn %1}'
    )
    g = parse_graph(text)
    assert g.input_names == ("input_0",) and g.output_names == ("output_0",)
    node = g.nodes[0]
    assert node.attrs == (("alpha", 0.01),) and node.name == "" and node.loc == Loc()
    assert parse_graph(GOOD).nodes[0].attrs == (("alpha", 0.5),)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("tr.leaky_relu", "tr.nope", "unknown op 'tr.nope'"),
        ('"tr.leaky_relu"', '"leaky_relu"', "must start with 'tr.'"),
        ("(%0) {", "(%7) {", "undefined value %7"),
        ("%1 =", "%0 =", "%0 is defined twice"),
        ("-> tensor<4xf32> loc", "-> tensor<4xf64> loc", "node 'lr'"),
        ("(tensor<4xf32>) ->", "(tensor<5xf32>) ->", "%0 is tensor<4xf32>, not tensor<5xf32>"),
        ("0.5", '"half"', "node 'lr'"),
        ("alpha = 0.5", "beta = 0.5", "unknown attribute"),
        ("alpha = 0.5", "alpha = 0.5, alpha = 1.0", "given twice"),
        ("return %1", "return %1, %0", "returns 2 values"),
        (
            '(tensor<4xf32> {name = "y"})',
            "(tensor<4xf64>)",
            "%1 is tensor<4xf32>, not tensor<4xf64>",
        ),
        ("}\n", "}\nextra", "expected end of input"),
        ('loc("lr")', 'loc("a"("b"("c")))', "nested too deeply"),
        ('{name = "x"}', '{nme = "x"}', 'expected {name = "<string>"}'),
        ("func", "fun", "expected 'func'"),
    ],
)
def test_parse_errors(old: str, new: str, message: str) -> None:
    assert old in GOOD
    with pytest.raises(IRParseError) as info:
        parse_graph(GOOD.replace(old, new, 1))
    assert message in info.value.message or message in str(info.value)
    assert re.match(r"\d+:\d+: ", info.value.message)


def test_value_ids_must_be_dense() -> None:
    with pytest.raises(IRParseError, match="%1 is never defined"):
        parse_graph(GOOD.replace("%1", "%2"))


def test_type_mismatch_names_node_and_line() -> None:
    with pytest.raises(IRParseError) as info:
        parse_graph(GOOD.replace("-> tensor<4xf32> loc", "-> tensor<4xi32> loc"))
    err = info.value
    assert err.message.startswith("2:3: result types") and err.node == "lr"
    assert "op 'leaky_relu' node 'lr': 2:3:" in str(err)
    assert "tensor<4xi32>" in err.message and err.op == "leaky_relu"


def test_non_text_input() -> None:
    with pytest.raises(IRParseError):
        parse_graph(b"func")  # type: ignore[arg-type]


def test_deep_nesting_is_capped() -> None:
    text = GOOD.replace("0.5", "[" * 50_000 + "]" * 50_000)
    with pytest.raises(IRParseError, match="nested deeper"):
        parse_graph(text)
