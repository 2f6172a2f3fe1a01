"""Batch-norm folding: ``batch_norm(conv2d(x, W, b))`` with constant W, b and batch-norm
parameters becomes ``conv2d(x, W', b')``, the scale folded into W' and the shift into b'.

With ``a = scale / sqrt(var + epsilon)`` per output channel: ``W' = W * a`` (along Cout)
and ``b' = (b - mean) * a + bias``. A 2-D product folds the same way, its columns being
the channels: ``matmul(x, W)`` becomes ``matmul(x, W') + b'`` (the add takes the batch
norm's name and line) and ``gemm(x, B, c)`` becomes ``gemm(x, B', c')`` with beta 1.

The producer's output must have no other user (it goes away). The new weights are
computed in float64 and cast to the weights' dtype, so results agree with the unfolded
graph up to rounding. Weights left unused are removed here.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.passes.dce import dce
from tfrt_ray.passes.rewrite import Rewrite, const_of, single_user


def _const(graph: Graph, v: int) -> np.ndarray | None:
    node = graph.producers.get(v)
    return None if node is None else const_of(node, graph.types[v])


def _folded(graph: Graph, prod: Node, bn: Node) -> dict[str, np.ndarray] | None:
    """The new constants (``w`` and ``b``, float64) for ``bn(prod)``, or None."""
    params = [_const(graph, v) for v in bn.inputs[1:]]
    w = _const(graph, prod.inputs[1])
    if w is None or any(p is None for p in params):
        return None
    scale, bias, mean, var = (p.astype(np.float64) for p in params)
    a = scale / np.sqrt(var + bn.attr("epsilon"))
    shift = bias - mean * a
    c = _const(graph, prod.inputs[2]) if len(prod.inputs) > 2 else None
    if len(prod.inputs) > 2 and c is None:
        return None
    c = np.zeros(1) if c is None else c.astype(np.float64)
    if prod.op == "conv2d":
        return {"w": w * a.reshape(-1, 1, 1, 1), "b": c * a + shift}
    if graph.types[prod.outputs[0]].rank != 2 or w.ndim != 2:
        return None  # channel axis 1 is a column of W only for a 2-D product
    if prod.op == "matmul":
        return {"w": w * a, "b": shift}
    trans_b, beta = prod.attr("trans_b"), prod.attr("beta")
    return {"w": w * (a[:, None] if trans_b else a), "b": beta * c * a + shift}


def _emit(rw: Rewrite, graph: Graph, prod: Node, bn: Node, new: dict[str, np.ndarray]) -> None:
    """Adds the folded nodes in place of ``bn`` (``prod`` is already dropped)."""
    w_dtype = graph.types[prod.inputs[1]].np_dtype
    out_dtype = graph.types[bn.outputs[0]].np_dtype

    def const(what: str, dtype: np.dtype) -> int:
        array = new[what].astype(dtype)
        return rw.constant(array, name=f"{prod.name}.{what}_folded", loc=prod.loc)

    x, w = prod.inputs[0], const("w", w_dtype)
    rw.drop(bn)
    if prod.op == "matmul":
        b = const("b", out_dtype)
        (y,) = rw.add("matmul", (x, w), name=prod.name, loc=prod.loc)
        rw.add("add", (y, b), name=bn.name, loc=bn.loc, outputs=bn.outputs)
        return
    attrs = prod.attr_dict
    if prod.op == "gemm":
        attrs["beta"] = 1.0
    b = const("b", out_dtype)
    rw.add(prod.op, (x, w, b), attrs, name=prod.name, loc=prod.loc, outputs=bn.outputs)


def fold_batch_norm(graph: Graph) -> Graph:
    """Returns ``graph`` with batch norms folded into their producers where they can be."""
    table = graph.users()
    plan: dict[int, tuple[Node, dict]] = {}  # id(node) -> (producer, new constants)
    for n in graph.nodes:
        if n.op in ("conv2d", "matmul", "gemm"):
            bn = single_user(graph, table, n.outputs[0])
            if bn is not None and bn.op == "batch_norm" and bn.inputs[0] == n.outputs[0]:
                new = _folded(graph, n, bn)
                if new is not None:
                    plan[id(n)] = plan[id(bn)] = (n, new)
    if not plan:
        return graph
    rw = Rewrite(graph)
    for n in graph.nodes:
        entry = plan.get(id(n))
        if entry is None:
            rw.keep(n)
        elif entry[0] is n:
            rw.drop(n)  # the producer: re-made where its batch norm was
        else:
            _emit(rw, graph, entry[0], n, entry[1])
    return dce(rw.finish())
