"""Transformer models built offline with onnx.helper, with seeded random weights, in the
style torch.onnx exports them (Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains,
masks from Cast/Sub/Mul or Range/Less/Where, GELU from Erf or Tanh)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Graph:
    """A small builder: unique names, initializers from numpy, nodes in order."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.n = 0

    def name(self, base: str) -> str:
        self.n += 1
        return f"{base}_{self.n}"

    def const(self, array, base: str = "c") -> str:
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape: int, scale: float = 0.1) -> str:
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32), "w")

    def op(self, op_type: str, *inputs: str, n_out: int = 1, **attrs):
        outs = [self.name(op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=self.name(op_type),
                                           **attrs))
        return outs[0] if n_out == 1 else outs

    def dim(self, x: str, i: int) -> str:
        """Dim i of x as a 1-D int64 tensor, the way torch exports x.size(i)."""
        shape = self.op("Shape", x)
        d = self.op("Gather", shape, self.const(np.array(i, np.int64)), axis=0)
        return self.op("Unsqueeze", d, self.const(np.array([0], np.int64)))

    def linear(self, x: str, n_in: int, n_out: int) -> str:
        return self.op("Add", self.op("MatMul", x, self.weight(n_in, n_out)),
                       self.weight(n_out, scale=0.02))

    def layer_norm_decomposed(self, x: str, n: int) -> str:
        mean = self.op("ReduceMean", x, axes=[-1])  # opset < 18: axes is an attribute
        d = self.op("Sub", x, mean)
        var = self.op("ReduceMean", self.op("Pow", d, self.const(np.float32(2.0))), axes=[-1])
        std = self.op("Sqrt", self.op("Add", var, self.const(np.float32(1e-5))))
        y = self.op("Div", d, std)
        return self.op("Add", self.op("Mul", y, self.weight(n, scale=1.0)), self.weight(n))

    def heads(self, x: str, batch: str, seq: str, heads: int, dh: int) -> str:
        """(B, S, H*Dh) -> (B, H, S, Dh) through a Reshape whose shape is computed."""
        shape = self.op("Concat", batch, seq, self.const(np.array([heads, dh], np.int64)),
                        axis=0)
        return self.op("Transpose", self.op("Reshape", x, shape), perm=[0, 2, 1, 3])

    def merge(self, x: str, batch: str, seq: str, hidden: int) -> str:
        t = self.op("Transpose", x, perm=[0, 2, 1, 3])
        shape = self.op("Concat", batch, seq, self.const(np.array([hidden], np.int64)), axis=0)
        return self.op("Reshape", t, shape)


