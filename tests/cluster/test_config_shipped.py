"""Cluster configs: the shipped ones load and convert, the launcher and KubeRay files fit them,
and units, replicas and the public loader work."""

from __future__ import annotations

import io
import re

import pytest
import yaml

from scheduler import ClusterSpec
from tests.cluster.config_cases import CONFIGS, GOOD, _write
from tfrt_ray.cluster.config import (
    ClusterConfig,
    check_config_main,
    load_cluster_config,
    parse_flops,
    parse_size,
)
from tfrt_ray.errors import ConfigError

SHIPPED = {
    # file: (nodes, devices per type)
    "laptop.yaml": (["local"], {"cpu": 2}),
    "single_node_4cpu.yaml": (["box"], {"cpu": 4}),
    "multi_node.yaml": (["head", "worker-0", "worker-1"], {"cpu": 10}),
    "gpu_node.yaml": (["gpu-box"], {"cpu": 2, "gpu": 2}),
}


# ---- shipped configs ------------------------------------------------------------------------


def test_every_shipped_config_is_tested():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(SHIPPED)


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_config_loads_and_converts(name):
    nodes, per_type = SHIPPED[name]
    config = load_cluster_config(CONFIGS / name)
    assert isinstance(config, ClusterConfig)
    assert config.source == str(CONFIGS / name)
    assert list(config.node_names()) == nodes
    assert config.device_counts() == per_type

    spec = config.to_cluster_spec()
    assert isinstance(spec, ClusterSpec)
    assert len(spec) == sum(per_type.values())
    assert {d.node for d in spec.devices} == set(nodes)
    for t, n in per_type.items():  # ids <type>:0 .. <type>:n-1
        assert [d.id for d in spec.devices if d.type == t] == [f"{t}:{i}" for i in range(n)]
    assert all(d.mem_bytes > 0 and d.flops_per_s > 0 and d.cores >= 1 for d in spec.devices)
    assert ClusterSpec.from_dict(spec.to_dict()) == spec


def test_multi_node_device_placement_and_links():
    config = load_cluster_config(CONFIGS / "multi_node.yaml")
    spec = config.to_cluster_spec()
    by_node = {}
    for d in spec.devices:
        by_node.setdefault(d.node, []).append(d.id)
    assert by_node == {
        "head": ["cpu:0", "cpu:1"],
        "worker-0": ["cpu:2", "cpu:3", "cpu:4", "cpu:5"],
        "worker-1": ["cpu:6", "cpu:7", "cpu:8", "cpu:9"],
    }
    assert spec.device("cpu:0").mem_bytes == 4 << 30
    assert spec.device("cpu:9").mem_bytes == 6 << 30
    assert spec.device("cpu:9").flops_per_s == 40e9
    assert spec.device("cpu:9").cores == 2
    assert spec.intra_node_bytes_per_s == 40e9 / 8
    assert spec.inter_node_bytes_per_s == 10e9 / 8
    assert spec.call_overhead_s == pytest.approx(500e-6)
    assert config.ray.address == "auto"
    assert config.ray.jobs_address == "http://127.0.0.1:8265"


def test_gpu_node_ids_are_numbered_per_type():
    spec = load_cluster_config(CONFIGS / "gpu_node.yaml").to_cluster_spec()
    assert spec.ids == ("cpu:0", "cpu:1", "gpu:0", "gpu:1")
    assert spec.device("gpu:1").mem_bytes == 24 << 30
    assert spec.device("gpu:1").flops_per_s == 30e12


def test_check_config_main_prints_one_line_summary():
    out, err = io.StringIO(), io.StringIO()
    assert check_config_main(CONFIGS / "multi_node.yaml", out=out, err=err) == 0
    assert err.getvalue() == ""
    line = out.getvalue()
    assert line.count("\n") == 1
    assert line.startswith("OK ") and "3 nodes" in line and "10 devices (cpu: 10)" in line


def test_check_config_main_reports_the_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nnodes:\n  - name: a\n    devices: [{type: cpu, count: 0}]\n")
    out, err = io.StringIO(), io.StringIO()
    assert check_config_main(path, out=out, err=err) == 1
    assert out.getvalue() == ""
    assert f"{path}:4:" in err.getvalue() and "nodes[0].devices[0].count" in err.getvalue()


# ---- the Ray cluster launcher and KubeRay files fit multi_node.yaml -------------------------


def _multi_node_resources():
    return load_cluster_config(CONFIGS / "multi_node.yaml").node_resources()


def _flag(command: str, name: str) -> str | None:
    match = re.search(rf"--{name}[= ](\S+)", command)
    return match.group(1) if match else None


def test_cluster_launcher_yaml():
    launcher = yaml.safe_load((CONFIGS / "ray" / "cluster-launcher.yaml").read_text())
    for key in (
        "cluster_name",
        "provider",
        "auth",
        "min_workers",
        "max_workers",
        "file_mounts",
        "setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
    ):
        assert key in launcher, key
    provider = launcher["provider"]
    assert provider["type"] == "local"
    need = _multi_node_resources()
    assert len(provider["worker_ips"]) == len(need) - 1 == launcher["min_workers"]
    addresses = [provider["head_ip"], *provider["worker_ips"]]
    assert all(re.match(r"^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.)", a) for a in addresses)

    head = " ".join(launcher["head_start_ray_commands"])
    worker = " ".join(launcher["worker_start_ray_commands"])
    assert "ray start --head" in head
    assert _flag(head, "dashboard-host") == "127.0.0.1"
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in worker
    assert "0.0.0.0" not in head
    assert int(_flag(head, "num-cpus")) >= need["head"]["CPU"]
    assert all(int(_flag(worker, "num-cpus")) >= need[n]["CPU"] for n in ("worker-0", "worker-1"))
    assert "~/.ray/auth_token" in launcher["file_mounts"]


