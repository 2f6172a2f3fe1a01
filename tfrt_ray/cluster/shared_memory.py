"""Housekeeping of a session's shared-memory directory (`device_actors.arena`), one per
session under ``/dev/shm`` of every node that hosts its devices: its name, and its
removal when the session ends or its driver died.

Each device actor removes its own blocks when the session shuts down, but an actor that
died (and the new incarnation that replaced it) leaves the dead one's blocks behind, on
whatever node it ran. `shutdown` removes the directory on the driver's node itself and
on every other node that hosted a device with a task pinned there (`remove_on_nodes`);
`init` removes what drivers that crashed left on its node (`sweep_stale_arenas`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterable

from device_actors.arena import SHM_ROOT

log = logging.getLogger("tfrt_ray")

ARENA_PREFIX = "tfrt-ray-"  # then the driver's pid, so a dead driver's directory is known


def new_arena_dir() -> str:
    """A fresh session directory's path (made by the first actor or driver that writes)."""
    return os.path.join(SHM_ROOT, f"{ARENA_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}")


def sweep_stale_arenas(root: str = SHM_ROOT) -> list[str]:
    """Removes the shared-memory directories of sessions whose driver (the pid in the
    name, on this node) is gone: a driver that crashed never ran `shutdown`. Returns
    what it removed."""
    removed = []
    try:
        names = os.listdir(root)
    except OSError:
        return removed
    for name in names:
        bare = name[4:] if name.startswith("sem.") else name  # a channel's semaphore
        if not bare.startswith(ARENA_PREFIX):
            continue
        pid = bare[len(ARENA_PREFIX):].split("-", 1)[0]
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        path = os.path.join(root, name)
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(path)
        removed.append(name)
    if removed:
        log.info("removed shared memory left by %d dead session(s): %s", len(removed), removed)
    return removed


def remove_semaphores(arena_dir: str, root: str = SHM_ROOT) -> None:
    """Removes the named semaphores of the session's channels (Linux keeps them as
    ``sem.<name>`` files in /dev/shm; channel names start with the session directory's)."""
    prefix = "sem." + os.path.basename(arena_dir) + "-"
    with contextlib.suppress(OSError):
        for name in os.listdir(root):
            if name.startswith(prefix):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(root, name))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def remove_on_nodes(directory: str, node_ids: Iterable[str], timeout: float = 10.0) -> int:
    """Removes ``directory`` (a session's) on each of ``node_ids``, with a task pinned to
    each; returns on how many nodes it finished within ``timeout`` seconds."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    remove = ray.remote(num_cpus=0, max_retries=0)(remove_arena_dir)
    refs = [
        remove.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False))
        .remote(directory)
        for n in sorted(node_ids)
    ]
    if not refs:
        return 0
    done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    finished = 0
    for ref in done:
        try:
            ray.get(ref)
            finished += 1
        except Exception as exc:  # noqa: BLE001 - a node that died meanwhile: nothing to do
            log.debug("removing %s on a node failed: %s", directory, exc)
    return finished


def remove_arena_dir(directory: str) -> None:
    """Removes a session's directory on this node; refuses any other path."""
    root, name = os.path.split(os.path.normpath(directory))
    if root != SHM_ROOT or not name.startswith(ARENA_PREFIX):
        raise ValueError(f"{directory!r} is not a tfrt-ray session directory")
    shutil.rmtree(directory, ignore_errors=True)