def bert_encoder(
    batch: int | str = 2,
    seq: int | str = 8,
    vocab: int = 40,
    hidden: int = 32,
    heads: int = 4,
    layers: int = 2,
    seed: int = 0,
) -> onnx.ModelProto:
    """Embeddings + ``layers`` BERT layers (opset 17, LayerNormalization, Erf GELU), and a
    pooled first-token output through Slice/Squeeze/Gemm/Tanh."""
    g = _Graph(seed)
    dh = hidden // heads
    ids, mask, types = "input_ids", "attention_mask", "token_type_ids"
    b, s = g.dim(ids, 0), g.dim(ids, 1)
    seq_len = g.op("Squeeze", s, g.const(np.array([0], np.int64)))
    positions = g.op("Range", g.const(np.array(0, np.int64)), seq_len,
                     g.const(np.array(1, np.int64)))
    x = g.op("Add", g.op("Gather", g.weight(vocab, hidden, scale=1.0), ids),
             g.op("Gather", g.weight(64, hidden, scale=1.0), positions))
    x = g.op("Add", x, g.op("Gather", g.weight(2, hidden, scale=1.0), types))
    x = g.op("LayerNormalization", x, g.weight(hidden, scale=1.0), g.weight(hidden),
             axis=-1, epsilon=1e-12)
    # (1 - mask) * -10000, shaped (B, 1, 1, S).
    m = g.op("Cast", g.op("Unsqueeze", mask, g.const(np.array([1, 2], np.int64))),
             to=TensorProto.FLOAT)
    bias = g.op("Mul", g.op("Sub", g.const(np.float32(1.0)), m), g.const(np.float32(-10000.0)))
    for _ in range(layers):
        q = g.heads(g.linear(x, hidden, hidden), b, s, heads, dh)
        k = g.heads(g.linear(x, hidden, hidden), b, s, heads, dh)
        v = g.heads(g.linear(x, hidden, hidden), b, s, heads, dh)
        scores = g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2]))
        scores = g.op("Add", g.op("Div", scores, g.const(np.float32(np.sqrt(dh)))), bias)
        ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        attn = g.linear(g.merge(ctx, b, s, hidden), hidden, hidden)
        x = g.op("LayerNormalization", g.op("Add", x, attn), g.weight(hidden, scale=1.0),
                 g.weight(hidden), axis=-1, epsilon=1e-12)
        h = g.linear(x, hidden, 4 * hidden)
        erf = g.op("Erf", g.op("Div", h, g.const(np.float32(np.sqrt(2.0)))))
        h = g.op("Mul", g.op("Mul", h, g.op("Add", erf, g.const(np.float32(1.0)))),
                 g.const(np.float32(0.5)))
        x = g.op("LayerNormalization", g.op("Add", x, g.linear(h, 4 * hidden, hidden)),
                 g.weight(hidden, scale=1.0), g.weight(hidden), axis=-1, epsilon=1e-12)
    first = g.op("Slice", x, g.const(np.array([0], np.int64)), g.const(np.array([1], np.int64)),
                 g.const(np.array([1], np.int64)))
    first = g.op("Squeeze", first, g.const(np.array([1], np.int64)))
    pooled = g.op("Tanh", g.op("Gemm", first, g.weight(hidden, hidden), g.weight(hidden),
                               transB=1))
    g.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="out_hidden"))
    g.nodes.append(helper.make_node("Identity", [pooled], ["pooler_output"], name="out_pool"))
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, [batch, seq])
              for n in (ids, mask, types)]
    outputs = [
        helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                      [batch, seq, hidden]),
        helper.make_tensor_value_info("pooler_output", TensorProto.FLOAT, [batch, hidden]),
    ]
    graph = helper.make_graph(g.nodes, "bert_encoder", inputs, outputs, g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def gpt2_block(
    batch: int | str = 2,
    seq: int | str = 6,
    hidden: int = 32,
    heads: int = 4,
    seed: int = 1,
    use_trilu: bool = False,
) -> onnx.ModelProto:
    """One GPT-2 decoder block (opset 14): decomposed LayerNorm, fused QKV split with
    Split, a causal mask from Range/Unsqueeze/LessOrEqual (or Trilu) applied with Where,
    tanh-approximated GELU, residual connections."""
    g = _Graph(seed)
    dh = hidden // heads
    x = "hidden_states"
    b, s = g.dim(x, 0), g.dim(x, 1)
    h = g.layer_norm_decomposed(x, hidden)
    qkv = g.linear(h, hidden, 3 * hidden)
    q, k, v = g.op("Split", qkv, g.const(np.array([hidden] * 3, np.int64)), n_out=3, axis=2)
    q, k, v = (g.heads(t, b, s, heads, dh) for t in (q, k, v))
    scores = g.op("Div", g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2])),
                  g.const(np.float32(np.sqrt(dh))))
    n = g.op("Squeeze", s, g.const(np.array([0], np.int64)))
    if use_trilu:
        ones = g.op("ConstantOfShape", g.op("Concat", s, s, axis=0),
                    value=numpy_helper.from_array(np.array([1], np.int64)))
        causal = g.op("Cast", g.op("Trilu", ones, upper=0), to=TensorProto.BOOL)
    else:
        pos = g.op("Range", g.const(np.array(0, np.int64)), n, g.const(np.array(1, np.int64)))
        rows = g.op("Unsqueeze", pos, g.const(np.array([1], np.int64)))
        cols = g.op("Unsqueeze", pos, g.const(np.array([0], np.int64)))
        causal = g.op("LessOrEqual", cols, rows)
    scores = g.op("Where", causal, scores, g.const(np.float32(-3.4e38)))
    ctx = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
    x = g.op("Add", x, g.linear(g.merge(ctx, b, s, hidden), hidden, hidden))
    h = g.linear(g.layer_norm_decomposed(x, hidden), hidden, 4 * hidden)
    cube = g.op("Mul", g.op("Pow", h, g.const(np.float32(3.0))), g.const(np.float32(0.044715)))
    inner = g.op("Mul", g.op("Add", h, cube), g.const(np.float32(np.sqrt(2 / np.pi))))
    gelu = g.op("Mul", g.op("Mul", h, g.const(np.float32(0.5))),
                g.op("Add", g.op("Tanh", inner), g.const(np.float32(1.0))))
    x = g.op("Add", x, g.linear(gelu, 4 * hidden, hidden))
    g.nodes.append(helper.make_node("Identity", [x], ["output"], name="out"))
    graph = helper.make_graph(
        g.nodes,
        "gpt2_block",
        [helper.make_tensor_value_info("hidden_states", TensorProto.FLOAT, [batch, seq, hidden])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [batch, seq, hidden])],
        g.inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def bert_inputs(batch: int = 2, seq: int = 8, vocab: int = 40, seed: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    mask[0, seq - 2:] = 0
    return {
        "input_ids": rng.integers(0, vocab, (batch, seq)).astype(np.int64),
        "attention_mask": mask,
        "token_type_ids": (np.arange(seq) >= seq // 2).astype(np.int64)[None].repeat(batch, 0),
    }
