"""Cluster configs: every kind of mistake is a ConfigError that names the file, the line and
the field."""

from __future__ import annotations

import pytest

from tests.cluster.config_cases import GOOD, _assert_names, _error, _write
from tfrt_ray.cluster.config import load_cluster_config


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
