"""A stage whose independent heavy ops run on a thread pool (`tfrt_ray.core.concurrent`):
however a run ends, no op of it is still running when the caller gets control back, so no
kernel writes into a value the caller has already let go of."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType

N = 256  # two (N, N) products: heavy enough to be worth a thread each


def _two_branch_stage():
    b = GraphBuilder("g")
    x = b.add_input(TensorType("f32", (N, N)), "x")
    (p,) = b.add_node("matmul", [x, x])
    (q,) = b.add_node("matmul", [x, x])
    (y,) = b.add_node("add", [p, q])
    g = b.build([y])
    stage = compile_stage(g.nodes, g.types, g.inputs, g.outputs, cores=2)
    assert stage.concurrent is not None, "the two products should overlap"
    return stage


def _heavy_indices(stage):
    return [i for i, n in enumerate(stage.nodes) if n.op == "matmul"]


def test_ctrl_c_on_the_calling_thread_waits_for_the_ops_on_the_pool():
    stage = _two_branch_stage()
    pool_op = {"started": threading.Event(), "finished": False}
    main = threading.main_thread()

    def wrap(kernel):
        def run(*args):
            if threading.current_thread() is main:
                pool_op["started"].wait()  # the other product is now inside its kernel
                raise KeyboardInterrupt
            pool_op["started"].set()
            time.sleep(0.2)  # still writing when the calling thread is interrupted
            out = kernel(*args)
            pool_op["finished"] = True
            return out
        return run

    for i in _heavy_indices(stage):
        stage.kernels[i] = wrap(stage.kernels[i])
    x = np.ones((N, N), np.float32)
    with pytest.raises(KeyboardInterrupt):
        stage.run([x])
    assert pool_op["finished"], "run() returned while an op was still running on the pool"


def test_a_second_ctrl_c_while_waiting_is_raised_after_the_wait():
    stage = _two_branch_stage()
    inside, released = threading.Event(), threading.Event()
    main = threading.main_thread()

    def wrap(kernel):
        def run(*args):
            if threading.current_thread() is main:
                inside.wait()  # the other product is now inside its kernel
                raise KeyboardInterrupt
            inside.set()
            released.wait()
            return kernel(*args)
        return run

    for i in _heavy_indices(stage):
        stage.kernels[i] = wrap(stage.kernels[i])
    # The wait for the pool op is interrupted too; `run` must still wait, then raise.
    import _thread

    def interrupt_then_release():
        inside.wait()
        _thread.interrupt_main()
        time.sleep(0.05)
        released.set()

    helper = threading.Thread(target=interrupt_then_release, daemon=True)
    helper.start()
    with pytest.raises(KeyboardInterrupt):
        stage.run([np.ones((N, N), np.float32)])
    assert released.is_set()
    helper.join()


def test_an_uninterrupted_run_still_matches_numpy_and_runs_again():
    stage = _two_branch_stage()
    x = np.random.default_rng(0).standard_normal((N, N)).astype(np.float32)
    for _ in range(3):
        (y,) = stage.run([x])
        np.testing.assert_allclose(y, 2 * (x @ x), rtol=1e-4, atol=1e-3)
