"""Bias and activation fusion: ``act(matmul(a, b) + bias)`` becomes one
``fused_matmul(a, b, bias)`` and ``act(conv2d(x, w, b) + c)`` one ``fused_conv2d``, whose
kernels add the bias and apply the activation in place in the product's buffer.

Patterns (each intermediate must have that one user and not be a graph output):

- ``matmul(a, b)`` or ``gemm(a, b, c?)`` with alpha 1, no transposes (and beta 1 if ``c``);
  then optionally ``add`` of a bias that broadcasts into the product without growing it
  (when there is no ``c``); then optionally an activation.
- ``conv2d(x, w, b?)``; then optionally ``add`` of a constant per-channel bias (shape
  ``(C,)``-like: ``(C, 1, 1)`` or ``(1, C, 1, 1)``), merged into a constant ``b``; then
  optionally an activation.

Activations: relu, sigmoid, tanh, gelu (exact or tanh). At least two nodes must fuse. The
fused node takes the place, location and (joined) names of the nodes it replaces; it is
placed where the last of them was, so every input is defined before it.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.ir.ops import get_op
from tfrt_ray.ir.ops.fused import FUSED_DTYPES
from tfrt_ray.ir.ops.spec import broadcast_shapes
from tfrt_ray.passes.dce import dce
from tfrt_ray.passes.rewrite import Rewrite, const_of, fused_name, single_user


def _activation(n: Node) -> str | None:
    """The fused activation ``n`` becomes (its spec's `Fusion` says), or None."""
    fusion = get_op(n.op).fusion
    return fusion.activation(n.attr_dict) if fusion and fusion.activation else None


def _anchor_ok(graph: Graph, n: Node) -> bool:
    if graph.types[n.outputs[0]].dtype not in FUSED_DTYPES:
        return False
    if n.op == "gemm":
        a = n.attr_dict
        if a["alpha"] != 1.0 or a["trans_a"] or a["trans_b"]:
            return False
        if len({graph.types[v].dtype for v in n.inputs}) != 1:
            return False
        return len(n.inputs) < 3 or (a["beta"] == 1.0 and _fits(graph, n.inputs[2], n.outputs[0]))
    return n.op in ("matmul", "conv2d")


def _fits(graph: Graph, bias: int, y: int) -> bool:
    """``y + bias`` has ``y``'s type."""
    bt, yt = graph.types[bias], graph.types[y]
    return bt.dtype == yt.dtype and broadcast_shapes(yt.shape, bt.shape) == tuple(yt.shape)


def _channel_bias(graph: Graph, bias: int, y: int) -> np.ndarray | None:
    """A constant bias of conv output ``y`` as a (C,) array, or None if it is not one."""
    node = graph.producers.get(bias)
    c = None if node is None else const_of(node, graph.types[bias])
    yt = graph.types[y]
    channels = yt.shape[1]
    if c is None or c.dtype != yt.np_dtype or c.ndim > 4 or c.ndim < 3:
        return None
    want = (1,) * (c.ndim - 3) + (channels, 1, 1)
    return c.reshape(channels) if c.shape == want else None


def _chain(graph: Graph, table, n: Node) -> tuple[list[Node], int | None, np.ndarray | None]:
    """The nodes to fuse starting at anchor ``n``, the bias value (matmul) and the
    per-channel bias array to merge (conv2d)."""
    nodes, bias, channel_bias = [n], None, None
    y = n.outputs[0]
    user = single_user(graph, table, y)
    has_bias = n.op != "matmul" and len(n.inputs) > 2
    if user is not None and user.op == "add":
        other = user.inputs[1] if user.inputs[0] == y else user.inputs[0]
        if n.op == "conv2d":
            channel_bias = _channel_bias(graph, other, y)
            conv_b = None if not has_bias else graph.producers.get(n.inputs[2])
            if has_bias and (conv_b is None or const_of(conv_b, graph.types[n.inputs[2]]) is None):
                channel_bias = None
            ok = channel_bias is not None
        else:
            ok = not has_bias and _fits(graph, other, y)
            bias = other if ok else None
        if ok:
            nodes.append(user)
            y = user.outputs[0]
            user = single_user(graph, table, y)
    if user is not None and _activation(user) is not None:
        nodes.append(user)
    return nodes, bias, channel_bias


def _emit(rw: Rewrite, graph: Graph, nodes: list[Node], bias, channel_bias) -> None:
    anchor, last = nodes[0], nodes[-1]
    act = _activation(last) or "none"
    inputs = list(anchor.inputs)
    name = fused_name(nodes)
    for n in nodes:
        rw.drop(n)
    if anchor.op == "conv2d":
        if channel_bias is not None:
            b = channel_bias.astype(np.float64)
            if len(inputs) > 2:
                b = b + rw.const(inputs[2]).astype(np.float64)
            dtype = graph.types[anchor.outputs[0]].np_dtype
            inputs = inputs[:2] + [rw.constant(b.astype(dtype), name=f"{name}.b", loc=last.loc)]
        attrs = {**anchor.attr_dict, "activation": act}
        rw.add("fused_conv2d", inputs, attrs, name=name, loc=last.loc, outputs=last.outputs)
        return
    if bias is not None:
        inputs.append(bias)
    rw.add(
        "fused_matmul",
        inputs[:3],
        {"activation": act},
        name=name,
        loc=last.loc,
        outputs=last.outputs,
    )


def fuse_bias_activation(graph: Graph) -> Graph:
    """Returns ``graph`` with bias adds and activations fused into matmuls and convs."""
    table = graph.users()
    plan: dict[int, tuple] = {}  # id(node) -> (nodes, bias, channel bias)
    for n in graph.nodes:
        if n.op in ("matmul", "gemm", "conv2d") and _anchor_ok(graph, n):
            nodes, bias, channel_bias = _chain(graph, table, n)
            if len(nodes) > 1:
                for m in nodes:
                    plan[id(m)] = (nodes, bias, channel_bias)
    if not plan:
        return graph
    rw = Rewrite(graph)
    for n in graph.nodes:
        entry = plan.get(id(n))
        if entry is None:
            rw.keep(n)
        elif entry[0][-1] is n:
            _emit(rw, graph, *entry)
    return dce(rw.finish())
