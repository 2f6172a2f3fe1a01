"""Cluster configs: the shipped ones load, and every kind of mistake is a ConfigError that names
the file, the line and the field."""

from __future__ import annotations

import io
import pathlib
import re
import textwrap

import pytest
import yaml

from scheduler import ClusterSpec
from tfrt_ray.cluster.config import (
    MAX_CONFIG_BYTES,
    ClusterConfig,
    check_config_main,
    load_cluster_config,
    parse_flops,
    parse_size,
)
from tfrt_ray.errors import ConfigError

ROOT = pathlib.Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "cluster_configs"

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


# ---- mistakes --------------------------------------------------------------------------------

GOOD = """\
name: demo
nodes:
  - name: head
    devices:
      - type: cpu
        count: 2
        memory: 4GiB
"""


def _write(tmp_path, text: str, name: str = "cluster.yaml") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path, text: str) -> tuple[ConfigError, pathlib.Path]:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    return info.value, path


def _assert_names(err: ConfigError, path, line: int, field: str, column: int | None = None):
    """The first line of the message is ``file:line:column: field: problem``."""
    first = err.message.splitlines()[0]
    where = f"{path}:{line}:" + (f"{column}:" if column is not None else "")
    assert first.startswith(where), first
    assert f" {field}: " in first, first
    assert err.loc == f"{path}:{line}"
    assert err.hint
    text = str(err)
    assert str(path) in text and f"{path}:{line}" in text and field in text


def test_good_config_loads(tmp_path):
    config = load_cluster_config(_write(tmp_path, GOOD))
    assert config.to_cluster_spec().ids == ("cpu:0", "cpu:1")


def test_typo_in_field_name_suggests_the_right_one(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("count: 2", "cuont: 2"))
    _assert_names(err, path, 6, "nodes[0].devices[0].cuont", column=9)
    assert "unknown field 'cuont'" in err.message
    assert "did you mean 'count'?" in err.message
    assert "'count'" in err.hint


def test_typo_in_top_level_section(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("nodes:", "node:"))
    _assert_names(err, path, 2, "node", column=1)
    assert "did you mean 'nodes'?" in err.message
    assert "missing required field 'nodes'" in err.message  # reported too, after the typo


def test_typo_in_links_section(tmp_path):
    err, path = _error(tmp_path, GOOD + "links:\n  inter_node_gpbs: 10\n")
    _assert_names(err, path, 9, "links.inter_node_gpbs", column=3)
    assert "did you mean 'inter_node_gbps'?" in err.message


def test_missing_required_field(tmp_path):
    text = GOOD + "  - devices:\n      - type: cpu\n"
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 8, "nodes[1].name", column=5)
    assert "missing required field 'name'" in err.message
    assert "name:" in err.hint


def test_missing_device_type(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("type: cpu", "cores_per_device: 1"))
    _assert_names(err, path, 5, "nodes[0].devices[0].type")
    assert "missing required field 'type'" in err.message


def test_wrong_type(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("count: 2", "count: two"))
    _assert_names(err, path, 6, "nodes[0].devices[0].count", column=9)
    assert "must be a whole number" in err.message and "'two'" in err.message


def test_quoted_number_is_not_an_integer(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("count: 2", 'count: "2"'))
    _assert_names(err, path, 6, "nodes[0].devices[0].count")
    assert "drop the quotes" in err.hint


def test_bool_is_not_an_integer(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("count: 2", "count: true"))
    _assert_names(err, path, 6, "nodes[0].devices[0].count")
    assert "boolean" in err.message


def test_number_where_text_is_expected(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("name: head", "name: 123"))
    _assert_names(err, path, 3, "nodes[0].name")
    assert "must be text" in err.message and "quote" in err.hint


@pytest.mark.parametrize("count", ["0", "-3"])
def test_zero_or_negative_device_count(tmp_path, count):
    err, path = _error(tmp_path, GOOD.replace("count: 2", f"count: {count}"))
    _assert_names(err, path, 6, "nodes[0].devices[0].count", column=9)
    assert f"must be at least 1, got {count}" in err.message


