"""The ``--ray`` and ``submit`` options of the ``vidsr`` command, declared here so that building the parser
(``vidsr --help``, ``probe``, a local ``run``) never imports the top-level ``workers`` package. What the options
do lives in ``workers.cli``, which ``vidsr/cli.py`` imports only when ``--ray`` or ``submit`` is used.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

__all__ = ["add_ray_option", "ray_compat_argv", "add_submit_parser"]


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
