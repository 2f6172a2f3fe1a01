"""Graphs and file surgery shared by the executable tests and `fuzz_long.py`."""

from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np

from tfrt_ray.executable.header import HEADER_SIZE, Header, crc32
from tfrt_ray.executable.legacy import program_body
from tfrt_ray.ir import Graph, GraphBuilder, Loc, TensorType


def rich_graph() -> Graph:
    """Many ops and every attribute kind: ints, floats (inf too), bools, strs, dtypes,
    optional None, tensors, a graph (a fused body); multi-output nodes, odd names and every
    form of location."""
    rng = np.random.default_rng(0)
    b = GraphBuilder('rich "graph" ü')
    x = b.add_input(TensorType("f32", (4, 8)), "x")
    m = b.add_input(TensorType("i1", (4, 8)), "mask")
    w = rng.standard_normal((8, 8)).astype(np.float32)
    (wc,) = b.add_node("constant", [], {"value": w}, Loc("model.py", 3), "w")
    (h,) = b.add_node("matmul", [x, wc], loc=Loc("model.py", 4, "onnx_MatMul_0"))
    (h,) = b.add_node("gemm", [h, wc], {"alpha": 0.5, "beta": 2.0, "trans_b": True})
    (h,) = b.add_node("leaky_relu", [h], {"alpha": 0.125}, Loc(None, 0, 'n\u00e9"x'))
    (h,) = b.add_node("clip", [h], {"min": -float("inf"), "max": 6.0}, Loc(None, 17))
    (h,) = b.add_node("gelu", [h], {"approximate": "tanh"}, name='node "q"\n')
    (h,) = b.add_node("softmax", [h], {"axis": 1})
    (s,) = b.add_node("sum", [h], {"axes": (1,), "keepdims": True})
    (s,) = b.add_node("sum", [s], {"axes": None})
    (h2,) = b.add_node("where", [m, h, x])
    a, c = b.add_node("split", [h2], {"axis": 1, "sizes": (3, 5)})
    (cat,) = b.add_node("concat", [c, a], {"axis": 1})
    (t,) = b.add_node("transpose", [cat], {"perm": (1, 0)})
    (r,) = b.add_node("reshape", [t], {"shape": (2, 16)})
    (sl,) = b.add_node("slice", [r], {"starts": (0,), "ends": (9,), "axes": (1,), "steps": None})
    (ci,) = b.add_node("cast", [sl], {"dtype": "i32"})
    (ix,) = b.add_node("constant", [], {"value": np.array([2, 0], np.int64)})
    (g,) = b.add_node("gather", [ci, ix], {"axis": 1})
    (pad,) = b.add_node("pad", [r], {"pads": (0, 1, 0, 1), "mode": "constant", "value": 1.5})
    (cs,) = b.add_node("constant_of_shape", [], {"shape": (2,), "value": 3.0, "dtype": "f16"})
    body = program_body("t0 = mul(x0, x1); t1 = gelu[tanh](t0); t0 = clip[none, 2.5](t1)",
                        [TensorType("f32", (4, 8))] * 2, "a body", Loc("model.py", 9))
    (fz,) = b.add_node("fused_elementwise", [h2, x], {"body": body}, name="fused")
    return b.build([s, g, pad, cs, fz], ["total", "picked", "padded", "threes", "fused"])


def rich_inputs(seed: int = 5) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((4, 8)).astype(np.float32), rng.random((4, 8)) > 0.5]


def weights_graph() -> Graph:
    """Weights of every kind: empty, 0-d, f16, bool, ints, from non-contiguous arrays; one
    ConstTensor object held by two nodes."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 10))
    values = [
        np.zeros((0, 3), np.float32),
        np.array(2.5, np.float64),
        rng.standard_normal((5, 7)).astype(np.float16),
        rng.random((3, 4)) > 0.5,
        np.arange(-12, 12, dtype=np.int8).reshape(2, 3, 4),
        np.array([2**63 - 1, -(2**63)], np.int64),
        np.array([7, 65535], np.uint16),
        base[::2, ::3].astype(np.float32),  # strided
        np.asfortranarray(base),  # Fortran order
        base.T,  # transposed view
    ]
    b = GraphBuilder("weights")
    x = b.add_input(TensorType("f32", ("N", 4)), "x")
    outs = []
    for i, v in enumerate(values):
        outs += b.add_node("constant", [], {"value": v}, name=f"c{i}")
    (y,) = b.add_node("relu", [x])
    shared = b.nodes[2].attrs[0][1]  # the f16 ConstTensor, held twice
    outs += b.add_node("constant", [], {"value": shared}, name="c_shared")
    return b.build([y, *outs])


def mlp_graph(width: int = 64, layers: int = 3, seed: int = 0) -> Graph:
    """A runnable MLP on a batch of 8: matmul, add, relu per layer, weights as constants."""
    rng = np.random.default_rng(seed)
    b = GraphBuilder("mlp")
    (h,) = (b.add_input(TensorType("f32", (8, width)), "x"),)
    for i in range(layers):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        (wc,) = b.add_node("constant", [], {"value": w}, name=f"w{i}")
        (bc,) = b.add_node("constant", [], {"value": rng.standard_normal(width).astype("f4")})
        (h,) = b.add_node("matmul", [h, wc], loc=Loc("mlp.py", 10 + i))
        (h,) = b.add_node("add", [h, bc])
        (h,) = b.add_node("relu", [h])
    (s,) = b.add_node("softmax", [h], {"axis": -1})
    return b.build([s], ["probs"])


def big_graph(total_bytes: int, tensors: int = 10) -> Graph:
    """Constants adding up to about ``total_bytes`` (for load-time figures)."""
    n = total_bytes // tensors // 4
    b = GraphBuilder("big")
    x = b.add_input(TensorType("f32", (n,)), "x")
    h = x
    for i in range(tensors):
        (c,) = b.add_node("constant", [], {"value": np.full(n, i, np.float32)}, name=f"c{i}")
        (h,) = b.add_node("add", [h, c])
    return b.build([h])


def run(graph: Graph, inputs: list) -> list[np.ndarray]:
    """Runs the whole graph as one compiled stage on the host."""
    from tfrt_ray.core.device_types import compile_stage

    stage = compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs)
    return [np.asarray(v) for v in stage.run(inputs)]


# ---- file surgery --------------------------------------------------------------------


def split_file(data: bytes) -> tuple[dict, bytes]:
    """A valid file's program (parsed JSON) and its data region."""
    p_len, d_off = struct.unpack_from("<QQ", data, 24)
    return json.loads(data[HEADER_SIZE : HEADER_SIZE + p_len]), data[d_off:]


def rebuild(doc: dict | bytes, region: bytes, version: int | None = None) -> bytes:
    """A file holding ``doc`` (a program, or raw program bytes) and ``region`` with fresh,
    correct header and checksums: what a tamperer who knows the format would make.
    ``version``: the format version the header names (default: this tfrt-ray's)."""
    raw = doc if isinstance(doc, bytes) else json.dumps(doc, separators=(",", ":")).encode()
    head = Header.layout(len(raw), crc32(raw), len(region))
    if version is not None:
        head = dataclasses.replace(head, format_version=version)
    pad = bytes(head.data_offset - HEADER_SIZE - len(raw))
    return head.pack() + raw + pad + region
