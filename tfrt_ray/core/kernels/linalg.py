"""Reference kernels for the linalg family."""

from __future__ import annotations

import numpy as np

from tfrt_ray.core.kernels.registry import kernel


@kernel("matmul")
def matmul(a, b, out=None):
    # asarray: a vector-vector product comes back from numpy as a scalar.
    return np.asarray(np.matmul(a, b, out=out))


matmul.takes_out = True  # the executor may hand it the buffer to write (CompiledStage.run)
matmul.fresh_output = True  # a new array, never a view of a or b (device_actors.cpu.memory_plan)


@kernel("gemm")
def gemm(a, b, c=None, *, alpha, beta, trans_a, trans_b):
    dtype = np.result_type(a, b) if c is None else np.result_type(a, b, c)
    t = dtype.type
    a = np.asarray(a, dtype).T if trans_a else np.asarray(a, dtype)
    b = np.asarray(b, dtype).T if trans_b else np.asarray(b, dtype)
    y = a @ b
    if alpha != 1.0:
        y *= t(alpha)
    if c is not None:
        cc = np.asarray(c, dtype)
        y += cc if beta == 1.0 else cc * t(beta)
    return y
