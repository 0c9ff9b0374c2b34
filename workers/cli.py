"""What ``vidsr run --ray`` and ``vidsr submit`` do; ``vidsr/cli.py`` only declares the options and calls here.

Imports of Ray and of the pipeline (torch) stay inside the functions, so ``vidsr --help`` and ``probe`` do not
pay for them.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

from vidsr.errors import UsageError
from vidsr.progress import ProgressOptions

__all__ = ["add_ray_option", "ray_compat_argv", "add_submit_parser", "run_command", "submit_command"]

_IN_RAY_JOB = "RAY_JOB_CONFIG_JSON_ENV_VAR"  # set by Ray's job supervisor for the entrypoint


def add_ray_option(run: argparse.ArgumentParser) -> None:
    """``--ray`` is a plain flag (``vidsr run --ray in.mp4 out.mp4`` works), the cluster a separate option."""
    run.add_argument(
        "--ray", action="store_true",
        help="run on Ray: cut the video into segments and enhance them on actors, one per GPU (or per CPU); "
        "starts Ray on this machine unless --ray-address says which cluster. A backlog (several files or a "
        "folder) fills every actor at once.",
    )
    run.add_argument(
        "--ray-address", default=None, metavar="ADDR",
        help="the Ray cluster to join (implies --ray): 'auto' for the one this machine belongs to, or "
        "ray://HEAD:10001",
    )


def ray_compat_argv(argv: list[str]) -> list[str]:
    """Older command lines (``--ray auto``, ``--ray=ADDR``; what ``ray job submit -- vidsr run ...`` scripts
    hold) read as ``--ray-address ADDR``; a ``--ray`` before a file name stays a flag."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--ray="):
            out += ["--ray-address", arg.split("=", 1)[1]]
        elif arg == "--ray" and i + 1 < len(argv) and _is_address(argv[i + 1]):
            out += ["--ray-address", argv[i + 1]]
            i += 1
        else:
            out.append(arg)
        i += 1
    return out


def _is_address(token: str) -> bool:
    if Path(token).exists():
        return False
    return token in ("auto", "local") or "://" in token or bool(re.fullmatch(r"[\w.-]+:\d+", token))


def add_submit_parser(sub: argparse._SubParsersAction, run: argparse.ArgumentParser, epilog: str) -> None:
    """``vidsr submit``: the run options are shared with ``run``, then passed on to the job's ``vidsr run``."""
    submit = sub.add_parser(
        "submit",
        help="run `vidsr run ... --ray-address auto` as a job on a Ray cluster",
        description="Submit a Ray job (Job Submission API) that runs `vidsr run INPUT... OUTPUT --ray-address auto` on "
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
    shared = [a for a in run._actions if a.option_strings and a.dest not in ("help", "ray", "ray_address")]
    for action in shared:
        submit._add_action(action)
    submit.set_defaults(run_options=shared)


def run_command(args: argparse.Namespace, warn: Callable[[str], None]) -> int:
    _need_ray("--ray")
    from vidsr.backlog import expand_jobs
    from vidsr.pipeline import configure, for_output
    from workers.config import RayConfig
    from workers.executor import run_on_ray

    address = None if args.ray_address in (None, "local") else args.ray_address
    jobs = expand_jobs(args.input, args.output, args.format)
    config = configure(args.pipeline, scale=args.scale, model=args.model, device=args.device, codec=args.codec,
                       crf=args.crf, preset=args.preset, pix_fmt=args.pix_fmt)
    # one encoder for the whole job (its actors share one config): the one every output's container takes
    encoders = {dst.suffix.lower(): for_output(config, dst, codec_chosen=args.codec is not None) for _, dst in jobs}
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
