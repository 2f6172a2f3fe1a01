"""Random layered graphs of elementwise ops, for tests and the partitioner benchmark.

Nodes and the types tuple are built directly (one shared TensorType, no per-node spec check),
so a million-node graph takes a second or two.
"""

from __future__ import annotations

import numpy as np

from tfrt_ray.ir.graph import Graph, Node
from tfrt_ray.ir.location import UNKNOWN
from tfrt_ray.ir.types import TensorType

UNARY = ("relu", "exp", "tanh", "neg", "sigmoid")
BINARY = ("add", "mul", "sub", "maximum")


def random_layered_graph(
    n_ops: int,
    width: int,
    seed: int = 0,
    *,
    shape: tuple[int, ...] = (64, 64),
    dtype: str = "f32",
    n_inputs: int | None = None,
    skip_prob: float = 0.1,
) -> Graph:
    """A DAG of ``n_ops`` elementwise nodes in layers of ``width``.

    Each node reads one (unary op) or two (binary op) values of the previous layer, or, with
    probability ``skip_prob`` per operand, of the layer before it. Layer 0 reads the graph's
    ``n_inputs`` inputs (default ``min(width, 4)``). The outputs are the last layer's values.
    Every value has type ``tensor<shape x dtype>``; the same seed gives the same graph.
    """
    if n_ops < 1 or width < 1:
        raise ValueError("random_layered_graph needs n_ops >= 1 and width >= 1")
    k = n_inputs if n_inputs is not None else min(width, 4)
    k = max(k, 1)
    rng = np.random.default_rng(seed)
    is_binary = rng.random(n_ops) < 0.5
    unary_pick = rng.integers(0, len(UNARY), n_ops)
    binary_pick = rng.integers(0, len(BINARY), n_ops)
    frac = rng.random((n_ops, 2))
    skip = rng.random((n_ops, 2)) < skip_prob

    # The value range each node draws from: the previous layer (or the one before).
    idx = np.arange(n_ops)
    layer = idx // width
    prev_start = np.where(layer == 0, 0, k + (layer - 1) * width)
    prev_len = np.where(layer == 0, k, width)
    skip_ok = layer >= 2
    use_skip = skip & skip_ok[:, None]
    start = np.where(use_skip, (prev_start - width)[:, None], prev_start[:, None])
    picks = (start + (frac * prev_len[:, None]).astype(np.int64)).tolist()

    unary_names = [UNARY[i] for i in unary_pick.tolist()]
    binary_names = [BINARY[i] for i in binary_pick.tolist()]
    nodes = []
    append = nodes.append
    for i, two in enumerate(is_binary.tolist()):
        a, b = picks[i]
        v = k + i
        if two:
            append(Node(binary_names[i], (a, b), (v,), (), f"n{i}", UNKNOWN))
        else:
            append(Node(unary_names[i], (a,), (v,), (), f"n{i}", UNKNOWN))
    t = TensorType(dtype, tuple(shape))
    last = layer[-1]
    outputs = tuple(range(k + int(last) * width, k + n_ops))
    return Graph(
        name=f"layered_{n_ops}x{width}",
        types=(t,) * (k + n_ops),
        inputs=tuple(range(k)),
        outputs=outputs,
        nodes=tuple(nodes),
    )
