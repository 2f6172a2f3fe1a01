"""Running a Plan in this process, one compiled stage per plan stage (as the device actors
would), with the plugin API choosing each stage's compiler by its device's type."""

from __future__ import annotations

import numpy as np

from tfrt_ray.core import device_types as plugins
from tfrt_ray.core.device_types import compile_stage


def run_plan(plan, cluster, feeds) -> list:
    graph = plan.graph
    types = graph.types
    device_type = {d.id: d.type for d in cluster.devices}
    env = dict(zip(graph.inputs, feeds, strict=True))
    pending = list(plan.stages)
    while pending:
        stage = next((s for s in pending if all(v in env for v in s.inputs)), None)
        assert stage is not None, "no stage is ready: the plan's stages form a cycle"
        pending.remove(stage)
        compiled = plugins.compile_stage(stage.nodes, types, stage.inputs, stage.outputs,
                                         device_type[stage.device], stage.device, 1)
        outs = compiled.run([env[v] for v in stage.inputs])
        for v, value in zip(stage.outputs, outs, strict=True):
            # Between stages values are host NumPy arrays (what the transport sends).
            assert isinstance(value, np.ndarray), (stage.device, type(value))
            env[v] = value
    return [env[v] for v in graph.outputs]


def run_reference(graph, feeds) -> list:
    stage = compile_stage(graph.nodes, graph.types, graph.inputs, graph.outputs, "cpu")
    return stage.run(list(feeds))
