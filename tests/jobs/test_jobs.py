"""`tfrt-ray submit`, `jobs` and `cluster status` against a real Ray head (see conftest)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def project(tmp_path):
    """A working dir to upload: a job that succeeds, one that fails, one that sleeps."""
    (tmp_path / "ok.py").write_text(
        "import sys, numpy\nprint('hello from the job', numpy.__name__, sys.argv[1:])\n")
    (tmp_path / "bad.py").write_text(
        "print('about to fail', flush=True)\nraise SystemExit('the job gave up: exit 3')\n")
    (tmp_path / "slow.py").write_text(
        "import time\nprint('sleeping', flush=True)\ntime.sleep(120)\n")
    return tmp_path


def _status(head, job_id: str) -> str:
    req = urllib.request.Request(f"{head.jobs_address}/api/jobs/{job_id}", headers={
        "Authorization": "Bearer " + open(head.env["RAY_AUTH_TOKEN_PATH"]).read().strip()})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["status"]


def _wait_status(head, job_id: str, want: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        status = _status(head, job_id)
        if status == want:
            break
        time.sleep(0.3)
    return status


def test_submit_streams_logs_and_succeeds(ray_head, project):
    r = ray_head.cli("submit", "--address", ray_head.jobs_address, "--working-dir",
                     str(project), "--", "python", "ok.py", "--flag", "x y")
    assert r.returncode == 0, r.stderr
    assert "hello from the job numpy ['--flag', 'x y']" in r.stdout
    assert "SUCCEEDED" in r.stderr


def test_failed_job_exits_1_with_its_error(ray_head, project):
    r = ray_head.cli("submit", "--address", ray_head.jobs_address, "--working-dir",
                     str(project), "--", "python", "bad.py")
    assert r.returncode == 1
    assert "about to fail" in r.stdout
    assert "FAILED" in r.stderr and "the job gave up: exit 3" in r.stdout + r.stderr
    assert "Traceback" not in r.stderr


def test_no_wait_then_jobs_stop(ray_head, project):
    addr = ("--address", ray_head.jobs_address)
    r = ray_head.cli("submit", *addr, "--no-wait", "--working-dir", str(project), "--",
                     "python", "slow.py")
    assert r.returncode == 0, r.stderr
    job_id = r.stdout.strip()
    assert job_id.startswith("raysubmit_")
    assert _wait_status(ray_head, job_id, "RUNNING") == "RUNNING"
    stop = ray_head.cli("jobs", "stop", job_id, *addr)
    assert stop.returncode == 0 and "stop requested" in stop.stdout
    assert _wait_status(ray_head, job_id, "STOPPED") == "STOPPED"


def test_ctrl_c_stops_the_job_and_exits_130_then_jobs_shows_it(ray_head, project):
    addr = ("--address", ray_head.jobs_address)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tfrt_ray.cli", "submit", *addr,
         "--working-dir", str(project), "--", "python", "slow.py"],
        env=ray_head.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = ""
        while not line.startswith("submitted job") and proc.poll() is None:
            line = proc.stderr.readline()  # Ray logs its upload first
        assert line.startswith("submitted job raysubmit_"), line
        job_id = line.split()[2].rstrip(";")
        assert _wait_status(ray_head, job_id, "RUNNING", timeout=120) == "RUNNING"
        # The job's first line on our stdout: the CLI is in its log stream, Ctrl-C-ready.
        out = ""
        while "sleeping" not in out and proc.poll() is None:
            out = proc.stdout.readline()
        assert "sleeping" in out, "the CLI exited before streaming the job's logs"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert f"stopped job {job_id}" in err
    assert _wait_status(ray_head, job_id, "STOPPED", timeout=120) == "STOPPED"

    listed = ray_head.cli("jobs", "list", *addr)
    assert listed.returncode == 0 and job_id in listed.stdout
    status = ray_head.cli("jobs", "status", job_id, *addr)
    assert status.returncode == 0 and "STOPPED" in status.stdout
    logs = ray_head.cli("jobs", "logs", job_id, "--follow", *addr)  # ends: the job is over
    assert logs.returncode == 0 and "sleeping" in logs.stdout
    again = ray_head.cli("jobs", "stop", job_id, *addr)
    assert again.returncode == 0 and "already finished" in again.stdout


def test_wrong_token_is_a_clear_auth_error(ray_head, project):
    env = dict(ray_head.env)
    env.pop("RAY_AUTH_TOKEN_PATH")
    env["RAY_AUTH_TOKEN"] = "0" * 64
    r = ray_head.cli("jobs", "list", "--address", ray_head.jobs_address, env=env)
    assert r.returncode == 1
    assert r.stderr.startswith("error: ")
    assert "RAY_AUTH_MODE=token" in r.stderr and "RAY_AUTH_TOKEN" in r.stderr
    assert "Traceback" not in r.stderr


def test_unreachable_address_and_unknown_job(ray_head):
    r = ray_head.cli("jobs", "list", "--address", "http://127.0.0.1:9")
    assert r.returncode == 1 and "cannot reach the Jobs API" in r.stderr
    r = ray_head.cli("jobs", "status", "raysubmit_nosuchjob", "--address",
                     ray_head.jobs_address)
    assert r.returncode == 1 and r.stderr.startswith("error: ")


def test_the_address_can_come_from_a_cluster_config(ray_head, project):
    config = project / "cluster.yaml"
    config.write_text(
        f"name: test\nray:\n  jobs_address: {ray_head.jobs_address}\n"
        "nodes:\n  - name: head\n    devices: [{type: cpu, count: 1}]\n")
    r = ray_head.cli("jobs", "list", "--config", str(config))
    assert r.returncode == 0, r.stderr
    assert "raysubmit_" in r.stdout or "no jobs" in r.stdout


def test_cluster_status_lists_the_head(ray_head):
    r = ray_head.cli("cluster", "status", "--address", ray_head.gcs_address, timeout=90)
    assert r.returncode == 0, r.stderr
    assert "1 node(s) alive" in r.stdout
    assert "object store" in r.stdout
