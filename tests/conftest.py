"""Settings every test shares."""

from __future__ import annotations

import signal

import pytest

# A suite started in the background of a non-interactive shell (`make test &`, nohup) inherits
# SIGINT ignored, and so would every process it starts: the Ctrl-C tests would then send a
# signal nobody receives. They test what a terminal gives, so the suite restores it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    """Files that start Ray processes run first, those that kill them first of all, and the
    files on the integration tests' shared cluster together (it stops after the last of
    them: tests/integration/conftest.py).

    `make test` gives whole files to two workers (--dist loadfile) in this order
    (--no-loadscope-reorder: by default xdist would order them by their number of tests).
    Those files take most of the suite's time; taken last, one worker would finish alone
    while the other idles. Longest first, the short files fill the gaps at the end."""
    def weight(item) -> int:
        if item.get_closest_marker("fault"):
            return 3
        if "ray_cluster" in item.fixturenames:
            return 2
        return 1 if item.get_closest_marker("integration") else 0

    by_file: dict[str, int] = {}
    for item in items:
        path = str(item.path)
        by_file[path] = max(by_file.get(path, 0), weight(item))
    items.sort(key=lambda item: -by_file[str(item.path)])  # stable: files stay whole


@pytest.fixture(autouse=True, scope="session")
def _caches_of_the_session(tmp_path_factory):
    """Batch runs cache file hashes and CPU stages their measured kernel choices; the suite
    keeps both caches out of the user's home (subprocesses inherit the variables)."""
    where = tmp_path_factory.mktemp("caches")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TFRT_RAY_HASH_CACHE", str(where / "file-hashes.json"))
        mp.setenv("TFRT_RAY_AUTOTUNE_CACHE", str(where / "kernel-choices.json"))
        yield
