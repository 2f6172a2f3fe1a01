"""The op vocabulary. Each family module registers its ops' specs when imported."""

from tfrt_ray.ir.ops import (  # noqa: F401  (imported to register their ops)
    elementwise,
    fused,
    linalg,
    nn,
    onnx_image,
    onnx_index,
    onnx_math,
    onnx_nn,
    reduce,
    shape_copies,
    shapes,
)
from tfrt_ray.ir.ops.spec import Attr, Cost, OpSpec, all_ops, get_op, op

__all__ = ["Attr", "Cost", "OpSpec", "all_ops", "get_op", "op"]
