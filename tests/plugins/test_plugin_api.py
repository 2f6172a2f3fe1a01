"""The plugin API: discovery through entry points, the built-in types, broken plugins,
`supports`, and the host boundary of a device whose values live off the host."""

from __future__ import annotations

import sys
import textwrap
import warnings

import numpy as np
import pytest

from tests.plugins.helpers import run_reference
from tfrt_ray.cluster import device_discovery
from tfrt_ray.core import device_types as plugins
from tfrt_ray.core.device_types import DeviceType, LocalDevice
from tfrt_ray.errors import DeviceError, KernelNotFoundError, TfrtRayError
from tfrt_ray.ir.graph import GraphBuilder
from tfrt_ray.ir.types import TensorType


def _rows():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {r["name"]: r for r in plugins.list_device_types()}


def test_builtin_types_are_described_like_plugins():
    types = plugins.load_plugins()
    assert {"cpu", "ort", "gpu"} <= set(types)
    cpu = plugins.get_device_type("cpu")
    assert cpu.source == "built-in" and cpu.falls_back_to_reference
    assert cpu.resources == {"num_cpus": 1} and cpu.flops_per_s > 0
    rows = _rows()
    assert rows["cpu"]["devices"] >= 1 and rows["cpu"]["ops"] >= 100
    assert rows["ort"]["stage_compiler"] and rows["ort"]["ops"] >= 60
    assert rows["gpu"]["resources"]["num_gpus"] == 1


def test_load_plugins_is_idempotent():
    first = plugins.load_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is loaded (or warned about) twice
        second = plugins.load_plugins()
    assert first.keys() == second.keys()
    assert all(first[k] is second[k] for k in first)


def test_unknown_device_type_is_a_clear_error():
    with pytest.raises(DeviceError, match="no device type 'nosuch'"):
        plugins.get_device_type("nosuch")
    assert not plugins.supports("add", "nosuch")


def test_installed_plugin_is_found_and_listed(toy_plugin):
    rows = _rows()
    toy = rows["toy"]
    assert toy["source"] == "tfrt-ray-example-device"
    assert toy["devices"] == 1 and toy["mem_bytes"] == 1 << 30
    assert toy["ops"] == 5  # add, mul, relu, matmul, and the constant the API gives it
    dt = plugins.get_device_type("toy")
    assert dt.discover() == [LocalDevice(0, 1 << 30, "toy device 0")]


def test_supports_consults_kernels_and_stage_compilers(toy_plugin):
    for op in ("add", "mul", "relu", "matmul", "constant"):
        assert plugins.supports(op, "toy")
    for op in ("softmax", "tanh", "conv2d"):
        assert not plugins.supports(op, "toy")
    assert plugins.supports("top_k", "cpu")  # the reference fallback
    assert plugins.supports("softmax", "ort") and not plugins.supports("top_k", "ort")
    assert plugins.supports("conv2d", "gpu") and not plugins.supports("top_k", "gpu")


def _mlp(n=4, d=8, h=16):
    rng = np.random.default_rng(0)
    b = GraphBuilder("mlp")
    x = b.add_input(TensorType("f32", (n, d)), "x")
    w = b.add_node("constant", [], {"value": rng.standard_normal((d, h)).astype("f4")})[0]
    bias = b.add_node("constant", [], {"value": rng.standard_normal(h).astype("f4")})[0]
    y = b.add_node("relu", [b.add_node("add", [b.add_node("matmul", [x, w])[0], bias])[0]])[0]
    return b.build([y]), [rng.standard_normal((n, d)).astype("f4")]


def test_stage_on_a_plugin_device_crosses_the_host_boundary(toy_plugin):
    g, feeds = _mlp()
    before = sum(toy_plugin.CALLS.values())
    stage = plugins.compile_stage(g.nodes, g.types, g.inputs, g.outputs, "toy", "toy:0")
    assert isinstance(stage, plugins.HostBoundaryStage)
    # Weights were made resident on the device once, at load.
    assert all(isinstance(v, toy_plugin.ToyArray) for v in stage.template if v is not None)
    (got,) = stage.run(feeds)
    assert type(got) is np.ndarray
    np.testing.assert_allclose(got, run_reference(g, feeds)[0], rtol=1e-6)
    assert sum(toy_plugin.CALLS.values()) == before + 3
    timings: dict = {}
    (again,) = stage.run_checked(feeds, timings=timings)
    np.testing.assert_array_equal(again, got)
    assert set(timings) == {"matmul", "add", "relu"}


