"""Deprecated: the kernel registry moved to `tfrt_ray.core.kernels`. This alias keeps
plugins that register kernels with ``device_actors.kernels.kernel`` working."""

import warnings

from tfrt_ray.core.kernels import (  # noqa: F401
    find_kernel,
    get_kernel,
    kernel,
    register_device_type,
    supported_ops,
)

warnings.warn("device_actors.kernels moved to tfrt_ray.core.kernels", DeprecationWarning,
              stacklevel=2)