def test_zero_node_count(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("  - name: head\n", "  - name: head\n    count: 0\n"))
    _assert_names(err, path, 4, "nodes[0].count")


def test_zero_cores(tmp_path):
    text = GOOD.replace("count: 2", "count: 2\n        cores_per_device: 0")
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 7, "nodes[0].devices[0].cores_per_device")


@pytest.mark.parametrize(
    "memory, words",
    [
        ("4 GiBB", "unknown size unit 'GiBB'"),
        ("lots", "'lots' is not a size"),
        ("0", "must be more than 0 bytes"),
        ("0GiB", "must be more than 0 bytes"),
        ("-1GiB", "is not a size"),
        ("[4, GiB]", "must be a size, got a list"),
    ],
)
def test_bad_size(tmp_path, memory, words):
    err, path = _error(tmp_path, GOOD.replace("memory: 4GiB", f"memory: {memory}"))
    _assert_names(err, path, 7, "nodes[0].devices[0].memory", column=9)
    assert words in err.message
    assert "GiB" in err.hint


def test_bad_size_unit_suggests_one(tmp_path):
    err, _ = _error(tmp_path, GOOD.replace("memory: 4GiB", "memory: 4 GIBS"))
    assert "did you mean 4GiB?" in err.message


def test_bad_flops(tmp_path):
    text = GOOD.replace("memory: 4GiB", "memory: 4GiB\n        flops: fast")
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 8, "nodes[0].devices[0].flops")
    assert "FLOP/s" in err.hint


@pytest.mark.parametrize("value", ["0", "-5", ".inf", "fast"])
def test_bad_bandwidth(tmp_path, value):
    err, path = _error(tmp_path, GOOD + f"links:\n  intra_node_gbps: {value}\n")
    _assert_names(err, path, 9, "links.intra_node_gbps", column=3)


def test_duplicate_node_names(tmp_path):
    text = GOOD + "  - name: head\n    devices: [{type: cpu}]\n"
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 8, "nodes[1].name", column=5)
    assert "'head' is used twice (first at line 3)" in err.message


def test_replica_names_clash_with_a_node(tmp_path):
    text = (
        GOOD.replace("  - name: head\n", "  - name: w\n    count: 2\n")
        + "  - name: w-1\n    devices: [{type: cpu}]\n"
    )
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 9, "nodes[1].name")
    assert "'w-1'" in err.message and "<name>-0" in err.message


def test_duplicate_yaml_key(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("count: 2", "count: 2\n        count: 3"))
    _assert_names(err, path, 7, "nodes[0].devices[0].count", column=9)
    assert "given twice (first at line 6)" in err.message


def test_empty_nodes_list(tmp_path):
    err, path = _error(tmp_path, "name: demo\nnodes: []\n")
    _assert_names(err, path, 2, "nodes", column=1)
    assert "must not be empty" in err.message


def test_unknown_device_type_spelling(tmp_path):
    err, path = _error(tmp_path, GOOD.replace("type: cpu", "type: CPU"))
    _assert_names(err, path, 5, "nodes[0].devices[0].type")
    assert "did you mean 'cpu'?" in err.message


def test_http_url_as_ray_address(tmp_path):
    err, path = _error(tmp_path, GOOD + "ray:\n  address: http://10.0.0.10:8265\n")
    _assert_names(err, path, 9, "ray.address", column=3)
    assert "jobs_address" in err.hint


def test_several_problems_are_all_listed(tmp_path):
    text = GOOD.replace("count: 2", "count: 0").replace("memory: 4GiB", "memory: huge")
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 6, "nodes[0].devices[0].count")
    assert "and 1 more problem" in err.message
    assert f"{path}:7:9: nodes[0].devices[0].memory:" in err.message


def test_not_a_mapping(tmp_path):
    err, path = _error(tmp_path, "- name: demo\n")
    _assert_names(err, path, 1, "(top level)")
    assert "must be a mapping" in err.message


def test_non_text_key(tmp_path):
    err, path = _error(tmp_path, GOOD + "1: 2\n")
    _assert_names(err, path, 8, "(top level)", column=1)