def test_stage_with_an_op_the_device_lacks_fails_at_compile(toy_plugin):
    b = GraphBuilder()
    x = b.add_input(TensorType("f32", (2, 2)))
    g = b.build(b.add_node("tanh", [x]))
    with pytest.raises(KernelNotFoundError, match="tanh"):
        plugins.compile_stage(g.nodes, g.types, g.inputs, g.outputs, "toy", "toy:0")


def test_errors_on_a_plugin_device_are_values(toy_plugin):
    b = GraphBuilder()
    x = b.add_input(TensorType("f32", (2, 3)))
    y = b.add_input(TensorType("f32", (4, 5)))
    bad = b.add_node("relu", [x])[0]
    g = b.build([b.add_node("relu", [y])[0], bad])
    stage = plugins.compile_stage(g.nodes, g.types, g.inputs, g.outputs, "toy", "toy:0")
    ok, err = stage.run([np.ones((2, 3), "f4"), np.ones((4, 5), "f4")])
    assert ok.shape == (4, 5)
    upstream = TfrtRayError("upstream failed")
    outs = stage.run([upstream, np.ones((4, 5), "f4")])
    assert isinstance(outs[0], np.ndarray) and outs[0].shape == (4, 5)
    assert outs[1] is upstream


def test_eager_kernel_runs_one_op_through_the_api(toy_plugin):
    a, c = np.arange(6, dtype="f4").reshape(2, 3), np.ones((2, 3), "f4")
    out = plugins.eager_kernel("add", "toy")(a, c)
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, a + c)
    sm = plugins.eager_kernel("softmax", "ort")(a, axis=-1)
    e = np.exp(a - a.max(-1, keepdims=True))
    np.testing.assert_allclose(sm, e / e.sum(-1, keepdims=True), rtol=1e-5)
    with pytest.raises(KernelNotFoundError):
        plugins.eager_kernel("tanh", "toy")
    top = plugins.eager_kernel("top_k", "cpu")(a, k=1, axis=-1, largest=True, sorted=True)
    np.testing.assert_array_equal(top[0], a[:, 2:])


def test_device_spec_and_actor_options_come_from_the_type(toy_plugin):
    spec = device_discovery.device_spec("toy", "toy:0", "node0", LocalDevice(0, 1 << 30))
    assert (spec.type, spec.flops_per_s, spec.mem_bytes) == ("toy", 1e11, 1 << 30)
    assert device_discovery.actor_options("gpu")["num_gpus"] == 1
    assert device_discovery.device_spec("cpu", "cpu:0", "n", cores=4).flops_per_s == 8e10


# ---- broken plugins ------------------------------------------------------------------------


def _fake_dist(root, dist: str, entries: dict[str, str]) -> None:
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entries.items())
    (info / "entry_points.txt").write_text(f"[tfrt_ray.devices]\n{lines}\n")


