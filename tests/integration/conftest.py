"""One Ray for the whole test session: a simulated 3-node cluster on this machine
(`ray.cluster_utils.Cluster`, one raylet and object store per node), in a temp dir of
its own, stopped at the end by its own process handles."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    # Short and our own: Ray's socket paths must stay under 107 characters.
    temp = tempfile.mkdtemp(prefix="tr-test-")
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = temp  # Ray's documented setting for its temp root
    store = 200 * 1024**2
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 4,
            "object_store_memory": store,
            "include_dashboard": False,
        },
    )
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=store)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace="tfrt_ray_tests", log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    if saved is None:
        os.environ.pop("RAY_TMPDIR", None)
    else:
        os.environ["RAY_TMPDIR"] = saved
    shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def session_of(ray_cluster):
    """Makes a tfrt-ray session on the shared cluster; shuts it down after the test."""
    import tfrt_ray as tr

    def make(**kwargs):
        return tr.init(**kwargs)

    yield make
    tr.shutdown()
