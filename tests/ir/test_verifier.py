"""The verifier: each kind of malformed graph, and that the error names the node."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from tfrt_ray.errors import TfrtRayError, VerificationError
from tfrt_ray.ir import ConstTensor, Graph, GraphBuilder, Loc, Node, TensorType, verify
from tfrt_ray.ir.ops import all_ops

T = TensorType("f32", (4, "N"))
LOC = Loc("model.py", 12)


def base() -> Graph:
    b = GraphBuilder("g")
    x = b.add_input(T, "x")
    (r,) = b.add_node("relu", [x], name="r", loc=LOC)
    (c,) = b.add_node("clip", [r], {"min": 0.0}, name="c", loc=LOC)
    (a,) = b.add_node("add", [r, c], name="a", loc=LOC)
    return b.build([a], ["y"])


def with_node(g: Graph, i: int, **changes) -> Graph:
    nodes = list(g.nodes)
    nodes[i] = dataclasses.replace(nodes[i], **changes)
    return dataclasses.replace(g, nodes=tuple(nodes))


def fails(g: Graph, node: str | None, *words: str) -> VerificationError:
    with pytest.raises(VerificationError) as info:
        verify(g)
    err = info.value
    assert err.node == node
    if node is not None:
        assert f"node '{node}'" in str(err)
        culprit = [n for n in g.nodes if n.name == node][-1]
        assert err.op == culprit.op
        assert err.loc == (None if culprit.loc == Loc() else str(culprit.loc))
    assert err.hint
    for word in words:
        assert word in str(err)
    return err


def test_valid_graphs_pass() -> None:
    verify(base())
    verify(GraphBuilder("empty").build([]))
    verify(Graph("only_inputs", (T,), (0,), (0,), ()))


def test_undefined_value() -> None:
    fails(with_node(base(), 1, inputs=(9,)), "c", "%9", "not defined")


def test_not_topological() -> None:
    g = base()
    nodes = g.nodes
    err = fails(dataclasses.replace(g, nodes=(nodes[1], nodes[0], nodes[2])), "c", "%1")
    assert "later node" in err.message and "topological" in err.hint


def test_value_defined_twice() -> None:
    fails(with_node(base(), 1, outputs=(1,)), "c", "%1 is defined twice")
    fails(with_node(base(), 0, outputs=(0,)), "r", "%0 is defined twice")  # an input's id
    g = base()
    fails(dataclasses.replace(g, inputs=(0, 0), input_names=("x", "x2")), None, "twice")


def test_output_types_must_match_inference() -> None:
    g = base()
    types = list(g.types)
    types[2] = TensorType("f64", (4, "N"))
    err = fails(dataclasses.replace(g, types=tuple(types)), "c", "output %2", "f64")
    assert "tensor<4x{N}xf32>" in err.message


def test_wrong_number_of_outputs() -> None:
    g = base()
    g = dataclasses.replace(g, types=g.types + (T,))
    fails(with_node(g, 0, outputs=(1, 4)), "r", "2 outputs", "gives 1")


def test_op_rule_rejects_inputs() -> None:
    b = base()
    bad = dataclasses.replace(b, types=(TensorType("i1", (4, "N")),) + b.types[1:])
    fails(bad, "r", "dtype i1")


def test_unknown_op() -> None:
    fails(with_node(base(), 0, op="no_such_op"), "r", "unknown op 'no_such_op'")


def test_unknown_attr() -> None:
    fails(with_node(base(), 0, attrs=(("alpha", 1.0),)), "r", "unknown attribute", "alpha")


@pytest.mark.parametrize(
    "attrs",
    [
        (("min", 0.0),),  # default for max missing
        (("min", 0.0), ("max", None)),  # not sorted
        (("max", None), ("min", 0)),  # int where a float is declared
        [("max", None), ("min", 0.0)],  # a list, not a tuple
        (("max", None, 1), ("min", 0.0)),
        (("max", None), ("max", None), ("min", 0.0)),  # duplicate
    ],
)
def test_attrs_not_canonical(attrs) -> None:
    fails(with_node(base(), 1, attrs=attrs), "c", "canonical")


def test_invalid_attr_value() -> None:
    fails(with_node(base(), 1, attrs=(("max", "big"), ("min", 0.0))), "c", "max", "float")
    fails(with_node(base(), 1, attrs=(("max", None), ("min", False))), "c", "min", "float")


@pytest.mark.parametrize("value", [float("nan"), -0.0, float("inf"), 1e-300])
def test_canonical_special_floats(value: float) -> None:
    verify(with_node(base(), 1, attrs=(("max", value), ("min", 0.0))))


def test_tensor_attrs() -> None:
    if "constant" not in all_ops():
        pytest.skip("no constant op registered yet")
    key = next((k for k, a in all_ops()["constant"].attrs.items() if a.kind == "tensor"), None)
    if key is None:
        pytest.skip("constant has no tensor attribute")
    b = GraphBuilder()
    try:
        (c,) = b.add_node("constant", [], {key: np.arange(3.0)}, name="k")
    except TfrtRayError as err:
        pytest.skip(f"constant's signature differs: {err}")
    g = b.build([c])
    verify(g)
    array = np.arange(3.0).tolist()  # a list, not a ConstTensor
    fails(
        with_node(g, 0, attrs=tuple((k, array if k == key else v) for k, v in g.nodes[0].attrs)),
        "k",
    )
    assert ConstTensor(np.arange(3.0)) == g.nodes[0].attr(key)


def test_graph_output_undefined() -> None:
    g = base()
    fails(dataclasses.replace(g, outputs=(7,)), None, "graph output 'y'", "%7")


def test_types_tuple_length() -> None:
    g = base()
    err = fails(dataclasses.replace(g, types=g.types + (T,)), None, "%4 is never defined")
    assert "5 entries" in err.message
    fails(dataclasses.replace(g, types=g.types[:3]), "a", "%3 has no type")
    fails(dataclasses.replace(g, inputs=(5,), types=g.types), None, "%5 has no type")


def test_names_lengths() -> None:
    g = base()
    fails(dataclasses.replace(g, input_names=("a", "b")), None, "input names")
    fails(dataclasses.replace(g, output_names=("a", "b")), None, "output names")


def test_duplicate_node_names() -> None:
    fails(with_node(base(), 2, name="r"), "r", "more than one node")
    # unnamed nodes are not duplicates of each other
    g = with_node(with_node(base(), 0, name=""), 1, name="")
    verify(g)


def test_error_carries_hint_and_loc() -> None:
    err = fails(with_node(base(), 1, inputs=(9,)), "c")
    assert "model.py:12" in str(err)


def test_linear_on_large_graphs() -> None:
    n = 30_000
    t = TensorType("f32", (8,))
    nodes = tuple(
        Node(
            "relu" if i % 2 else "leaky_relu",
            (i,),
            (i + 1,),
            () if i % 2 else (("alpha", 0.01),),
            f"n{i}",
            LOC,
        )
        for i in range(n)
    )
    g = Graph("big", (t,) * (n + 1), (0,), (n,), nodes)
    start = time.perf_counter()
    verify(g)
    assert time.perf_counter() - start < 2.0
    bad = dataclasses.replace(g, nodes=nodes[:-1] + (dataclasses.replace(nodes[-1], inputs=(n,)),))
    with pytest.raises(VerificationError):
        verify(bad)
