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
