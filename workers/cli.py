"""What ``vidsr run --ray`` and ``vidsr submit`` do; ``vidsr/cli.py`` only declares the options and calls here.

Imports of Ray stay inside the functions, so ``vidsr --help`` and local runs do not pay for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from vidsr.backlog import expand_jobs

__all__ = ["add_ray_option", "add_submit_parser", "run_command", "submit_command", "expand_jobs"]

LOCAL = "local"  # what a bare --ray means: start a Ray instance on this machine
_IN_RAY_JOB = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray's job supervisor for the entrypoint


def add_ray_option(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--ray", nargs="?", const=LOCAL, default=None, metavar="ADDRESS",
        help="run on Ray: cut the video into segments and enhance them on actors, one per GPU (or per CPU). "
        "No ADDRESS starts Ray on this machine, 'auto' joins the running cluster. A backlog (several files or "
        "a folder) fills every actor at once. Put --ray after the file names.",
    )


def add_submit_parser(sub: argparse._SubParsersAction, run: argparse.ArgumentParser, epilog: str) -> None:
    """``vidsr submit``: the run options are shared with ``run``, then passed on to the job's ``vidsr run``."""
    submit = sub.add_parser(
        "submit",
        help="run `vidsr run ... --ray auto` as a job on a Ray cluster",
        description="Submit a Ray job (Job Submission API) that runs `vidsr run INPUT... OUTPUT --ray auto` on "
        "the cluster; paths are the cluster's. Prints the job id; --follow streams its logs and exits with the "
        "job's exit code. VIDSR_RAY_* variables set here are passed to the job.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    submit.add_argument("input", metavar="INPUT", nargs="+", help="video file(s) or a folder, as seen by the cluster")
    submit.add_argument("output", metavar="OUTPUT", help="output file (or folder for several inputs), on the cluster")
    submit.add_argument("--address", required=True, metavar="URL",
                        help="the cluster's dashboard, e.g. http://HEAD:8265 (what `ray job submit` takes)")
    submit.add_argument("--follow", action="store_true", help="stream the job's logs until it ends")
    shared = [a for a in run._actions if a.option_strings and a.dest not in ("help", "ray")]
    for action in shared:
        submit._add_action(action)
    submit.set_defaults(run_options=shared)


def run_command(args: argparse.Namespace, warn: Callable[[str], None]) -> int:
    from workers.config import RayConfig
    from workers.executor import run_on_ray

    inputs, address = list(args.input), (None if args.ray == LOCAL else args.ray)
    if address and address != "auto" and Path(address).exists():
        inputs.insert(0, address)  # `run --ray a.mp4 out.mp4`: argparse took the input for the address
        address = None
    quiet_bar = False if args.quiet else None
    reports = run_on_ray(
        expand_jobs(inputs, args.output),
        ray_config=RayConfig.from_env(address),
        pipeline=args.pipeline, scale=args.scale, model=args.model, device=args.device, codec=args.codec,
        crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt, overwrite=args.overwrite,
        ignore_errors=args.ignore_errors, report_path=args.report, warn=warn,
        progress=True if (_IN_RAY_JOB in os.environ and not args.quiet) else quiet_bar,
    )
    if not args.quiet:
        for r in reports:
            w, h = r["output_video"]["size"]
            ray_ = r["ray"]
            print(f"vidsr: wrote {r['output']}: {r['frames']} frames at {w}x{h} in {r['wall_s']:.1f} s "
                  f"({r['fps']:.2f} fps; {ray_['segments_total']} segments on {ray_['pool_size']} Ray actors, "
                  f"{ray_['segments_resumed']} resumed, {ray_['retries']} retried)", file=sys.stderr)
    return 0


def submit_command(args: argparse.Namespace) -> int:
    from workers.submit import run_argv, submit_job

    argv = ["vidsr", "run", *args.input, args.output, *run_argv(args, args.run_options), "--ray", "auto"]
    return submit_job(args.address, argv, follow=args.follow)
