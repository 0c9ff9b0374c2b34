"""The `vidsr` command: a thin layer over the API that turns typed errors into one line and an exit code.

Exit codes: 0 done, 1 processing error (bad media, write failure, lost frames), 2 usage error
(options, paths (a missing input too), config), 130 interrupted (Ctrl-C or SIGTERM; no output left behind).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from vidsr import __version__
from vidsr.cli_ray import add_ray_option, add_submit_parser, ray_compat_argv
from vidsr.device import DEVICE_CHOICES
from vidsr.errors import EXIT_INTERRUPTED, EXIT_PROCESSING, EXIT_USAGE, Interrupted, VidsrError
from vidsr.options import RunOptions
from vidsr.progress import PROGRESS_MODES, ProgressOptions

__all__ = ["main", "build_parser"]

EPILOG = """exit codes: 0 done, 1 processing error (input not usable video, damaged input, write failure),
2 usage error (options, pipeline, paths: a missing input too), 130 interrupted (no partial output is left)"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line instead of the usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vidsr",
        description="Enhance video: super-resolve and clean it while keeping audio, timestamps, "
        "bit depth, colour and rotation intact.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vidsr {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser(
        "run",
        help="enhance a video file into a new file",
        description="Enhance INPUT into OUTPUT. Audio, subtitles and data streams are copied untouched; "
        "frame timestamps (variable frame rate included), bit depth, colour tags, rotation and "
        "container metadata are kept. OUTPUT appears only when complete.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("input", metavar="INPUT", nargs="+",
                     help="video file to enhance (never modified); or several files or a folder (a backlog)")
    run.add_argument("output", metavar="OUTPUT",
                     help="file to write; its extension picks the container (.mp4, .mkv, .mov); for a backlog an "
                     "existing folder, each output named as its input")
    run.add_argument("--scale", type=int, default=None, metavar="{2,3,4}",
                     help="upscaling factor (default: the pipeline's, 2); 3 is the model's x4 resized to 3x")
    run.add_argument("--height", type=int, default=None, metavar="H",
                     help="output height in pixels, width in proportion (even): the model's smallest scale that "
                     "reaches it (or --scale's), then an exact antialiased bicubic resize")
    run.add_argument("--size", default=None, metavar="WxH",
                     help="exact output size, e.g. 1920x1080 (stretches if its aspect differs from the source's)")
    run.add_argument("--start", default=None, metavar="TIME",
                     help="start this far into the input (seconds or [HH:]MM:SS[.ms]), as ffmpeg's -ss: the output "
                     "starts at 0, audio and subtitles cut to the same span")
    run.add_argument("--duration", default=None, metavar="TIME",
                     help="enhance only this long (as ffmpeg's -t): with --start, a preview of a few seconds")
    run.add_argument("--deinterlace", choices=("auto", "on", "off", "tff", "bff"), default=None,
                     help="interlaced sources: auto deinterlaces (FFmpeg's bwdif, one frame per frame) when the "
                     "stream or its frames say interlaced, or idet finds combing in frames flagged progressive; "
                     "on: every frame; tff/bff: every frame, that field first; off: never (default: auto)")
    run.add_argument("--detail", type=float, default=None, metavar="D",
                     help="var/var-teacher only: how much of the VAR detail stage's change to the CNN's output "
                     "is kept, 0-1 (0: the CNN's output exactly; default: the model's, 0.5)")
    run.add_argument("--pipeline", default="default", metavar="NAME",
                     help="pipeline graph: a name under pipelines/ (default, fast) or a YAML path (default: default)")
    run.add_argument("--model", default=None, metavar="NAME",
                     help="SR model for the sr stage: var, var-teacher, cnn, vq-lq, lanczos, bicubic, or auto "
                     "(var on a GPU, cnn on CPU; default: the pipeline's)")
    run.add_argument("--device", choices=DEVICE_CHOICES, default=None,
                     help="where the model runs: auto picks CUDA when present (default: the pipeline's, auto)")
    run.add_argument("--codec", default=None, metavar="ENCODER",
                     help="video encoder: libx264, libx265, libsvtav1, libvpx-vp9, ... (default: the container's, "
                     "as ffmpeg picks it: libx264 for .mp4/.mkv/.mov, libvpx-vp9 for .webm)")
    run.add_argument("--crf", type=int, default=None, help="encoder constant rate factor, lower is better (default 18)")
    run.add_argument("--preset", default=None,
                     help="encoder speed preset, e.g. veryfast, medium, slow (default: the pipeline's, medium)")
    run.add_argument("--format", default=None, metavar="EXT",
                     help="container of a backlog's outputs, e.g. mkv, mp4, webm (default: the input's own where "
                     "vidsr writes it well, else mkv); a single OUTPUT's extension picks its container")
    run.add_argument("--pix-fmt", default=None, metavar="FMT",
                     help="output pixel format (default: the source's, so 10-bit stays 10-bit)")
    run.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    run.add_argument("--quiet", action="store_true", help="no progress and no summary line (warnings still print)")
    run.add_argument("--progress", choices=PROGRESS_MODES, default="auto",
                     help="auto: a bar on a terminal, else a plain line on stderr every --stats-period seconds "
                     "(frames, fps, ETA); json: JSON lines on stdout for programs; none: nothing (default auto)")
    run.add_argument("--stats-period", type=float, default=None, metavar="S",
                     help="seconds between progress lines or JSON records (default 10 for lines, 1 for json)")
    run.add_argument("--report", metavar="PATH", default=None,
                     help="write a JSON report: frames, per-stage time and fps, scenes, cache hits, versions")
    run.add_argument("--ignore-errors", action="store_true",
                     help="exit 0 even if damaged input data cost some frames (they are reported either way)")
    add_ray_option(run)

    probe = sub.add_parser(
        "probe",
        help="show a file's streams and what vidsr will keep",
        description="Print the streams of INPUT and what `vidsr run` keeps of each: codec, size, pixel "
        "format, colour range/space/primaries/transfer, rotation, frame rate (constant or variable), "
        "audio/subtitle/data streams.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe.add_argument("input", metavar="INPUT")
    probe.add_argument("--json", action="store_true", help="print JSON for machines")
    probe.add_argument("--output-name", default="out.mp4", metavar="NAME",
                       help="the output name whose container decides what can be stream-copied (default out.mp4)")
    probe.add_argument("--analyze", action="store_true",
                       help="also run degrade-analysis and print the per-scene summary")
    add_submit_parser(sub, run, EPILOG)
    return parser


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM take one path, so partial output is removed either way: a running graph is asked
    to stop (``vidsr.graph.request_interrupt``); anywhere else KeyboardInterrupt is raised as usual."""

    def graph() -> Any:  # vidsr.graph only once a run has loaded it: probe and --help never import torch
        return sys.modules.get("vidsr.graph")

    def handler(signum: int, frame: Any) -> None:
        if graph() is None or not graph().request_interrupt():
            raise KeyboardInterrupt

    if graph() is not None:
        graph().clear_interrupt()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _workers_cli() -> ModuleType:
    """The one door from the library to the top-level ``workers`` package (Ray), opened only by ``--ray`` and
    ``submit``: ``workers`` imports ``vidsr``, so importing it here at the top would make the two a cycle."""
    import workers.cli

    return workers.cli


def _warn(message: str) -> None:
    from vidsr.progress import write  # above a live progress bar, not torn into it

    write(f"vidsr: warning: {message}")


def _cmd_run(args: argparse.Namespace) -> int:
    from vidsr.backlog import expand_jobs
    from vidsr.errors import UsageError
    from vidsr.pipeline import enhance

    if args.format is not None:
        _check_format(args)
    preview = args.start is not None or args.duration is not None
    if preview and (args.ray or args.ray_address is not None):
        raise UsageError("--start/--duration make a preview of one video on this machine: leave out --ray")
    if args.ray or args.ray_address is not None:
        return _workers_cli().run_command(args, _warn)
    jobs = expand_jobs(args.input, args.output, args.format)
    if len(jobs) > 1 or Path(args.input[0]).is_dir():
        if preview:
            raise UsageError("--start/--duration make a preview of one video: give one INPUT and one OUTPUT")
        return _run_backlog(args, jobs)

    report = enhance(
        args.input[0],
        args.output,
        pipeline=args.pipeline,
        options=RunOptions.from_args(args),
        overwrite=args.overwrite,
        ignore_errors=args.ignore_errors,
        progress=_progress(args),
        report_path=args.report,
        warn=_warn,
        start=args.start,
        duration=args.duration,
    )
    if not args.quiet:
        _summary(report)
    return 0


def _progress(args: argparse.Namespace) -> ProgressOptions | bool:
    """--quiet silences the automatic forms; a --progress the user named is kept."""
    if args.quiet and args.progress == "auto":
        return False
    return ProgressOptions(args.progress, args.stats_period)


def _check_format(args: argparse.Namespace) -> None:
    """``--format`` names a container vidsr can write, and agrees with a single OUTPUT's own extension."""
    from vidsr.errors import UsageError
    from vidsr.media.containers import muxer_name

    fmt = args.format.lower().lstrip(".")
    try:
        muxer_name(f"x.{fmt}")
    except UsageError:
        raise UsageError(f"--format {args.format}: no container FFmpeg writes has that extension (try mkv, mp4, "
                         "mov, webm)") from None
    args.format = fmt
    out = Path(args.output)
    if len(args.input) == 1 and not Path(args.input[0]).is_dir() and out.suffix.lower() != f".{fmt}":
        raise UsageError(f"--format {fmt} is for a backlog's outputs; a single output's extension picks its "
                         f"container (name it {out.stem}.{fmt})")


def _summary(report: dict[str, Any]) -> None:
    w, h = report["output_video"]["size"]
    print(f"vidsr: wrote {report['output']}: {report['frames']} frames at {w}x{h} in {report['wall_s']:.1f} s "
          f"({report['fps']:.2f} fps)", file=sys.stderr)


def _run_backlog(args: argparse.Namespace, jobs: list[tuple[Path, Path]]) -> int:
    """Several inputs or a folder without --ray: one after another on this machine, the model loaded once."""
    from vidsr.backlog import enhance_backlog

    enhance_backlog(
        jobs, pipeline=args.pipeline, options=RunOptions.from_args(args), overwrite=args.overwrite,
        ignore_errors=args.ignore_errors, progress=_progress(args), report_path=args.report,
        warn=_warn, done=None if args.quiet else _summary,
    )
    return 0


def _cmd_probe(args: argparse.Namespace) -> int:
    from vidsr.media.probe import probe
    from vidsr.media.streams import plan_side_streams

    info = probe(args.input)
    plans = plan_side_streams(args.input, info.video.index, args.output_name, "aac")
    data = info.as_dict()
    data["kept"] = [p.describe() for p in plans]
    if args.analyze:
        from vidsr.analysis import analyze_file

        data["scenes"] = analyze_file(args.input)
        data["scene_units"] = ANALYSIS_UNITS
    if args.json:
        print(json.dumps(data, indent=2, default=str))
        return 0
    v = info.video
    rate = f"{float(v.average_rate):.3f} fps" if v.average_rate else "unknown rate"
    print(f"{info.path}: {info.format}, {info.duration_s or 0:.2f} s")
    for key, value in info.metadata.items():
        print(f"  {key}: {value}")
    colour = ", ".join(f"{k} {val}" for k, val in v.colour_tags().items())
    print(f"  video #{v.index}: {v.codec} {v.width}x{v.height} {v.pix_fmt} ({v.bit_depth}-bit), {colour}")
    print(f"    {v.frames} frames, {rate}, {'VARIABLE' if v.variable_frame_rate else 'constant'} frame rate, "
          f"time base {v.time_base}, rotation {v.rotation}, {v.hdr or 'SDR'}")
    hdr = v.hdr_metadata
    if hdr.master_display or hdr.max_cll:
        print(f"    HDR10 metadata: master-display {hdr.master_display}, max-cll {hdr.max_cll}")
    print("    kept: enhanced and re-encoded with its timestamps, depth, colour tags and rotation")
    for s, plan in zip(info.streams, plans):
        lang = f" [{s.language}]" if s.language else ""
        print(f"  {s.type} #{s.index}: {s.codec}{lang} {s.details}".rstrip())
        print(f"    kept: {plan.describe().split(': ', 1)[1]}")
    if data.get("scenes"):
        print("  scenes (degrade-analysis, per-scene means):")
        for key, meaning in ANALYSIS_UNITS.items():
            print(f"    {key}: {meaning}")
    for scene in data.get("scenes") or []:
        vec = ", ".join(f"{k} {v:.2f}{_UNIT_SUFFIX.get(k, '')}" for k, v in scene.get("degradation", {}).items())
        print(f"  scene {scene['scene_id']}: {scene['start_time']:.2f}-{scene['end_time']:.2f} s, "
              f"{scene['frames']} frames, cut score {scene['cut_score']:.2f}; {vec}")
    return 0


# what each number of `probe --analyze` measures, and on what scale (vidsr.analysis.estimators, .scenecut)
ANALYSIS_UNITS = {
    "cut score": "how different the scene's first frame is from the one before, 0 (same) to ~1; a cut from 0.2",
    "noise": "noise standard deviation in 8-bit levels (of 0-255), read on the flattest areas",
    "blur": "width of the typical edge as a Gaussian sigma in pixels (larger is softer)",
    "blockiness": "gradient across the 8x8 block grid over that inside the blocks, minus 1 (0: no grid; "
                  "0.3: steps on the grid 30% stronger)",
    "ringing": "overshoot and ripple beside the typical edge as a fraction of its step (0: a clean step)",
    "detail_loss": "share of textured pixels with no finest-scale detail left, over the same share one scale "
                   "coarser (~0.3 clean; rises with compression and blur)",
}
_UNIT_SUFFIX = {"noise": " levels", "blur": " px"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(ray_compat_argv(list(sys.argv[1:] if argv is None else argv)))
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        with _sigterm_as_interrupt():
            if args.command == "submit":
                return _workers_cli().submit_command(args)
            return _cmd_run(args) if args.command == "run" else _cmd_probe(args)
    except VidsrError as err:
        print(f"vidsr: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"vidsr: {Interrupted()}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - a user sees one line; VIDSR_DEBUG=1 shows the traceback
        if os.environ.get("VIDSR_DEBUG"):
            raise
        print(f"vidsr: internal error: {type(err).__name__}: {' '.join(str(err).split())} "
              "(set VIDSR_DEBUG=1 for a traceback, and please report it)", file=sys.stderr)
        return EXIT_PROCESSING


if __name__ == "__main__":
    sys.exit(main())
