"""Kernel choices by timed trial on this machine (`device_actors.cpu.autotune`): measured once,
cached per op, shapes and machine, bounded in time, and followed by the CPU stage."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from device_actors.cpu import autotune, onednn
from tfrt_ray.core.device_types import compile_stage
from tfrt_ray.core.executor import CompiledStage
from tfrt_ray.errors import ConfigError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType

RNG = np.random.default_rng(5)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "choices.json"
    monkeypatch.setenv("TFRT_RAY_AUTOTUNE_CACHE", str(path))
    monkeypatch.delenv("TFRT_RAY_KERNELS", raising=False)
    monkeypatch.delenv("TFRT_RAY_AUTOTUNE_BUDGET_S", raising=False)
    return path


class Counted:
    """A candidate kernel that counts its calls; ``pause`` makes it the slow one."""

    def __init__(self, pause: float = 0.0) -> None:
        self.calls, self.pause = 0, pause

    def __call__(self) -> None:
        self.calls += 1
        if self.pause:
            time.sleep(self.pause)


def test_the_faster_kernel_is_chosen_once_and_then_read_from_the_cache(cache):
    slow, fast = Counted(0.003), Counted()
    assert autotune.choose("matmul", "(8, 8)", {"slow": slow, "fast": fast},
                           rule="slow", key="m") == "fast"
    assert slow.calls >= 2 and fast.calls >= 2  # a warm-up and at least one timed round
    entry = json.loads(cache.read_text())["matmul|(8, 8)|m"]
    assert entry["choice"] == "fast" and entry["us"]["slow"] > entry["us"]["fast"]

    before = autotune.report()
    again = Counted(), Counted()
    assert autotune.choose("matmul", "(8, 8)", dict(zip(("slow", "fast"), again)),
                           rule="slow", key="m") == "fast"
    assert [c.calls for c in again] == [0, 0]  # nothing ran: the cache answered
    assert autotune.report().cached == before.cached + 1


def test_other_shapes_or_another_machine_are_measured_anew(cache):
    autotune.choose("matmul", "(8, 8)", {"a": Counted(), "b": Counted(0.002)}, "b", key="m")
    for shapes, key in (("(16, 8)", "m"), ("(8, 8)", "another machine")):
        a = Counted()
        autotune.choose("matmul", shapes, {"a": a, "b": Counted(0.002)}, "b", key=key)
        assert a.calls >= 2, (shapes, key)
    assert len(json.loads(cache.read_text())) == 3


def test_the_machine_key_names_the_cpu_flags_and_the_thread_pools():
    assert autotune.cpu().endswith("]") and "[" in autotune.cpu()
    key = autotune.machine_key()
    assert key.startswith(autotune.cpu()) and f"numpy-{np.__version__}" in key


def test_a_spent_budget_leaves_the_choice_to_the_rule(cache, monkeypatch):
    monkeypatch.setenv("TFRT_RAY_AUTOTUNE_BUDGET_S", "0")
    before = autotune.report()
    fast = Counted()
    assert autotune.choose("matmul", "(4, 4)", {"slow": Counted(0.002), "fast": fast},
                           rule="slow", key="m") == "slow"
    assert fast.calls == 0 and not cache.exists()
    assert autotune.report().over_budget == before.over_budget + 1


def test_kernels_by_rule_measure_nothing(cache, monkeypatch):
    monkeypatch.setenv("TFRT_RAY_KERNELS", "rule")
    fast = Counted()
    assert autotune.choose("matmul", "(4, 4)", {"slow": Counted(0.002), "fast": fast},
                           rule="slow", key="m") == "slow"
    assert fast.calls == 0 and not cache.exists()


def test_a_corrupt_cache_is_measured_over_and_rewritten(cache):
    cache.write_text("{not json")
    assert autotune.choose("matmul", "(4, 4)", {"slow": Counted(0.002), "fast": Counted()},
                           rule="slow", key="m") == "fast"
    assert json.loads(cache.read_text())["matmul|(4, 4)|m"]["choice"] == "fast"


def test_a_budget_that_is_not_a_number_is_a_config_error(cache, monkeypatch):
    monkeypatch.setenv("TFRT_RAY_AUTOTUNE_BUDGET_S", "ten")
    with pytest.raises(ConfigError, match="TFRT_RAY_AUTOTUNE_BUDGET_S='ten'"):
        autotune.choose("matmul", "(4, 4)", {"a": Counted(), "b": Counted()}, "a", key="m")


W, BIAS = RNG.standard_normal((256, 128), np.float32), RNG.standard_normal(128, np.float32)


def _mlp_stage() -> CompiledStage:
    b = GraphBuilder("mlp")
    x = b.add_input(TensorType("f32", (64, 256)), "x")
    w = b.add_node("constant", [], {"value": W})[0]
    bias = b.add_node("constant", [], {"value": BIAS})[0]
    (y,) = b.add_node("fused_matmul", [x, w, bias], {"activation": "relu"})
    g = b.build([y])
    return compile_stage(g.nodes, g.types, g.inputs, g.outputs)


@pytest.mark.skipif(not onednn.available(), reason="oneDNN is not installed")
def test_the_stage_runs_the_kernel_its_trial_chose_with_the_same_results(cache):
    x = RNG.standard_normal((64, 256), np.float32)
    measured = _mlp_stage()
    (entry,) = json.loads(cache.read_text())  # one product, measured once
    for choice, matmul_steps in (("numpy", 0), ("onednn", 1)):
        cache.write_text(json.dumps({entry: {"choice": choice, "us": {}}}))
        stage = _mlp_stage()
        kinds = [type(s.fn).__name__ for s in stage.steps]
        assert kinds.count("MatMul") == matmul_steps, (choice, kinds)
        assert stage.onednn_ops == matmul_steps
        np.testing.assert_allclose(stage.run([x])[0], stage.run_checked([x])[0],
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(stage.run([x])[0], measured.run([x])[0],
                                   rtol=1e-4, atol=1e-4)
