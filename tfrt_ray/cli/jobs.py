"""``tfrt-ray submit`` and ``tfrt-ray jobs``: Ray's Jobs API, over HTTP (no ``ray.init``).

The job's command runs on the cluster, in the cluster's environment: write ``python
script.py`` and the ``python`` on the cluster's PATH runs it (make that the interpreter
with tfrt-ray installed). The working directory (default: the current one) is uploaded.

Ray 2.60 clusters use token authentication: the client sends the cluster's token when
``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` (or ``RAY_AUTH_TOKEN_PATH``) are set. This
command never turns authentication off; a refused token is an error that says so.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from tfrt_ray.cli.cluster_commands import AUTH_HINT
from tfrt_ray.errors import ClusterError, InputError

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")

SUBMIT_EXAMPLES = """\
  tfrt-ray submit --address http://127.0.0.1:8265 -- python job.py --steps 10
  tfrt-ray submit --config cluster.yaml --working-dir ./project -- python train.py
  tfrt-ray submit --address http://127.0.0.1:8265 --no-wait -- python job.py

The command after `--` runs on the cluster with the cluster's `python`. Logs stream here
until the job ends; the exit status is 0 if it SUCCEEDED, 1 if it FAILED or was STOPPED,
130 after Ctrl-C (which stops the job first). --address defaults to the config's
ray.jobs_address, else Ray's own RAY_ADDRESS setting. Token auth: RAY_AUTH_MODE=token
with RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH.
"""

JOBS_EXAMPLES = """\
  tfrt-ray jobs list --address http://127.0.0.1:8265
  tfrt-ray jobs status raysubmit_XXXX
  tfrt-ray jobs logs raysubmit_XXXX --follow
  tfrt-ray jobs stop raysubmit_XXXX
