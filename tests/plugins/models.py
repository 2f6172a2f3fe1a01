"""Small graphs in the shape of the models the "ort" device is for (an MLP, a ResNet block,
a BERT layer), built with GraphBuilder, and their inputs."""

from __future__ import annotations

import numpy as np

from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType


class _B:
    def __init__(self, name: str, seed: int = 0) -> None:
        self.b = GraphBuilder(name)
        self.rng = np.random.default_rng(seed)

    def input(self, dtype: str, shape, name: str) -> int:
        return self.b.add_input(TensorType(dtype, tuple(shape)), name)

    def const(self, value) -> int:
        return self.b.add_node("constant", [], {"value": np.asarray(value)})[0]

    def weight(self, *shape, scale: float = 0.1) -> int:
        return self.const((self.rng.standard_normal(shape) * scale).astype("f4"))

    def __call__(self, op: str, *inputs: int, **attrs) -> int:
        return self.b.add_node(op, list(inputs), attrs)[0]

    def many(self, op: str, *inputs: int, **attrs) -> tuple[int, ...]:
        return self.b.add_node(op, list(inputs), attrs)


def mlp(batch: int = 8, d: int = 32, h: int = 64, classes: int = 10):
    g = _B("mlp")
    x = g.input("f32", (batch, d), "x")
    y = g("relu", g("add", g("matmul", x, g.weight(d, h)), g.weight(h)))
    y = g("gemm", y, g.weight(classes, h), g.weight(classes), trans_b=True, alpha=0.5)
    out = g("log_softmax", g("sigmoid", y), axis=-1)
    feeds = [g.rng.standard_normal((batch, d)).astype("f4")]
    return g.b.build([out], ["logits"]), feeds


def conv_block(batch: int = 2, c: int = 3, hw: int = 16, k: int = 8, classes: int = 5):
    g = _B("conv_block", seed=1)
    x = g.input("f32", (batch, c, hw, hw), "image")

    def bn(v, ch):
        scale = g.const(g.rng.uniform(0.5, 1.5, ch).astype("f4"))
        var = g.const(g.rng.uniform(0.5, 1.5, ch).astype("f4"))
        return g("batch_norm", v, scale, g.weight(ch), g.weight(ch), var, epsilon=1e-5)

    y = g("conv2d", x, g.weight(k, c, 3, 3), g.weight(k), pads=(1, 1, 1, 1))
    y = g("relu", bn(y, k))
    y = g("max_pool2d", y, kernel_shape=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1))
    r = g("conv2d", y, g.weight(k, k // 2, 3, 3), pads=(1, 1, 1, 1), group=2)
    y = g("relu", g("add", bn(r, k), y))
    y = g("avg_pool2d", y, kernel_shape=(2, 2), strides=(2, 2))
    y = g("flatten", g("global_avg_pool", y), axis=1)
    out = g("softmax", g("gemm", y, g.weight(k, classes), g.weight(classes)), axis=-1)
    feeds = [g.rng.standard_normal((batch, c, hw, hw)).astype("f4")]
    return g.b.build([out], ["probs"]), feeds


def attention_block(batch: int = 2, seq: int = 8, hidden: int = 32, heads: int = 4,
                    vocab: int = 50):
    """Embeddings, one BERT encoder layer (fused QKV split in three) and the pooler."""
    g = _B("bert_layer", seed=2)
    ids = g.input("i64", (batch, seq), "input_ids")
    mask = g.input("f32", (batch, seq), "attention_mask")
    dh = hidden // heads
    pos = g("slice", g.weight(64, hidden), starts=(0,), ends=(seq,), axes=(0,))
    x = g("add", g("gather", g.weight(vocab, hidden), ids, axis=0), pos)
    x = g("layer_norm", x, g.weight(hidden), g.weight(hidden), epsilon=1e-12)
    qkv = g("add", g("matmul", x, g.weight(hidden, 3 * hidden)), g.weight(3 * hidden))
    q, k, v = g.many("split", qkv, axis=2, sizes=(hidden,) * 3)

    def heads_first(t):
        return g("transpose", g("reshape", t, shape=(0, 0, heads, dh)), perm=(0, 2, 1, 3))

    q, k, v = heads_first(q), heads_first(k), heads_first(v)
    scores = g("div", g("matmul", q, g("transpose", k, perm=(0, 1, 3, 2))),
               g.const(np.float32(np.sqrt(dh))))
    m = g("unsqueeze", mask, axes=(1, 2))
    m = g("mul", g("sub", g.const(np.float32(1.0)), m), g.const(np.float32(-1e4)))
    probs = g("softmax", g("add", scores, m), axis=-1)
    ctx = g("transpose", g("matmul", probs, v), perm=(0, 2, 1, 3))
    ctx = g("reshape", ctx, shape=(batch, seq, hidden))
    attn = g("add", g("matmul", ctx, g.weight(hidden, hidden)), g.weight(hidden))
    x = g("layer_norm", g("add", attn, x), g.weight(hidden), g.weight(hidden), epsilon=1e-12)
    ff = g("gelu", g("add", g("matmul", x, g.weight(hidden, 4 * hidden)), g.weight(4 * hidden)))
    ff = g("add", g("matmul", ff, g.weight(4 * hidden, hidden)), g.weight(hidden))
    x = g("layer_norm", g("add", ff, x), g.weight(hidden), g.weight(hidden), epsilon=1e-12)
    cls = g("squeeze", g("slice", x, starts=(0,), ends=(1,), axes=(1,)), axes=(1,))
    pooled = g("tanh", g("gemm", cls, g.weight(hidden, hidden), g.weight(hidden)))
    both = g("concat", pooled, g("mean", x, axes=(1,), keepdims=False), axis=1)
    rng = g.rng
    feeds = [
        rng.integers(0, vocab, (batch, seq)).astype(np.int64),
        (np.arange(seq)[None, :] < np.array([[seq - 3 * (i % 2)] for i in range(batch)]))
        .astype("f4"),
    ]
    return g.b.build([x, both], ["sequence", "pooled"]), feeds
