"""A real Ray head with token authentication, started by these tests and stopped by its own
process group (never `ray stop`, which would kill every Ray on the machine).

The head gets its own short temp dir (``--temp-dir`` and ``RAY_TMPDIR``), its own HOME (so
no ~/.ray token of the user's is read or written), a token file of its own
(``RAY_AUTH_MODE=token`` + ``RAY_AUTH_TOKEN_PATH``: with both set, `ray start` enables token
auth and reads the token from that file), and free ports for every server it starts. The
clients are ``python -m tfrt_ray.cli`` subprocesses with the same auth settings; the pytest
process itself never calls ``ray.init`` here.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 60


@dataclass
class Head:
    jobs_address: str  # http://127.0.0.1:<dashboard port>
    gcs_address: str  # 127.0.0.1:<gcs port>
    env: dict  # a client's environment: token auth on, the head's token
    temp: Path

    def cli(self, *args: str, env: dict | None = None, timeout: float = 60,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "tfrt_ray.cli", *args], env=env or self.env,
            capture_output=True, text=True, timeout=timeout, cwd=cwd or self.temp,
        )


def _free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _base_env(temp: Path, token_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RAY_AUTH", "RAY_ADDRESS", "RAY_API_SERVER"))}
    env.update(
        RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_path), RAY_TMPDIR=str(temp),
        HOME=str(temp / "home"),
        # `python` in a job's command is this interpreter (the cluster's python).
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
        RAY_USAGE_STATS_ENABLED="0",
    )
    return env


def _wait_for_jobs_api(url: str, token: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    request = urllib.request.Request(f"{url}/api/jobs/",
                                     headers={"Authorization": f"Bearer {token}"})
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError, urllib.error.URLError):
            with urllib.request.urlopen(request, timeout=2) as r:
                if r.status == 200:
                    json.loads(r.read() or b"[]")
                    return
        time.sleep(0.5)
    raise RuntimeError(f"the Jobs API at {url} did not come up:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, temp: Path) -> None:
    """Stops the head: its process group, then any process still using its temp dir
    (Ray's daemons may start sessions of their own), each by pid."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=3)  # Ray's graceful shutdown; then the hard way
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # what ray start left in its group
    for pid in _pids_using(temp):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _pids_using(temp: Path) -> list[int]:
    found = []
    needle = str(temp).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            if needle in cmdline or needle in environ:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def ray_head():
    """A real Ray head with its dashboard (the jobs API), for one test file: stopped after
    it, since an idle head's dashboard and agents keep costing CPU for the rest of the run."""
    if not (BIN / "ray").exists():
        pytest.skip("the `ray` command is not installed next to this python")
    # Short: Ray's socket paths under the temp dir must stay under 107 characters.
    temp = Path(tempfile.mkdtemp(prefix="trj-", dir="/tmp"))
    (temp / "home").mkdir()
    token = secrets.token_hex(32)
    token_path = temp / "auth_token"
    token_path.write_text(token)
    token_path.chmod(0o600)
    env = _base_env(temp, token_path)
    names = ("port", "dashboard-port", "ray-client-server-port", "dashboard-agent-listen-port",
             "dashboard-agent-grpc-port", "runtime-env-agent-port", "metrics-export-port",
             "node-manager-port", "object-manager-port")
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    log = temp / "head.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--block", "--num-cpus=1",
             "--node-ip-address=127.0.0.1", "--dashboard-host=127.0.0.1",
             f"--temp-dir={temp / 'ray'}", "--object-store-memory=100000000",
             "--include-dashboard=true", "--disable-usage-stats",
             *[f"--{name}={port}" for name, port in ports.items()]],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    jobs_address = f"http://127.0.0.1:{ports['dashboard-port']}"
    try:
        _wait_for_jobs_api(jobs_address, token, proc, log)
        yield Head(jobs_address, f"127.0.0.1:{ports['port']}", env, temp)
    finally:
        _stop(proc, temp)
        shutil.rmtree(temp, ignore_errors=True)
