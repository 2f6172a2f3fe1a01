"""The planner charges each stage call what a call costs on this session's actors."""

from __future__ import annotations

import numpy as np

import tfrt_ray as tr
from tfrt_ray.cluster import session as sessions


def test_the_session_measures_a_call_and_a_tiny_pipeline_stays_one_micro_batch(session_of):
    session_of(devices=2)
    spec = sessions.current().cluster_spec()
    assert spec.call_overhead_s == sessions.current().call_overhead_s > 0

    def tiny(x):
        for _ in range(4):
            x = tr.tanh(tr.exp(x))
        return x

    x = np.full((4, 4), 0.1, np.float32)
    prog = tr.compile(tiny, (x,), strategy="pipeline")
    assert prog.plan.micro_batches == 1  # 4 rows of 4: no split pays for its calls
    np.testing.assert_allclose(prog.run([x])[0], tiny(tr.tensor(x)).numpy(), rtol=1e-6)