def test_cluster_launcher_yaml_passes_rays_own_validation():
    util = pytest.importorskip("ray.autoscaler._private.util")
    pytest.importorskip("jsonschema")
    launcher = yaml.safe_load((CONFIGS / "ray" / "cluster-launcher.yaml").read_text())
    prepared = util.prepare_config(launcher)
    util.validate_config(prepared)


def _quantity(text: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "m": 1e-3, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()
    return float(number) * units[unit]


def test_kuberay_raycluster_yaml():
    manifest = yaml.safe_load((CONFIGS / "kuberay" / "raycluster.yaml").read_text())
    assert list(manifest) == ["apiVersion", "kind", "metadata", "spec"]
    assert manifest["apiVersion"] == "ray.io/v1"
    assert manifest["kind"] == "RayCluster"
    spec = manifest["spec"]
    assert spec["rayVersion"] == "2.60.0"
    assert {"headGroupSpec", "workerGroupSpecs"} <= set(spec)

    config = load_cluster_config(CONFIGS / "multi_node.yaml")
    need = config.node_resources()
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["dashboard-host"] == "127.0.0.1"
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"

    def check_pod(group, node_names):
        (container,) = group["template"]["spec"]["containers"]
        assert "2.60.0" in container["image"]
        env = {e["name"]: e for e in container["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert "secretKeyRef" in env["RAY_AUTH_TOKEN"]["valueFrom"]
        limits = container["resources"]["limits"]
        assert container["resources"]["requests"] == limits
        cpus = _quantity(limits["cpu"])
        assert float(group["rayStartParams"]["num-cpus"]) == cpus
        for node in node_names:
            assert cpus >= need[node]["CPU"]
            group_of = next(g for g in config.nodes if node in g.node_names())
            device_memory = sum(d.count * d.memory for d in group_of.devices)
            assert _quantity(limits["memory"]) >= device_memory

    check_pod(head, ["head"])
    (workers,) = spec["workerGroupSpecs"]
    worker_nodes = [n for n in config.node_names() if n != "head"]
    assert workers["replicas"] == workers["minReplicas"] == len(worker_nodes)
    check_pod(workers, worker_nodes)


def test_readme_mentions_every_shipped_file():
    readme = (CONFIGS / "README.md").read_text()
    for name in [*SHIPPED, "ray/cluster-launcher.yaml", "kuberay/raycluster.yaml"]:
        assert name in readme
    assert "tfrt-ray config check" in readme
    assert "127.0.0.1" in readme and "RAY_AUTH_MODE=token" in readme


# ---- units -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, nbytes",
    [
        ("4GiB", 4 << 30),
        ("4 GiB", 4 << 30),
        ("4gib", 4 << 30),
        ("512MiB", 512 << 20),
        ("1.5Gi", 3 << 29),
        ("16GB", 16 * 10**9),
        ("2K", 2000),
        ("100", 100),
        (1024, 1024),
        (2e9, 2 * 10**9),
    ],
)
def test_parse_size(text, nbytes):
    assert parse_size(text) == nbytes


@pytest.mark.parametrize(
    "text, rate",
    [
        ("20 GFLOP/s", 20e9),
        ("1.5 TFLOP/s", 1.5e12),
        ("20GFLOPS", 20e9),
        ("300 MFLOP/s", 300e6),
        ("2e10", 2e10),
        (7, 7.0),
    ],
)
def test_parse_flops(text, rate):
    assert parse_flops(text) == pytest.approx(rate)


def test_replicated_nodes_are_named_in_order(tmp_path):
    text = GOOD.replace("  - name: head\n", "  - name: w\n    count: 3\n")
    config = load_cluster_config(_write(tmp_path, text))
    assert config.node_names() == ("w-0", "w-1", "w-2")
    spec = config.to_cluster_spec()
    assert [d.node for d in spec.devices] == ["w-0", "w-0", "w-1", "w-1", "w-2", "w-2"]
    assert not spec.same_node("cpu:1", "cpu:2")


def test_from_data_validates_python_data():
    config = ClusterConfig.from_data(
        {"name": "x", "nodes": [{"name": "a", "devices": [{"type": "cpu", "count": 3}]}]}
    )
    assert len(config.to_cluster_spec()) == 3
    with pytest.raises(ConfigError) as info:
        ClusterConfig.from_data({"name": "x", "nodes": [{"name": "a", "devices": []}]}, "api")
    assert info.value.message.startswith("api: nodes[0].devices: must not be empty")
    assert info.value.loc == "api"


def test_public_load_cluster_config_gives_a_cluster_spec():
    import tfrt_ray as tr

    config = tr.load_cluster_config(CONFIGS / "multi_node.yaml")
    assert len(config.to_cluster_spec().devices) == 10
