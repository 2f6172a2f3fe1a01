"""Batch-axis rules: for each op, where its output carries the batch, given where its
inputs do. The scheduler (`scheduler.batching`) follows them through a graph to decide
whether micro-batches or replicas may run it on slices of the batch.

A rule is registered beside its op (``op(..., batch=rule)``, or `batch_rule` for ops
registered already) and sees a `BatchView` of one node. It returns the output's batch
axis, or None where the op would mix rows of the batch (a reduction over it, a reshape
that moves it). An op without a rule, given a batched input, makes the graph not
splittable: that is the safe answer, not an omission.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tfrt_ray.ir.ops.spec import get_op


@dataclass(frozen=True)
class BatchView:
    """What a batch-axis rule sees of one node."""

    attr: Callable[[str], Any]  # the node's attribute by name
    in_axes: tuple[int | None, ...]  # per input: its batch axis, or None (not batched)
    shapes: tuple[tuple, ...]  # the input shapes
    out_shape: tuple  # the (first) output's shape

    @property
    def a0(self) -> int | None:
        return self.in_axes[0]

    @property
    def ranks(self) -> tuple[int, ...]:
        return tuple(len(s) for s in self.shapes)

    @property
    def out_rank(self) -> int:
        return len(self.out_shape)

    @property
    def only_first(self) -> bool:
        """Whether the first input alone carries the batch."""
        return self.a0 is not None and all(a is None for a in self.in_axes[1:])


BatchRule = Callable[[BatchView], "int | None"]


def batch_rule(*names: str, only_first: bool = False) -> Callable[[BatchRule], BatchRule]:
    """Registers the decorated rule for the ops ``names`` (registered already). With
    ``only_first``, the op keeps rows apart only when its first input alone is batched."""

    def register(rule: BatchRule) -> BatchRule:
        checked = _only_first(rule) if only_first else rule
        for name in names:
            spec = get_op(name)
            if spec.batch_rule is not None:
                raise ValueError(f"op {name!r} has a batch rule already")
            object.__setattr__(spec, "batch_rule", checked)
        return rule

    return register


def _only_first(rule: BatchRule) -> BatchRule:
    def checked(view: BatchView) -> int | None:
        return rule(view) if view.only_first else None

    checked.__name__ = checked.__qualname__ = rule.__name__
    checked.__doc__ = rule.__doc__
    return checked


def elementwise(view: BatchView) -> int | None:
    """Broadcasting ops: the batched operands, aligned from the right, agree on one axis,
    and no unbatched operand spans it."""
    out_rank = view.out_rank
    aligned = {a + out_rank - r for a, r in zip(view.in_axes, view.ranks, strict=True)
               if a is not None}
    if len(aligned) != 1:
        return None
    (axis,) = aligned
    for a, shape in zip(view.in_axes, view.shapes, strict=True):
        j = axis - (out_rank - len(shape))
        if a is None and j >= 0 and shape[j] != 1:
            return None  # an unbatched operand spanning the batch axis
    return axis


def rows_of_first(view: BatchView) -> int | None:
    """Ops that keep each row of their first input's axis 0 apart (convolutions, pooling,
    normalisation over the other axes)."""
    return 0 if view.a0 == 0 and view.only_first else None