@pytest.mark.parametrize(
    "text, line",
    [
        ("name: demo\nnodes:\n  - name: head\n    devices: [{type: cpu}\n", 5),
        ("name: demo\nnodes:\n  - name: a\n   bad indent: 1\n", 4),
        ("name: demo\nnodes:\n\t- name: x\n", 3),
        ("name: 'unterminated\nnodes: []\n", 3),
        ("name: a\n---\nname: b\n", 2),
    ],
)
def test_malformed_yaml(tmp_path, text, line):
    err, path = _error(tmp_path, text)
    first = err.message.splitlines()[0]
    assert first.startswith(f"{path}:{line}:"), first
    assert "malformed YAML" in first
    assert err.loc == f"{path}:{line}"
    assert err.hint


def test_tab_indentation_hint(tmp_path):
    err, _ = _error(tmp_path, "name: demo\nnodes:\n\t- name: x\n")
    assert "tab" in err.hint


def test_empty_file(tmp_path):
    err, path = _error(tmp_path, "# nothing but a comment\n")
    assert err.message.startswith(f"{path}:1:1: ")
    assert "empty" in err.message


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    assert str(path) in info.value.message
    assert info.value.loc == str(path)


def test_missing_file_suggests_a_near_name():
    with pytest.raises(ConfigError) as info:
        load_cluster_config(CONFIGS / "multinode.yaml")
    assert "multi_node.yaml" in info.value.hint


def test_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="directory"):
        load_cluster_config(tmp_path)


def test_file_over_the_size_limit(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(GOOD + "#" * MAX_CONFIG_BYTES)
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    assert str(path) in info.value.message and "1 MiB" in info.value.message


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: demo\ndescription: caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_cluster_config(path)
    assert info.value.message.startswith(f"{path}:2:")


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
        "!!python/object:builtins.dict",
        "!custom",
    ],
)
def test_python_object_tag_is_rejected_and_never_runs(tmp_path, tag):
    marker = tmp_path / "pwned"
    text = f'name: {tag} ["touch {marker}"]\nnodes:\n  - name: a\n    devices: [{{type: cpu}}]\n'
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 1, "name", column=7)
    assert "is not allowed" in err.message
    assert not marker.exists()


def test_python_object_tag_on_a_key_or_nested_is_rejected(tmp_path):
    marker = tmp_path / "pwned"
    text = GOOD.replace(
        "memory: 4GiB", f'memory: !!python/object/apply:os.system ["touch {marker}"]'
    )
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 7, "nodes[0].devices[0].memory", column=17)
    assert not marker.exists()


def test_alias_bomb_is_refused(tmp_path):
    lines = ["a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]"]
    for prev, cur in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    err, path = _error(tmp_path, "\n".join(lines) + "\n")
    assert err.message.startswith(f"{path}:1:1:")
    assert "expands to more than" in err.message


def test_anchors_and_merge_keys_work(tmp_path):
    text = """\
    name: demo
    nodes:
      - name: a
        devices:
          - &cpu {type: cpu, count: 2, memory: 1GiB}
      - name: b
        devices:
          - <<: *cpu
            count: 3
    """
    config = load_cluster_config(_write(tmp_path, text))
    assert config.device_counts() == {"cpu": 5}
    assert config.to_cluster_spec().device("cpu:4").mem_bytes == 1 << 30


def test_error_in_merged_mapping_points_at_the_explicit_key(tmp_path):
    text = """\
    name: demo
    nodes:
      - name: a
        devices:
          - &cpu {type: cpu, count: 2}
      - name: b
        devices:
          - <<: *cpu
            count: 0
    """
    err, path = _error(tmp_path, text)
    _assert_names(err, path, 9, "nodes[1].devices[0].count", column=9)


def test_error_survives_pickling(tmp_path):
    import pickle

    err, path = _error(tmp_path, GOOD.replace("count: 2", "count: 0"))
    again = pickle.loads(pickle.dumps(err))
    assert isinstance(again, ConfigError)
    assert again.message == err.message and again.loc == err.loc and again.hint == err.hint


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
