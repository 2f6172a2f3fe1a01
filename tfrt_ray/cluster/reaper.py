"""Stops a local Ray that tfrt-ray started when its driver dies, however it dies.

The driver starts this file as a small process of its own (no ray, no numpy) right after
``ray.init``, handing it the read end of a pipe whose write end only the driver holds.
When the pipe reaches end-of-file the driver is gone (SIGKILL included: the kernel closes
its descriptors). A clean ``shutdown()`` writes one byte first, so the reaper exits
without touching anything. Otherwise it kills exactly the processes of that Ray session:
the ones whose environment carries the session's tag (set only while ``ray.init`` spawned
them, so every Ray process inherits it) or whose command line names its temp dir. It never
runs ``ray stop`` and never touches another Ray.
"""

from __future__ import annotations

import os
import signal
import sys
import time

TAG = "TFRT_RAY_REAP_TAG"


def _marked(pid: int, tag: str, temp_dir: str) -> bool:
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            if f"{TAG}={tag}".encode() in f.read().split(b"\0"):
                return True
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return temp_dir.encode() in f.read()
    except OSError:
        return False


def session_pids(tag: str, temp_dir: str) -> list[int]:
    """The live processes of the Ray session tagged ``tag`` (this process excluded)."""
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and int(p) != me and _marked(int(p), tag, temp_dir)]


def reap(tag: str, temp_dir: str, grace_s: float = 5.0) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in session_pids(tag, temp_dir):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        end = time.monotonic() + grace_s
        while session_pids(tag, temp_dir) and time.monotonic() < end:
            time.sleep(0.1)


def start(tag: str, temp_dir: str) -> int:
    """Starts the reaper for the Ray session tagged ``tag``; returns the pipe's write end,
    which the driver keeps open until `release` (or its death) closes it."""
    import subprocess

    read_end, write_end = os.pipe()
    subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), str(read_end), tag, temp_dir],
        pass_fds=(read_end,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
    )
    os.close(read_end)
    return write_end


def release(write_end: int) -> None:
    """A clean shutdown: the reaper exits without killing anything."""
    try:
        os.write(write_end, b"x")
    finally:
        os.close(write_end)


def main(argv: list[str]) -> int:
    fd, tag, temp_dir = int(argv[1]), argv[2], argv[3]
    for sig in (signal.SIGINT, signal.SIGHUP):  # the driver's Ctrl-C is not ours
        signal.signal(sig, signal.SIG_IGN)
    data = b""
    while True:
        try:
            chunk = os.read(fd, 64)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    if b"x" not in data:  # no clean shutdown: the driver died
        reap(tag, temp_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
