"""Kernels, grouped by family. Importing this package registers every reference kernel."""

from tfrt_ray.core.kernels import (  # noqa: F401  (imported to register their kernels)
    elementwise,
    fused,
    linalg,
    nn,
    onnx_image,
    onnx_index,
    onnx_math,
    onnx_nn,
    reduce,
    shapes,
)
from tfrt_ray.core.kernels.registry import (
    REFERENCE,
    find_kernel,
    get_kernel,
    kernel,
    register_device_type,
    supported_ops,
)

__all__ = [
    "REFERENCE",
    "find_kernel",
    "get_kernel",
    "kernel",
    "register_device_type",
    "supported_ops",
]