"""


def register(add) -> None:
    p = add("submit", "Submit a command to a Ray cluster as a job and follow it.",
            SUBMIT_EXAMPLES)
    _address_args(p)
    p.add_argument("--working-dir", metavar="DIR", default=None,
                   help="uploaded to the cluster as the job's working dir (default: .)")
    p.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="leave matching files out of the upload (repeatable; gitignore "
                   "syntax)")
    p.add_argument("--no-wait", action="store_true",
                   help="print the job id and return at once")
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- COMMAND...")
    p.set_defaults(func=cmd_submit)

    p = add("jobs", "List, inspect, stop and read the logs of Ray jobs.", JOBS_EXAMPLES)
    sub = p.add_subparsers(dest="jobs_command", metavar="SUBCOMMAND")
    for name, help_text, func in (
        ("list", "list the cluster's jobs", cmd_list),
        ("status", "a job's status and message", cmd_status),
        ("stop", "stop a job", cmd_stop),
        ("logs", "a job's logs", cmd_logs),
    ):
        q = sub.add_parser(name, help=help_text, description=help_text)
        _address_args(q)
        if name != "list":
            q.add_argument("job_id", metavar="ID")
        if name == "logs":
            q.add_argument("--follow", "-f", action="store_true",
                           help="keep printing until the job ends")
        q.set_defaults(func=func)
    p.set_defaults(func=None, print_help=p.print_help)


def _address_args(p) -> None:
    p.add_argument("--address", metavar="URL",
                   help="the Jobs API (dashboard) URL, http://HOST:8265")
    p.add_argument("--config", metavar="FILE",
                   help="a cluster config; its ray.jobs_address is the default --address")


def client(args) -> Any:
    """A JobSubmissionClient for ``--address`` (or the config's, or Ray's default)."""
    from ray.job_submission import JobSubmissionClient

    address = args.address
    if address is None and args.config:
        from tfrt_ray.cluster.config import load_cluster_config

        config = load_cluster_config(args.config)
        address = config.ray.jobs_address if config.ray is not None else None
        if address is None:
            raise InputError(f"'{args.config}' has no ray.jobs_address",
                             hint="add it (http://HOST:8265) or pass --address")
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # noqa: BLE001 - connection, auth and address errors
        raise _jobs_error(exc, address) from None


def _jobs_error(exc: BaseException, address: str | None) -> ClusterError:
    from ray.exceptions import AuthenticationError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    where = address or "the default address (RAY_ADDRESS)"
    if isinstance(exc, AuthenticationError) or "401" in text or "403" in text:
        return ClusterError(f"the Jobs API at {where} refused this client: {text}",
                            hint=AUTH_HINT)
    if isinstance(exc, ConnectionError) or "connect" in text.lower():
        return ClusterError(f"cannot reach the Jobs API at {where}: {text}",
                            hint="check the URL (http://HOST:8265, the dashboard port) and "
                            "that the cluster runs; " + AUTH_HINT)
    if "404" in text and "does not exist" in text:  # "Request failed ...: Job X does not exist."
        return ClusterError(text.split(": ", 1)[-1].rstrip("."),
                            hint="`tfrt-ray jobs list` shows the cluster's jobs")
    return ClusterError(f"the Jobs API at {where} failed: {text}")


def _call(args, fn, *fn_args) -> Any:
    try:
        return fn(*fn_args)
    except ClusterError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise _jobs_error(exc, args.address) from None


# ---- submit ---------------------------------------------------------------------------------


def cmd_submit(args) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise InputError("no command to run", hint="put it after --: tfrt-ray submit "
                         "--address http://HOST:8265 -- python job.py")
    working_dir = Path(args.working_dir or ".").resolve()
    if not working_dir.is_dir():
        raise InputError(f"--working-dir '{working_dir}' is not a directory")
    jobs = client(args)
    runtime_env: dict[str, Any] = {"working_dir": str(working_dir)}
    if args.exclude:
        runtime_env["excludes"] = list(args.exclude)
    job_id = _call(args, lambda: jobs.submit_job(entrypoint=shlex.join(command),
                                                 runtime_env=runtime_env))
    if args.no_wait:
        print(job_id)
        return 0
    print(f"submitted job {job_id}; following its logs (Ctrl-C stops it)", file=sys.stderr)
    try:
        _follow(args, jobs, job_id)
        status = _wait(args, jobs, job_id)
    except KeyboardInterrupt:
        print(f"\nstopping job {job_id} ...", file=sys.stderr)
        _call(args, jobs.stop_job, job_id)
        print(f"stopped job {job_id}", file=sys.stderr)
        return 130
    return _report(args, jobs, job_id, status)


def _follow(args, jobs, job_id: str) -> None:
    async def tail() -> None:
        async for chunk in jobs.tail_job_logs(job_id):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    import asyncio  # here: its import (with ssl) costs every other command ~50 ms

    try:
        asyncio.run(tail())
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - the log stream broke; the status still tells
        print(f"warning: log stream ended early: {exc}", file=sys.stderr)


def _wait(args, jobs, job_id: str) -> str:
    while True:
        status = str(_call(args, jobs.get_job_status, job_id))
        status = status.rsplit(".", 1)[-1]
        if status in TERMINAL:
            return status
        time.sleep(0.5)


def _report(args, jobs, job_id: str, status: str) -> int:
    if status == "SUCCEEDED":
        print(f"job {job_id} SUCCEEDED", file=sys.stderr)
        return 0
    info = _call(args, jobs.get_job_info, job_id)
    message = (info.message or "").strip()
    print(f"error: job {job_id} {status}" + (f": {message}" if message else ""),
          file=sys.stderr)
    return 1


# ---- jobs -----------------------------------------------------------------------------------


def cmd_list(args) -> int:
    jobs = client(args)
    rows = _call(args, jobs.list_jobs)
    if not rows:
        print("no jobs")
        return 0
    print(f"{'job':32s} {'status':10s} {'started':19s} entrypoint")
    for job in sorted(rows, key=lambda j: j.start_time or 0):
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((job.start_time or 0) / 1000))
        entry = job.entrypoint if len(job.entrypoint) <= 60 else job.entrypoint[:57] + "..."
        print(f"{job.submission_id or job.job_id:32s} {_status(job.status):10s} {started:19s} "
              f"{entry}")
    return 0


def cmd_status(args) -> int:
    jobs = client(args)
    info = _call(args, jobs.get_job_info, args.job_id)
    print(f"{args.job_id}: {_status(info.status)}")
    if info.message:
        print(f"  message: {info.message.strip()}")
    print(f"  entrypoint: {info.entrypoint}")
    return 0


def cmd_stop(args) -> int:
    jobs = client(args)
    stopped = _call(args, jobs.stop_job, args.job_id)
    print(f"{args.job_id}: {'stop requested' if stopped else 'already finished'}")
    return 0


def cmd_logs(args) -> int:
    jobs = client(args)
    if args.follow:
        _call(args, jobs.get_job_info, args.job_id)  # a clear error for an unknown id
        _follow(args, jobs, args.job_id)
    else:
        sys.stdout.write(_call(args, jobs.get_job_logs, args.job_id))
    return 0


def _status(status: Any) -> str:
    return str(status).rsplit(".", 1)[-1]
