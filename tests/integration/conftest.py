"""One Ray for the integration tests of a worker: a simulated 3-node cluster on this machine
(`ray.cluster_utils.Cluster`, one raylet and object store per node), in a temp dir of its
own, stopped by its own process handles as soon as no later test file uses it (an idle
cluster costs 3.6 CPU-s per 40 s; `make test` runs the files that use it first)."""

from __future__ import annotations

import shutil
import tempfile

import pytest


class _ClusterWhileUsed:
    """The cluster, started by the first file that uses it and stopped after the last one
    (`pytest_runtest_teardown`); a later file that uses it again starts a fresh one."""

    def __init__(self) -> None:
        self.cluster = None
        self._env: pytest.MonkeyPatch | None = None
        self._temp: str | None = None

    def get(self):
        if self.cluster is None:
            self._start()
        return self.cluster

    def _start(self) -> None:
        import ray
        from ray.cluster_utils import Cluster

        # Short and our own: Ray's socket paths must stay under 107 characters.
        self._temp = tempfile.mkdtemp(prefix="tr-test-")
        store = 200 * 1024**2
        env = self._env = pytest.MonkeyPatch()
        env.setenv("RAY_TMPDIR", self._temp)  # Ray's documented setting for its temp root
        # What the suite never reads, and what costs each of its raylets' agents CPU all
        # along (about 40% of an idle simulated cluster's): usage reports to Ray's
        # servers (Ray's documented opt-out), metrics, and the agents' per-process
        # resource reports (every 5 s by default).
        env.setenv("RAY_USAGE_STATS_ENABLED", "0")
        env.setenv("RAY_enable_metrics_collection", "0")
        env.setenv("REPORTER_UPDATE_INTERVAL_MS", str(10 * 60 * 1000))
        try:
            self.cluster = cluster = Cluster(
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
        except BaseException:  # what started goes, and the environment is restored
            self.stop()
            raise

    def stop(self) -> None:
        if self._env is None:
            return
        import ray

        ray.shutdown()
        if self.cluster is not None:
            self.cluster.shutdown()
        self._env.undo()
        shutil.rmtree(self._temp, ignore_errors=True)
        self.cluster = self._env = self._temp = None


_CLUSTER = _ClusterWhileUsed()


def _uses_cluster(item) -> bool:
    return "ray_cluster" in item.fixturenames


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """After the last test of a file (its module fixtures, kept sessions among them, are
    torn down by then): stops the cluster unless the next file uses it too. Under xdist
    ``nextitem`` is the worker's real next test (it runs a test once it has the next)."""
    yield
    if nextitem is None:
        _CLUSTER.stop()
    elif nextitem.path != item.path and not any(
            _uses_cluster(i) for i in nextitem.session.items if i.path == nextitem.path):
        _CLUSTER.stop()


def pytest_sessionfinish(session):
    _CLUSTER.stop()


@pytest.fixture(scope="module")
def ray_cluster():
    pytest.importorskip("ray")
    return _CLUSTER.get()


class _Kept:
    """The one session a module's tests share (`kept_session_of`), set aside between
    them: it is not current while a test runs that did not ask for it."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.session = None

    def stop(self) -> None:
        import tfrt_ray as tr
        from tfrt_ray.cluster import session

        if self.session is not None:
            session._session = self.session
            tr.shutdown()
        self.key = self.session = None


@pytest.fixture(scope="module")
def _kept_session(ray_cluster):
    kept = _Kept()
    yield kept
    kept.stop()


@pytest.fixture
def session_of(_kept_session):
    """Makes a tfrt-ray session on the shared cluster; shuts it down after the test."""
    import tfrt_ray as tr

    def make(**kwargs):
        _kept_session.stop()  # its devices hold CPUs this session may need
        return tr.init(**kwargs)

    yield make
    tr.shutdown()


@pytest.fixture
def kept_session_of(_kept_session):
    """`session_of` for tests that neither read a device's counters nor shut it down: the
    tests of a module that ask for the same session share one, made by the first of them.
    Each session starts a Ray worker process per device, which is most of what an
    integration test costs on two cores. Between tests the kept session is set aside, so
    a test that asks for none runs in-process as it would alone; a test that asks for
    another session shuts the kept one down."""
    import tfrt_ray as tr
    from tfrt_ray.cluster import session

    kept = _kept_session

    def make(**kwargs):
        key = repr(sorted(kwargs.items()))
        if kept.key != key or not all(d.alive() for d in kept.session.devices.values()
                                      if hasattr(d, "alive")):
            kept.stop()
            kept.key, kept.session = key, tr.init(**kwargs)
        session._session = kept.session
        return kept.session

    yield make
    if session.current() is kept.session:
        session._session = None  # set aside, not shut down
    else:  # the test made another session itself
        tr.shutdown()
