"""oneDNN primitives for the CPU device: convolution, pooling and layout reorders.

oneDNN (Intel's deep-learning kernel library, vendor-neutral ISA dispatch) comes from the
``onednn-cpu-gomp`` wheel, which installs ``libdnnl.so.3`` under ``sys.prefix/lib``; we call
its C API through ctypes (no code of ours is compiled). Its convolutions reach 250-310
GFLOP/s on one AVX-512 core here where im2col + OpenBLAS reaches 170-210, but only on
*channels-last* activations (NHWC); on NCHW it falls back to its own im2col + GEMM, slower
than ours. `device_actors.cpu.onednn_lowering` decides which values of a stage live channels-last.

A channels-last value is a plain NumPy array of shape ``(N, H, W, C)``, so elementwise NumPy
ops between such values of one shape need no change.

``TFRT_RAY_ONEDNN=0`` turns the library off (the NumPy kernels run everywhere);
``TFRT_RAY_ONEDNN=/path/libdnnl.so.3`` names another build (`tfrt_ray.config`). The enum
values below are those of oneDNN 3.x's ``dnnl_types.h`` (checked against 3.2).
"""

from device_actors.cpu.onednn.bindings import (  # noqa: F401
    available,
    channels_last_shape,
    set_threads,
    turned_off,
)
from device_actors.cpu.onednn.primitives import Conv, MatMul, Pool, Reorder  # noqa: F401
