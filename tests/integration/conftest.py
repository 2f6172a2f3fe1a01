"""One Ray for the whole test session: a simulated 3-node cluster on this machine
(`ray.cluster_utils.Cluster`, one raylet and object store per node), in a temp dir of
its own, stopped at the end by its own process handles."""

from __future__ import annotations

import shutil
import tempfile

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    # Short and our own: Ray's socket paths must stay under 107 characters.
    temp = tempfile.mkdtemp(prefix="tr-test-")
    store = 200 * 1024**2
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_TMPDIR", temp)  # Ray's documented setting for its temp root
        # What the suite never reads, and what costs each of its raylets' agents CPU all
        # along (about 40% of an idle simulated cluster's): usage reports to Ray's
        # servers (Ray's documented opt-out), metrics, and the agents' per-process
        # resource reports (every 5 s by default).
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_enable_metrics_collection", "0")
        env.setenv("REPORTER_UPDATE_INTERVAL_MS", str(10 * 60 * 1000))
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
    shutil.rmtree(temp, ignore_errors=True)


def _stop_kept(kept: dict) -> None:
    """Shuts down the kept session, if there is one (it is not current between tests)."""
    import tfrt_ray as tr
    from tfrt_ray.cluster import session

    for made in kept.values():
        session._session = made
        tr.shutdown()
    kept.clear()


@pytest.fixture(scope="module")
def _kept_sessions(ray_cluster):
    kept: dict = {}
    yield kept
    _stop_kept(kept)


@pytest.fixture
def session_of(_kept_sessions):
    """Makes a tfrt-ray session on the shared cluster; shuts it down after the test."""
    import tfrt_ray as tr

    def make(**kwargs):
        _stop_kept(_kept_sessions)  # its devices hold CPUs this session may need
        return tr.init(**kwargs)

    yield make
    tr.shutdown()


@pytest.fixture
def kept_session_of(_kept_sessions):
    """`session_of` for tests that neither read a device's counters nor shut it down: the
    tests of a module that ask for the same session share one, made by the first of them.
    Each session starts a Ray worker process per device, which is most of what an
    integration test costs on two cores. Between tests the kept session is set aside, so
    a test that asks for none runs in-process as it would alone; a test that asks for
    another session shuts the kept one down."""
    import tfrt_ray as tr
    from tfrt_ray.cluster import session

    def make(**kwargs):
        key = repr(sorted(kwargs.items()))
        made = _kept_sessions.get(key)
        if made is not None and all(d.alive() for d in made.devices.values()
                                    if hasattr(d, "alive")):
            session._session = made
            return made
        _stop_kept(_kept_sessions)
        made = _kept_sessions[key] = tr.init(**kwargs)
        return made

    yield make
    if session.current() in _kept_sessions.values():
        session._session = None  # set aside, not shut down
    else:  # the test made another session itself
        tr.shutdown()
