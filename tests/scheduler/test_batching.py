"""`batch_split` follows each op's batch rule: a graph splits into slices of the batch only
where no op mixes rows of it."""

from __future__ import annotations

import pytest

from scheduler.batching import batch_split
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType


def _one_op(op, attrs=None, shape=(8, 16), extra=()):
    b = GraphBuilder(op)
    x = b.add_input(TensorType("f32", shape))
    others = [b.add_input(TensorType("f32", s)) for s in extra]
    return b.build(b.add_node(op, [x, *others], attrs or {}))


@pytest.mark.parametrize("op, attrs, splits", [
    ("softmax", {"axis": 1}, True),
    ("softmax", {"axis": 0}, False),  # normalises over the batch
    ("sum", {"axes": [1]}, True),
    ("sum", {"axes": [0]}, False),
    ("reshape", {"shape": [8, 4, 4]}, True),
    ("reshape", {"shape": [16, 8]}, False),  # moves rows across the batch
    ("transpose", {"perm": [1, 0]}, False),  # the batch is no longer axis 0
    ("relu", {}, True),
])
def test_ops_that_keep_rows_apart_split_and_ops_that_mix_them_do_not(op, attrs, splits):
    assert (batch_split(_one_op(op, attrs)) is not None) == splits


def test_a_matmul_splits_on_its_rows_but_not_with_a_batched_right_operand():
    g = _one_op("matmul", extra=[(16, 4)])
    assert batch_split(g) == (8, frozenset({0}))  # the weight is not sliced
    b = GraphBuilder("both")
    x, w = b.add_input(TensorType("f32", (8, 8))), b.add_input(TensorType("f32", (8, 8)))
    assert batch_split(b.build(b.add_node("matmul", [x, w]))) == (8, frozenset({0}))
    b = GraphBuilder("cumsum")  # an op without a rule stops the split
    x = b.add_input(TensorType("f32", (8, 4)))
    assert batch_split(b.build(b.add_node("cumsum", [x], {"axis": 1}))) is None
