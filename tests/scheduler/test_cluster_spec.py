import pytest

from scheduler import ClusterSpec, DeviceSpec
from tfrt_ray.errors import ConfigError, DeviceError


def test_simulated_cluster_ids_nodes_and_links():
    c = ClusterSpec.simulated(20, devices_per_node=8)
    assert len(c) == 20
    assert c.ids[:3] == ("cpu:0", "cpu:1", "cpu:2")
    assert c.device("cpu:9").node == "node1"
    assert c.same_node("cpu:0", "cpu:7")
    assert not c.same_node("cpu:7", "cpu:8")
    assert c.transfer_time(1e9, "cpu:3", "cpu:3") == 0.0
    assert c.transfer_time(5e9, "cpu:0", "cpu:1") == pytest.approx(1.0)
    assert c.transfer_time(1.2e9, "cpu:0", "cpu:8") == pytest.approx(1.0)


def test_cluster_is_frozen_and_round_trips():
    c = ClusterSpec.simulated(4, devices_per_node=2, type="gpu", call_overhead_s=1e-3)
    with pytest.raises(AttributeError):
        c.call_overhead_s = 0.0  # type: ignore[misc]
    assert ClusterSpec.from_dict(c.to_dict()) == c
    assert c.types() == ("gpu",)


def test_bad_cluster_specs_are_rejected():
    d = DeviceSpec("cpu:0", "cpu", "n0")
    with pytest.raises(ConfigError, match="twice"):
        ClusterSpec((d, d))
    with pytest.raises(DeviceError, match="no device 'cpu:9'"):
        ClusterSpec((d,)).device("cpu:9")
