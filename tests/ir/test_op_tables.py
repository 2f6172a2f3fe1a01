"""Every op's tables are filled where it is registered: a new op that misses one fails
here, with the decision it still needs."""

from __future__ import annotations

from tfrt_ray.ir.ops import all_ops
from tfrt_ray.ir.ops.batch_rules import elementwise

# Ops with no batch-axis rule: given a batched input they make a graph not splittable into
# micro-batches or replicas. Each is a decision (the op mixes rows, or no rule is written
# yet); a new op goes here or gets a rule beside its spec.
WITHOUT_BATCH_RULE = {
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_pool_nd", "bit_shift", "bitcast",
    "bitwise_and", "bitwise_not", "bitwise_or", "bitwise_xor", "col2im", "constant",
    "constant_of_shape", "conv", "conv_transpose", "cosh", "cumprod", "cumsum", "det", "dft",
    "einsum", "fmod", "gather_elements", "gather_nd", "grid_sample", "max_pool_argmax",
    "max_pool_nd", "max_unpool", "range", "resize", "reverse_sequence", "roi_align",
    "scatter_elements", "scatter_nd", "shape", "sinh", "tan", "to_format", "top_k",
    "trunc_div",
}


def test_every_op_has_a_batch_rule_or_is_listed_without_one():
    without = {name for name, spec in all_ops().items() if spec.batch_rule is None}
    assert without - WITHOUT_BATCH_RULE == set(), "write a batch rule beside the op's spec"
    assert WITHOUT_BATCH_RULE - without == set(), "these have a rule now: unlist them"


def test_elementwise_ops_broadcast_the_batch_like_every_other_elementwise_op():
    wrong = [name for name, spec in all_ops().items()
             if spec.family == "elementwise" and spec.batch_rule is not elementwise]
    assert not wrong


def test_every_fusible_op_runs_in_a_fused_body_as_its_own_kernel_does():
    """Each op whose spec has a Fusion, as a one-node body of the reference fused kernel
    (which calls the op's kernel with ``out=``), gives exactly what the op's own
    reference kernel gives, attributes included."""
    import numpy as np

    from tfrt_ray.core.kernels import get_kernel
    from tfrt_ray.ir.graph import GraphBuilder
    from tfrt_ray.ir.types import TensorType
    from tfrt_ray.passes.fuse_elementwise import body_of

    attrs_of = {"gelu": {"approximate": "tanh"}, "leaky_relu": {"alpha": 0.2},
                "clip": {"min": -0.5, "max": None}}
    x = np.linspace(-2.0, 2.0, 12, dtype=np.float32).reshape(3, 4)
    fusible = {n: s for n, s in all_ops().items() if s.fusion is not None}
    assert {"add", "gelu", "clip", "erf", "relu"} <= set(fusible)
    for name, spec in fusible.items():
        b = GraphBuilder(name)
        ins = [b.add_input(TensorType("f32", (3, 4))) for _ in spec.inputs]
        (out,) = b.add_node(name, ins, attrs_of.get(name, {}))
        graph = b.build([out])
        body, _ = body_of(graph, [graph.nodes[-1]])
        args = [np.abs(x) + 0.5 if name in ("log", "sqrt", "pow") else x + i
                for i in range(len(spec.inputs))]
        with np.errstate(all="ignore"):
            want = get_kernel(name, "reference")(*args, **graph.nodes[-1].attr_dict)
            got = get_kernel("fused_elementwise", "reference")(*args, body=body)
        np.testing.assert_array_equal(got, want, err_msg=name)


def test_the_activations_ops_fuse_into_are_those_fused_matmul_takes():
    from tfrt_ray.ir.ops.fused import ACTIVATIONS

    made = {spec.fusion.activation(spec.normalize_attrs({}))
            for spec in all_ops().values() if spec.fusion and spec.fusion.activation}
    assert made - {None} <= set(ACTIVATIONS) and {"relu", "gelu", "tanh"} <= made
