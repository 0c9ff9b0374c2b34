"""``vidsr submit``: a Ray job running ``vidsr run ... --ray auto``, through Ray's Job Submission API.

The job is exactly what ``ray job submit -- vidsr run ... --ray auto`` starts; this only saves typing
and forwards ``VIDSR_RAY_*`` settings. Its logs carry the same one-line errors as a local run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shlex
import sys
import time

from vidsr.errors import EXIT_INTERRUPTED, EXIT_PROCESSING, UsageError
from workers.config import ENV_PREFIX

__all__ = ["run_argv", "submit_job"]


def run_argv(args: argparse.Namespace, actions: list[argparse.Action]) -> list[str]:
    """The ``vidsr run`` options the user gave, rebuilt from the parsed values of the shared actions."""
    argv: list[str] = []
    for action in actions:
        value = getattr(args, action.dest, None)
        if value is None or value == action.default:
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            argv.append(flag)
        else:
            argv += [flag, str(value)]
    return argv


def submit_job(address: str, argv: list[str], follow: bool) -> int:
    from ray.job_submission import JobStatus, JobSubmissionClient

    for name in ("ray", "ray.dashboard.modules.job.sdk"):  # the SDK's INFO lines are not the job's logs
        logging.getLogger(name).setLevel(logging.WARNING)

    try:
        client = JobSubmissionClient(address)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise UsageError(f"cannot reach the Ray cluster at {address}: {' '.join(str(err).split())[:200]}") from None
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    job_id = client.submit_job(entrypoint=shlex.join(argv), runtime_env={"env_vars": env} if env else None)
    print(job_id)
    if not follow:
        print(f"vidsr: submitted {job_id}; follow it with `ray job logs --follow {job_id} --address {address}`",
              file=sys.stderr)
        return 0

    async def tail() -> None:
        async for lines in client.tail_job_logs(job_id):
            sys.stdout.write(lines)
            sys.stdout.flush()

    try:
        asyncio.run(tail())
    except KeyboardInterrupt:
        print(f"vidsr: stopped following; the job goes on (`ray job stop {job_id}` stops it)", file=sys.stderr)
        return EXIT_INTERRUPTED
    status = client.get_job_status(job_id)
    while not status.is_terminal():
        time.sleep(0.5)
        status = client.get_job_status(job_id)
    if status == JobStatus.SUCCEEDED:
        return 0
    message = client.get_job_info(job_id).message or ""
    code = re.search(r"exit code (\d+)", message)
    return int(code.group(1)) if code else EXIT_PROCESSING
