"""A local Ray that tfrt-ray starts goes when its driver goes, SIGKILL included; a Ray it
only joined (the test session's cluster) is left alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tfrt_ray.cluster.reaper import session_pids

pytest.importorskip("ray")
pytestmark = pytest.mark.integration

DRIVER = """
import sys, time
import tfrt_ray as tr
s = tr.init(devices=1)
print(s.temp_dir, flush=True)
time.sleep(600)
"""


def _wait_gone(temp_dir: str, bound_s: float = 60.0) -> list[int]:
    end = time.monotonic() + bound_s  # generous: only a dead Ray ends the wait early
    left = session_pids(temp_dir, temp_dir)
    while left and time.monotonic() < end:
        time.sleep(0.5)
        left = session_pids(temp_dir, temp_dir)
    return left


def _start_driver() -> tuple[subprocess.Popen, str, list[int]]:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER], stdout=subprocess.PIPE,
                            text=True, env=env)
    temp_dir = proc.stdout.readline().strip()
    assert temp_dir, f"the driver exited ({proc.wait()}) before starting its Ray"
    pids = session_pids(temp_dir, temp_dir)
    return proc, temp_dir, pids


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_local_ray_goes_when_its_driver_is_killed(ray_cluster, sig):
    import ray

    proc, temp_dir, pids = _start_driver()
    try:
        assert len(pids) >= 3, f"expected the Ray processes of {temp_dir}, got {pids}"
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
        left = _wait_gone(temp_dir)
        assert not left, f"processes of the killed driver's Ray still run: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in session_pids(temp_dir, temp_dir):  # only if the test failed
            os.kill(pid, signal.SIGKILL)
    # The Ray this test session joined is untouched.
    assert ray.get(ray.put(41)) + 1 == 42
    here = ray.get_runtime_context().get_node_id()  # (other tests may have removed nodes)
    assert any(n["NodeID"] == here and n["Alive"] for n in ray.nodes())
