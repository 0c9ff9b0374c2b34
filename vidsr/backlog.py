"""A backlog on one machine: several inputs (or a folder) into an output folder, the model loaded once.

Every input is checked (paths, output clashes, probe) before the first frame is enhanced, so a bad tenth file
fails in a second instead of after nine videos' hours. Each output appears, atomically, as soon as its own
video is done; each long one is resumable on its own (:mod:`vidsr.media.chunks`). ``--ray`` runs the same
backlog on a Ray cluster (``workers/executor.py``), filling every actor at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from vidsr.config import PipelineConfig
from vidsr.errors import InputPathError, UsageError
from vidsr.media.containers import SCAN_SUFFIXES, backlog_name
from vidsr.media.output import check_paths
from vidsr.media.probe import MediaInfo, check_local_input, probe
from vidsr.media.remux import check_codec
from vidsr.options import RunOptions
from vidsr.pipeline import Enhancer, configure, enhance, for_output
from vidsr.progress import ProgressSpec
from vidsr.report import check_damage, write_report
from vidsr.stages.resize import fit_to_source

__all__ = ["VIDEO_SUFFIXES", "expand_jobs", "check_jobs", "enhance_backlog"]

VIDEO_SUFFIXES = SCAN_SUFFIXES  # what a folder scan picks up: every container a single run reads


def expand_jobs(inputs: list[str], output: str, fmt: str | None = None) -> list[tuple[Path, Path]]:
    """One file and one output name: one job. Several files or a folder: OUTPUT is a folder and each
    output is named as its input, in a container vidsr writes well (``fmt``, e.g. ``mkv``, chooses it)."""
    for p in inputs:
        check_local_input(p)  # before Path() folds a URL's // into /
    paths = [Path(p) for p in inputs]
    out = Path(output)
    if len(paths) == 1 and not paths[0].is_dir():
        return [(paths[0], out)]
    if len(paths) == 1 and not out.is_dir():
        raise InputPathError(f"input is a directory, not a video file: {paths[0]} (to enhance every video in it, "
                         "OUTPUT must be an existing folder)")
    if not out.is_dir():
        raise UsageError(f"several inputs or a folder need an existing output folder, and {out} is not one")
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise UsageError(f"no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) in folder {p}")
            files += found
        else:
            files.append(p)
    return [(f, backlog_name(f, out, fmt)) for f in files]


def check_jobs(jobs: list[tuple[Path, Path]], overwrite: bool) -> list[MediaInfo]:
    """Every path checked and every input probed before any work (the probes are returned, in order); two
    inputs may not share an output."""
    seen: set[Path] = set()
    infos = []
    for src, dst in jobs:
        check_paths(src, dst, overwrite)
        if dst.resolve() in seen:
            raise UsageError(f"two inputs would write the same output: {dst}")
        seen.add(dst.resolve())
        infos.append(probe(src))
    return infos


def _fitted(config: PipelineConfig, src: Path, scale_chosen: bool) -> PipelineConfig:
    """The backlog's config for one source: an asked output size (``--height``/``--size``) is fitted to this
    source's shape and rotation, as a single run does; without one the config is shared as it is."""
    if not any(s.type == "resize" for s in config.stages):
        return config
    v = probe(src).video
    return fit_to_source(config, v.width, v.height, v.rotation, scale_chosen=scale_chosen)


def enhance_backlog(
    jobs: list[tuple[Path, Path]],
    *,
    pipeline: str | PipelineConfig = "default",
    options: RunOptions | None = None,
    overwrite: bool = False,
    ignore_errors: bool = False,
    progress: ProgressSpec = False,
    report_path: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
    done: Callable[[dict[str, Any]], None] | None = None,
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Enhance every ``(src, dst)`` in turn with one Enhancer; ``done`` gets each report as its output appears.

    Damaged input is reported like a single run's, but only once every video is done (its output holds the
    frames that decoded), so one damaged file does not hold up the rest of the backlog.
    """
    opts = RunOptions.of(options, **overrides)
    config = configure(pipeline, opts)
    check_codec(config.encode.codec)
    for _, dst in jobs:  # every output's container takes its encoder, or the backlog stops before any work
        for_output(config, dst, codec_chosen=opts.chosen("codec"))
    check_jobs(jobs, overwrite)
    held: dict[str, Enhancer] = {}  # one per distinct graph: an output size fits each source (its shape, rotation)
    reports = []
    for src, dst in jobs:
        job_config = _fitted(config, src, scale_chosen=opts.chosen("scale"))
        key = repr([(s.type, s.params) for s in job_config.stages])  # typed params: a stable repr
        if key not in held:
            held[key] = Enhancer(job_config)
        report = enhance(src, dst, enhancer=held[key], codec=opts.codec, overwrite=overwrite, ignore_errors=True,
                         progress=progress, warn=warn)
        reports.append(report)
        if done is not None:
            done(report)
    if report_path:
        write_report({"jobs": reports}, report_path)
    for report in reports:
        check_damage(report, ignore_errors)  # the first damaged input's, once every output is written
    return reports