def test_broken_plugin_is_a_warning_naming_its_package(tmp_path, monkeypatch):
    _fake_dist(tmp_path, "broken-accel", {"broken": "no_such_module_for_tfrt_ray:device_type"})
    _fake_dist(tmp_path, "wrong-accel", {"wrong": "wrong_accel_mod:device_type"})
    (tmp_path / "wrong_accel_mod.py").write_text(textwrap.dedent("""
        def device_type():
            return 42
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.warns(RuntimeWarning) as record:
        types = plugins.load_plugins()
    text = "\n".join(str(w.message) for w in record)
    assert "'broken-accel'" in text and "ModuleNotFoundError" in text
    assert "'wrong-accel'" in text and "expected a DeviceType" in text
    assert "broken" not in types and "wrong" not in types and "cpu" in types
    rows = [r for r in plugins.list_device_types() if r.get("source") == "broken-accel"]
    assert rows and "no_such_module_for_tfrt_ray" in rows[0]["error"]
    # The runtime goes on: placement questions and stages work.
    assert plugins.supports("add", "cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plugins.load_plugins()  # not retried, not warned about again
    sys.modules.pop("wrong_accel_mod", None)


def test_failing_discover_is_a_warning_and_no_devices():
    def discover():
        raise RuntimeError("driver not loaded")

    dt = plugins.register(DeviceType("flaky_accel", discover=discover), "test")
    with pytest.warns(RuntimeWarning, match="driver not loaded"):
        assert plugins.safe_discover(dt) == []
    with pytest.warns(RuntimeWarning):
        row = next(r for r in plugins.list_device_types() if r["name"] == "flaky_accel")
    assert row["devices"] == 0 and row["ops"] == 0
    assert not plugins.supports("add", "flaky_accel")
    with pytest.raises(ValueError, match="already provided"):
        plugins.register(DeviceType("flaky_accel"), "elsewhere")


def test_kernels_given_as_a_mapping_are_registered():
    dt = DeviceType("mapped_accel", kernels={"neg": lambda x: -x})
    plugins.register(dt, "test")
    assert plugins.supports("neg", "mapped_accel") and not plugins.supports("abs", "mapped_accel")
    out = plugins.eager_kernel("neg", "mapped_accel")(np.ones(3, "f4"))
    np.testing.assert_array_equal(out, -np.ones(3, "f4"))


@pytest.mark.parametrize("device_type", ["toy", "ort", "cpu"])
def test_device_runtime_runs_any_type(toy_plugin, device_type):
    """DeviceRuntime compiles with plugins.compile_stage and runs eager ops with
    plugins.eager_kernel, so any installed device type runs with no edit of the core."""
    from tfrt_ray.core import runtime

    g, feeds = _mlp()
    rt = runtime.DeviceRuntime(f"{device_type}:0", device_type, cores=2, mem_limit_bytes=1 << 20)
    held = rt.load("mlp", g.nodes, g.types, g.inputs, g.outputs)
    assert held == (8 * 16 + 16) * 4  # the weights, wherever they live
    want = run_reference(g, feeds)[0]
    np.testing.assert_allclose(rt.run("mlp", feeds)[0], want, rtol=1e-5)
    np.testing.assert_allclose(rt.run("mlp", feeds, profile=True)[0], want, rtol=1e-5)
    assert rt.stats()["op_seconds"]
    a = np.arange(6, dtype="f4").reshape(2, 3)
    (out,) = rt.run_op("add", {}, [a, a], 1)
    np.testing.assert_array_equal(out, a + a)
    (err,) = rt.run_op("conv2d" if device_type == "toy" else "add", {}, [a, a.T], 1)
    assert isinstance(err, TfrtRayError) and err.device == f"{device_type}:0"


def test_plugins_written_against_the_old_module_paths_still_load():
    import importlib
    import sys

    for old, new in (("device_actors.plugins", "tfrt_ray.core.device_types"),
                     ("device_actors.kernels", "tfrt_ray.core.kernels")):
        sys.modules.pop(old, None)
        with pytest.warns(DeprecationWarning, match=new):
            module = importlib.import_module(old)
        assert module.__dict__.get("kernel" if old.endswith("kernels") else "DeviceType") is \
            getattr(importlib.import_module(new), "kernel" if old.endswith("kernels")
                    else "DeviceType")


def test_a_stage_compiler_needs_only_run_run_checked_and_template():
    from tfrt_ray.core import runtime

    class Minimal:  # what a plugin's stage compiler may return: no profiling, no buffers
        def __init__(self, nodes, types, inputs, outputs, *_):
            self.template = []

        def run(self, inputs):
            return [inputs[0] * 2]

        def run_checked(self, inputs, timings=None):
            return self.run(inputs)

    plugins.register(DeviceType("minimal_accel", compile_stage=Minimal,
                                stage_ops=frozenset({"mul"})), "test")
    g, _ = _mlp()
    rt = runtime.DeviceRuntime("minimal_accel:0", "minimal_accel")
    rt.load("s", g.nodes, g.types, g.inputs, g.outputs)
    x = np.ones((2, 8), "f4")
    assert rt.run("s", [x])[0].tolist() == (2 * x).tolist()
    assert rt.run("s", [x], profile=True)[0].tolist() == (2 * x).tolist()  # checked path
    assert not rt.stages["s"].writes_into(0)

    class Broken:
        def __init__(self, *_):
            self.template = []

        def run(self, inputs):
            return inputs

    plugins.register(DeviceType("broken_accel", compile_stage=Broken,
                                stage_ops=frozenset({"mul"})), "test")
    with pytest.raises(TfrtRayError, match="broken_accel.*lacks \\['run_checked'\\]"):
        runtime.DeviceRuntime("broken_accel:0", "broken_accel").load(
            "s", g.nodes, g.types, g.inputs, g.outputs)
