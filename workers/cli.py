"""What ``vidsr run --ray`` and ``vidsr submit`` do; the options are declared in ``vidsr/cli_ray.py``, and
``vidsr/cli.py`` imports this module only when one of them is used.

Imports of Ray and of the pipeline (torch) stay inside the functions, so ``vidsr --help`` and ``probe`` do not
pay for them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from vidsr.errors import UsageError
from vidsr.options import RunOptions
from vidsr.progress import ProgressOptions

__all__ = ["run_command", "submit_command"]

_IN_RAY_JOB = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray's job supervisor for the entrypoint


def run_command(args: argparse.Namespace, warn: Callable[[str], None]) -> int:
    _need_ray("--ray")
    from vidsr.backlog import expand_jobs
    from vidsr.pipeline import configure, for_output
    from workers.config import RayConfig
    from workers.executor import run_on_ray

    address = None if args.ray_address in (None, "local") else args.ray_address
    jobs = expand_jobs(args.input, args.output, args.format)
    options = RunOptions.from_args(args)
    config = configure(args.pipeline, options)
    # one encoder for the whole job (its actors share one config): the one every output's container takes
    encoders = {dst.suffix.lower(): for_output(config, dst, codec_chosen=options.chosen("codec")) for _, dst in jobs}
    if len({c.encode.codec for c in encoders.values()}) > 1:
        raise UsageError(f"a --ray backlog encodes with one encoder, and {', '.join(sorted(encoders))} outputs take "
                         "different ones: pass --codec, or --format to write them all in one container")
    reports = run_on_ray(
        jobs,
        ray_config=RayConfig.from_env(address),
        pipeline=next(iter(encoders.values())), overwrite=args.overwrite,
        ignore_errors=args.ignore_errors, report_path=args.report, warn=warn,
        progress=_progress(args),
    )
    if not args.quiet:
        for r in reports:
            w, h = r["output_video"]["size"]
            ray_ = r["ray"]
            print(f"vidsr: wrote {r['output']}: {r['frames']} frames at {w}x{h} in {r['wall_s']:.1f} s "
                  f"({r['fps']:.2f} fps; {ray_['segments_total']} segments on {ray_['pool_size']} Ray actors, "
                  f"{ray_['segments_resumed']} resumed, {ray_['retries']} retried)", file=sys.stderr)
    return 0


def _need_ray(what: str) -> None:
    """Ray is an extra (`vidsr[ray]`): without it, one line saying how to get it, not an ImportError."""
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"{what} needs Ray, which is not installed: pip install 'vidsr[ray]'")


def _progress(args: argparse.Namespace) -> ProgressOptions | bool:
    """As a local run's; inside a Ray job the automatic form is the bar, which `submit --follow` shows live."""
    if args.quiet and args.progress == "auto":
        return False
    if args.progress == "auto" and _IN_RAY_JOB in os.environ:
        return True
    return ProgressOptions(args.progress, args.stats_period)


def submit_command(args: argparse.Namespace) -> int:
    _need_ray("vidsr submit")
    from workers.submit import run_argv, submit_job

    argv = ["vidsr", "run", *args.input, args.output, *run_argv(args, args.run_options), "--ray-address", "auto"]
    return submit_job(args.address, argv, follow=args.follow)
