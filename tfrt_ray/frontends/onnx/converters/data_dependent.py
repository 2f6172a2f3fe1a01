"""ONNX ops whose output shape depends on their input values: NonZero, Unique, Compress,
NonMaxSuppression. tfrt-ray graphs have static shapes, so these are evaluated when the
model is imported: their inputs must be known then (constants, or graph inputs that
`OnnxProgram` specializes on, compiling one graph per input value)."""

from __future__ import annotations

import numpy as np

from tfrt_ray.frontends.onnx.context import NodeContext, Value
from tfrt_ray.frontends.onnx.registry import converter


@converter("NonZero")
def _nonzero(ctx: NodeContext) -> Value:
    x = ctx.const(0, "input")
    return ctx.constant(np.asarray(np.nonzero(x), np.int64).reshape(x.ndim, -1))


@converter("Compress")
def _compress(ctx: NodeContext) -> Value:
    cond = np.asarray(ctx.const(1, "condition")).reshape(-1).astype(bool)
    x = ctx.input(0)
    axis = ctx.attr("axis")
    idx = ctx.constant(np.nonzero(cond)[0].astype(np.int64))
    if axis is None:
        return ctx.emit("gather", ctx.reshape(x, (-1,)), idx, axis=0)
    return ctx.emit("gather", x, idx, axis=axis)


@converter("Unique")
def _unique(ctx: NodeContext) -> list[Value]:
    x = ctx.const(0, "input")
    axis = ctx.attr("axis")
    src = x.reshape(-1) if axis is None else x
    ax = 0 if axis is None else axis
    y, first, inverse, counts = np.unique(
        src, return_index=True, return_inverse=True, return_counts=True, axis=ax
    )
    inverse = np.asarray(inverse).reshape(-1)
    if not ctx.attr("sorted", 1):
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first, counts, inverse = first[order], counts[order], rank[inverse]
        y = np.take(src, first, axis=ax)
    i64 = np.int64
    return [ctx.constant(y), ctx.constant(first.astype(i64)),
            ctx.constant(inverse.astype(i64)), ctx.constant(counts.astype(i64))]


def _corners(boxes: np.ndarray, center_point_box: int):
    if center_point_box:
        cx, cy, w, h = boxes.T
        return cx - w / 2, cx + w / 2, cy - h / 2, cy + h / 2
    y1, x1, y2, x2 = boxes.T
    return np.minimum(x1, x2), np.maximum(x1, x2), np.minimum(y1, y2), np.maximum(y1, y2)


def _overlaps(i: int, j: int, x0, x1, y0, y1, area, threshold: float) -> bool:
    w = min(x1[i], x1[j]) - max(x0[i], x0[j])
    h = min(y1[i], y1[j]) - max(y0[i], y0[j])
    if w <= 0 or h <= 0:
        return False
    inter = w * h
    union = area[i] + area[j] - inter
    return bool(area[i] > 0 and area[j] > 0 and union > 0 and inter / union > threshold)


@converter("NonMaxSuppression")
def _nms(ctx: NodeContext) -> Value:
    boxes = np.asarray(ctx.const(0, "boxes"), np.float64)
    scores = np.asarray(ctx.const(1, "scores"), np.float64)
    limit = int(ctx.item(2, "max_output_boxes_per_class", 0))
    iou = float(ctx.item(3, "iou_threshold", 0.0))
    min_score = ctx.item(4, "score_threshold")
    center = ctx.attr("center_point_box", 0)
    selected = []
    for b in range(boxes.shape[0]):
        x0, x1, y0, y1 = _corners(boxes[b], center)
        area = (x1 - x0) * (y1 - y0)
        for c in range(scores.shape[1]):
            s = scores[b, c]
            # By score, then by index: the order ONNX's reference uses.
            order = [i for i in np.lexsort((np.arange(s.size), -s))
                     if min_score is None or s[i] > min_score]
            keep: list[int] = []
            for i in order:
                if len(keep) >= limit:
                    break
                if not any(_overlaps(i, j, x0, x1, y0, y1, area, iou) for j in keep):
                    keep.append(i)
                    selected.append((b, c, i))
    return ctx.constant(np.asarray(selected, np.int64).reshape(-1, 3))
