"""Deprecated: the plugin API moved to `tfrt_ray.core.device_types`. This alias keeps
plugins written against ``device_actors.plugins`` working."""

import warnings

from tfrt_ray.core.device_types import *  # noqa: F403
from tfrt_ray.core.device_types import DeviceType, LocalDevice, register, supports  # noqa: F401

warnings.warn("device_actors.plugins moved to tfrt_ray.core.device_types", DeprecationWarning,
              stacklevel=2)
