"""Graphs and the round-trip check shared by the IR text tests."""

from __future__ import annotations

from tfrt_ray.ir import Graph, GraphBuilder, Loc, TensorType, parse_graph, print_graph, verify

F32 = TensorType("f32", (64, "N", "?"))


def round_trip(g: Graph) -> str:
    text = print_graph(g)
    back = parse_graph(text)
    assert back == g
    assert print_graph(back) == text
    verify(back)
    return text


def sample_graph() -> Graph:
    b = GraphBuilder("mlp")
    x = b.add_input(F32, "x")
    w = b.add_input(F32, "w")
    (a,) = b.add_node("add", [x, w], loc=Loc("/home/u/model.py", 12))
    (r,) = b.add_node("gelu", [a], {"approximate": "tanh"}, loc=Loc("m.py", 3, "onnx_7"))
    (c,) = b.add_node("clip", [r], {"min": -1.5}, name="clamp")
    (i,) = b.add_node("cast", [c], {"dtype": "i32"}, loc=Loc(None, 5))
    (n,) = b.add_node("relu", [i])
    (lr,) = b.add_node("leaky_relu", [a], {"alpha": 0.1}, loc=Loc(None, 0, "lr"))
    (cmp,) = b.add_node("greater", [lr, x], name="")
    (wh,) = b.add_node("where", [cmp, lr, x], loc=Loc('we"ird\\ file\n.py', 7))
    return b.build([n, wh, x], ["out", "y", "x again"])
