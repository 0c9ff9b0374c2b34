"""The Python API: file to file (:func:`enhance`) and frames in, frames out (:class:`Enhancer`).

The CLI is a thin layer over these two; both raise the typed errors of :mod:`vidsr.errors`.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from vidsr.config import PipelineConfig, check_config
from vidsr.errors import FrameError, OutputError, ProcessingError, UsageError
from vidsr.frame import Frame
from vidsr.graph import Graph
from vidsr.media.chunks import ChunkWriter, resume_point
from vidsr.media.containers import encoder_for, speed_options
from vidsr.media.deinterlace import DEINTERLACE_MODES, detect_interlacing, field_order_name
from vidsr.media.demux import Demuxer
from vidsr.media.limits import check_crf, check_preset, check_sizes
from vidsr.media.output import atomic_output, check_paths, check_report_path, output_lock
from vidsr.media.probe import MediaInfo, check_local_input, probe
from vidsr.media.remux import Remuxer, check_codec, encoder_preset
from vidsr.media.segments import join_segments, segment_file_suffix
from vidsr.media.streams import SidePlan, plan_side_streams
from vidsr.media.window import Window, plan_window
from vidsr.media.workdir import WorkDir, fingerprint
from vidsr.options import RunOptions
from vidsr.pipeline_files import load_pipeline
from vidsr.progress import Progress, ProgressSpec
from vidsr.report import build_report, check_damage, deinterlace_report, write_report
from vidsr.stages import Stage, build_stage, stage_params, typed_stages
from vidsr.stages.resize import add_resize, fit_to_source, model_scale_for, model_scales, output_size_options
from vidsr.stages.sr import SRStage

__all__ = ["configure", "for_output", "Enhancer", "enhance"]

log = logging.getLogger("vidsr")


def configure(pipeline: str | PipelineConfig = "default", options: RunOptions | None = None,
              **overrides: Any) -> PipelineConfig:
    """Load a pipeline and apply a run's options (:class:`~vidsr.options.RunOptions`, or its fields as keywords)
    to a copy of it.

    ``size`` (``"1920x1080"`` or ``(1920, 1080)``) or ``height`` (width kept in proportion, even) adds a last
    ``resize`` stage to that exact size; a ``scale`` between the model's (3) is its next larger (x4) then resized;
    ``deinterlace`` is auto, on, tff, bff or off (``DecodeConfig.deinterlace``)."""
    if not isinstance(pipeline, (str, os.PathLike, PipelineConfig)):
        raise UsageError(f"pipeline must be a name, a YAML path or a PipelineConfig, got {_shown(pipeline)}")
    o = RunOptions.of(options, **overrides)
    scale, model, device, detail = o.scale, o.model, o.device, o.detail
    for name, value, tp in (("scale", scale, int), ("model", model, str), ("device", device, str),
                            ("codec", o.codec, str), ("crf", o.crf, int), ("preset", o.preset, str),
                            ("pix_fmt", o.pix_fmt, str)):
        if value is not None and (not isinstance(value, tp) or isinstance(value, bool)):
            raise UsageError(f"{name} must be {'an int' if tp is int else 'a str'}, got {_shown(value)}")
    if isinstance(pipeline, PipelineConfig):  # an API caller's: its stage params may still be plain mappings
        config = typed_stages(copy.deepcopy(pipeline), where=pipeline.name)
    else:
        config = load_pipeline(pipeline)
    sr = config.stage("sr")
    factor = None
    if scale is not None and sr is not None:  # x3: the model's x4, then resized by 0.75 (vidsr.stages.resize)
        scale, factor = model_scale_for(scale, model_scales(model or sr.params.model))
    if detail is not None and (not isinstance(detail, (int, float)) or isinstance(detail, bool)):
        raise UsageError(f"detail must be a number from 0 to 1, got {_shown(detail)}")
    sr_overrides = {k: v for k, v in (("scale", scale), ("model", model), ("device", device), ("detail", detail))
                    if v is not None}
    if sr_overrides:
        if sr is None:
            raise UsageError(f"pipeline '{config.name}' has no sr stage to apply {', '.join(sr_overrides)} to")
        sr.params = stage_params(dataclasses.replace(sr, params=dataclasses.replace(sr.params, **sr_overrides)),
                                 where=sr.name)  # an override meets the ranges the YAML does
    if sr is not None and sr.params.model == "auto":
        _check_auto_scale(sr.params.scale)
    add_resize(config, *output_size_options(o.size, o.height), factor=factor)
    if o.deinterlace is not None:
        config.decode.deinterlace = o.deinterlace
    if config.decode.deinterlace not in DEINTERLACE_MODES:
        raise UsageError(f"deinterlace '{config.decode.deinterlace}' is not one of {', '.join(DEINTERLACE_MODES)}")
    for key in ("codec", "crf", "preset", "pix_fmt"):
        if o.chosen(key):
            setattr(config.encode, key, getattr(o, key))
    if isinstance(config.encode.crf, int) and not 0 <= config.encode.crf <= 63:  # a wrong type: check_config
        raise UsageError(f"--crf {config.encode.crf} is out of range (0-51 for x264/x265, 0-63 for AV1/VP9)")
    check_config(config, config.name)  # the typed config's ranges hold for overrides and API configs too
    encoder_preset(config.encode.codec, config.encode.preset)  # a name the encoder cannot take: fail now
    check_preset(config.encode.codec, config.encode.preset)
    return config


def _shown(value: Any) -> str:
    """A wrong argument as an error names it: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _check_auto_scale(scale: int) -> None:
    """A scale no model has, with the model left to ``auto``, is the scale's fault: say so, not that a model the
    user never chose (auto's last resort, bicubic) lacks it."""
    from vidsr.sr.registry import available_models

    scales = sorted({s for model_scales in available_models().values() for s in model_scales})
    if scale not in scales:
        raise UsageError(f"--scale {scale} is not offered: the models upscale {' or '.join(f'x{s}' for s in scales)}")


def for_output(config: PipelineConfig, dst: str | Path, codec_chosen: bool) -> PipelineConfig:
    """``config`` with the encoder ``dst``'s container takes: the pipeline's where it fits (libx264 into MP4,
    MKV, MOV), the container's default where not (VP9 into WebM), as ffmpeg does without ``-c:v``; a ``--codec``
    the container cannot hold (``codec_chosen``) is a UsageError before any work."""
    codec = encoder_for(dst, config.encode.codec, chosen=codec_chosen)
    check_crf(codec, config.encode.crf)  # each encoder's own scale, now that the container has picked it
    check_preset(codec, config.encode.preset)
    speed = speed_options(codec, config.encode.preset)  # libvpx's default speed takes minutes
    if codec == config.encode.codec and speed.items() <= config.encode.options.items():
        return config
    encode = dataclasses.replace(config.encode, codec=codec, options={**speed, **config.encode.options})
    encoder_preset(codec, encode.preset)
    return dataclasses.replace(config, encode=encode)


# --- frames in, frames out -------------------------------------------------------------------------


def _to_frame(item: Any, index: int, time_base: Fraction) -> tuple[Frame, Callable[[Frame], Any]]:
    """Accept a Frame, or ``(image, pts)`` with a numpy HxWx3 uint8/uint16 or torch image; return the
    Frame and a function that gives the enhanced result back in the caller's own form."""
    if isinstance(item, Frame):
        return item, lambda f: f
    if not (isinstance(item, tuple) and len(item) == 2):
        raise FrameError("frames must be vidsr.Frame objects or (image, pts) pairs")
    image, pts = item
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.dtype.is_floating_point:  # 3 x H x W in [0, 1]
            if t.ndim != 3 or t.shape[0] != 3:
                raise FrameError(f"a float tensor frame must be 3 x H x W, got {tuple(t.shape)}")
            _check_unit_range(t.float(), index)
            arr = (t.float() * 65535).round().permute(1, 2, 0).numpy().astype(np.uint16)

            def back(f: Frame, like: torch.Tensor = image) -> Any:
                out = torch.from_numpy(f.image.astype(np.float32) / 65535).permute(2, 0, 1)
                return out.to(device=like.device, dtype=like.dtype), f.pts
        else:
            arr = t.numpy()

            def back(f: Frame, like: torch.Tensor = image) -> Any:
                return torch.from_numpy(f.image).to(like.device), f.pts
    elif isinstance(image, np.ndarray):
        arr = image

        def back(f: Frame) -> Any:
            return f.image, f.pts
    else:
        raise FrameError(f"a frame image must be a numpy array or a torch tensor, got {type(image).__name__}")
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype not in (np.uint8, np.uint16):
        raise FrameError(f"a frame image must be H x W x 3 uint8 or uint16, got {arr.shape} {arr.dtype}")
    return Frame(image=np.ascontiguousarray(arr), pts=pts, time_base=time_base, index=index), back


def _check_unit_range(t: torch.Tensor, index: int) -> None:
    """Float frames hold 0-1: a value outside (an image left in 0-255, HDR gain, a NaN from a failed step) is the
    caller's bug, which clamping would hide as a white or black picture."""
    if not bool(torch.isfinite(t).all()):
        raise FrameError(f"frame {index}: a float tensor frame holds NaN or infinite values")
    low, high = float(t.min()), float(t.max())
    if low < 0.0 or high > 1.0:
        raise FrameError(f"frame {index}: a float tensor frame must hold values in [0, 1], this one spans "
                         f"{low:.4g} to {high:.4g} (divide 8-bit values by 255)")


class Enhancer:
    """Built once from a config, holds its model across calls; ``enhance_frames`` streams frames through.

    >>> enhancer = Enhancer("default", scale=2, device="cpu")
    >>> for image, pts in enhancer.enhance_frames((img, pts) for img, pts in source):
    ...     sink.write(image, pts)
    """

    def __init__(self, config: str | PipelineConfig = "default", options: RunOptions | None = None,
                 **overrides: Any) -> None:
        self.config = configure(config, options, **overrides)
        sr = self.config.stage("sr")
        self._sr = cast(SRStage, build_stage(sr)) if sr is not None else None  # loads the model, once

    @property
    def stages(self) -> list[Stage]:
        """The stages held across runs: the SR stage, which holds the loaded model."""
        return [self._sr] if self._sr is not None else []

    def fresh_stages(self) -> list[Stage]:
        """New stage objects for one run (one video, one ``enhance_frames`` call, one --ray segment), so
        per-run state (scene-cut history, scene ids, caches, smoothing history, the report's scene list)
        starts clean at its first frame and never carries over from the run before; the SR stage gets the
        already loaded model, which stays loaded once per Enhancer."""
        sr = self._sr
        return [SRStage(sr.name, sr.params, model=sr.model) if sr is not None and cfg.name == sr.name
                else build_stage(cfg) for cfg in self.config.stages]

    def graph(self, source: Any, source_name: str = "demux") -> Graph:
        """The graph of one run over ``source`` (a Demuxer or an iterator of Frames), with fresh stages: what the
        whole-file, chunked, frames and --ray paths all run."""
        return Graph(source=source, stages=self.fresh_stages(), queue_size=self.config.queue_size,
                     queue_bytes=self.config.queue_megabytes * 2**20, source_name=source_name)

    @property
    def scale(self) -> int:
        sr = self.config.stage("sr")
        return sr.params.scale if sr else 1

    def enhance_frames(self, frames: Iterable[Any], time_base: Fraction = Fraction(1, 90000)) -> Iterator[Any]:
        """Yield enhanced frames in order with the same timestamps, in the form they came in."""
        backs: dict[int, Callable[[Frame], Any]] = {}

        def source() -> Iterator[Frame]:
            for i, item in enumerate(frames):
                frame, backs[i] = _to_frame(item, i, time_base)
                frame.index = i
                yield frame

        graph = self.graph(source, source_name="input")
        for frame in graph.iterate():
            yield backs.pop(frame.index)(frame)


# --- file to file ----------------------------------------------------------------------------------


def enhance(
    src: str | Path,
    dst: str | Path,
    *,
    pipeline: str | PipelineConfig = "default",
    options: RunOptions | None = None,
    overwrite: bool = False,
    ignore_errors: bool = False,
    progress: ProgressSpec = False,
    report_path: str | Path | None = None,
    warn: Callable[[str], None] | None = None,
    enhancer: Enhancer | None = None,
    start: float | str | None = None,
    duration: float | str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """Enhance ``src`` into ``dst`` and return the run report.

    Nothing is written under ``dst`` until the output is complete; audio and subtitles are copied;
    timestamps, bit depth, colour tags and rotation are kept. Raises :class:`~vidsr.errors.VidsrError`.
    ``progress``: False (silent), None (a bar on a terminal, plain lines elsewhere), ``"json"`` (JSON lines on
    stdout), or a callable given ``{"output", "frames", "total", "percent", "fps", "elapsed_s", "eta_s", "done"}``
    after every frame and once more with ``done: True``.

    ``options`` (:class:`~vidsr.options.RunOptions`) or its fields as keywords (``scale=2, crf=20``) override the
    pipeline: ``scale``, ``model``, ``device``, ``codec``, ``crf``, ``preset``, ``pix_fmt`` as the CLI's flags do.
    ``start``/``duration`` (seconds, or ``"1:30"``) enhance only that part, as ffmpeg's ``-ss``/``-t`` before
    ``-i`` do: a preview, starting at 0 with audio and subtitles of the same span in sync (written in one piece,
    never chunked). ``size`` (``"1920x1080"``) or ``height`` (of the displayed picture; width in proportion)
    resize the model's output exactly; without ``scale`` the model's smallest scale that reaches the size is
    used. ``deinterlace``: auto (default: the stream's flags, or idet's measure), on, tff, bff or off.
    ``detail`` (``var``/``var-teacher`` only): how much of the VAR detail stage's change is kept, 0-1.
    """
    t_start = time.perf_counter()
    warn = warn or log.warning
    opts = RunOptions.of(options, **overrides)
    for name, value in (("src", src), ("dst", dst)):
        if not isinstance(value, (str, os.PathLike)):
            raise UsageError(f"{name} must be a path (str or os.PathLike), got {_shown(value)}")
    check_local_input(src)
    src, dst = Path(src), Path(dst)
    check_paths(src, dst, overwrite)
    if report_path is not None:
        check_report_path(report_path, [(src, dst)])
    with output_lock(dst):  # a second run to dst stops here, before it touches anything of this one
        check_paths(src, dst, overwrite)  # dst may have appeared between the check and the lock
        info = probe(src)
        window = plan_window(src, info, start, duration)  # a wrong time fails before the model loads
        if enhancer is None:
            config = configure(pipeline, opts)
            v = info.video
            config = fit_to_source(config, v.width, v.height, v.rotation, scale_chosen=opts.chosen("scale"))
            check_codec(config.encode.codec)
            check_sizes(src, info, for_output(config, dst, codec_chosen=opts.chosen("codec")))  # before the model loads
            enhancer = Enhancer(config)
        config = for_output(enhancer.config, dst, codec_chosen=opts.chosen("codec"))
        check_sizes(src, info, config)
        asked = config.decode.deinterlace
        interlacing = detect_interlacing(str(src), asked)  # decided once: every chunk and a resumed run agree
        if interlacing.mode != asked:
            decode = dataclasses.replace(config.decode, deinterlace=interlacing.mode)
            config = dataclasses.replace(config, decode=decode)
        plans = plan_side_streams(src, info.video.index, dst.name, config.encode.audio_fallback_codec)
        for plan in plans:
            if plan.action != "copy":
                warn(plan.describe())
        if info.video.hdr_metadata.x265_params() and config.encode.codec != "libx265":
            warn(f"HDR10 mastering-display/light-level metadata cannot be written by {config.encode.codec}; the "
                 "PQ/BT.2020 tags are kept, use --codec libx265 to keep the metadata too")
        bar = Progress(window.expected_frames(info) if window else info.video.frames, enabled=progress, name=str(dst))
        if window is not None:  # a preview: short, in one piece
            out = _write_whole(src, dst, info, enhancer, config, plans, bar, warn, overwrite, window)
        elif config.encode.chunk_seconds > 0 and (info.duration_s or 0.0) > config.encode.chunk_seconds:
            out = _write_chunked(src, dst, info, enhancer, config, plans, bar, warn, overwrite)
        else:
            out = _write_whole(src, dst, info, enhancer, config, plans, bar, warn, overwrite)
    demuxer, graph = out.demuxer, out.graph
    wall = time.perf_counter() - t_start
    report = build_report(
        src=src, dst=dst, config=config, info=info, plans=plans, frames=out.frames,
        frames_lost=demuxer.frames_lost, frames_damaged=demuxer.frames_corrupt, output_size=out.output_size,
        encoder_restarts=out.restarts, encoder_memory=out.encoder_memory, wall_s=wall,
        frames_run=out.frames - (out.chunks or {}).get("frames_resumed", 0),  # a resumed run's chunks took no time
        window=window.describe() if window else None, chunks=out.chunks,
        deinterlace=deinterlace_report(asked=asked, ran_as=interlacing.mode, why=interlacing.reason,
                                       field_order=field_order_name(demuxer.field_order),
                                       filtered=demuxer.deinterlacer is not None, frames=demuxer.deinterlaced),
        stages={name: t.as_dict() for name, t in graph.timings.items()},
        stage_summaries={s.name: {k: v for k, v in s.summary().items() if k != "scenes"} for s in graph.stages},
        scenes=_scenes(graph.stages),
    )
    if report_path:
        try:
            write_report(report, report_path)
        except OSError as err:
            why = err.strerror or str(err)
            raise OutputError(f"writing the report {report_path} failed: {why} ({dst} was written)") from None
    check_damage(report, ignore_errors, packets=demuxer.packets)
    return report


@dataclass
class _Written:
    """What writing the output did, for the report: the graph that ran and the frames it wrote."""

    demuxer: Demuxer
    graph: Graph
    frames: int
    output_size: tuple[int, int] | None
    restarts: int
    chunks: dict[str, Any] | None = None  # a chunked run: chunks written, resumed, frames resumed
    encoder_memory: dict[str, Any] | None = None  # what encode.max_megabytes estimated and lowered (MemoryPlan)


def _write_whole(src: Path, dst: Path, info: MediaInfo, enhancer: Enhancer, config: PipelineConfig,
                 plans: list[SidePlan], bar: Progress, warn: Callable[[str], None], overwrite: bool,
                 window: Window | None = None) -> _Written:
    """The output in one piece: encoded into a temporary file beside ``dst``, renamed when complete; with a
    ``window`` only that part, every stream moved back to start at 0."""
    if window is None:
        demuxer = Demuxer(src, info, config.decode)
        remuxer = Remuxer(dst, src, info, config.encode, plans, name=str(dst), warn=warn)
    else:
        demuxer = Demuxer(src, info, config.decode, window.start_pts, window.end_pts, pts_offset=window.start_pts)
        remuxer = Remuxer(dst, src, info, config.encode, plans, name=str(dst), side_window=window.side_window(),
                          warn=warn)
    graph = enhancer.graph(demuxer)
    try:
        with atomic_output(dst, overwrite) as tmp:
            remuxer.path = tmp
            graph.run(lambda frames: remuxer(bar.wrap(frames)))
            _check_count(demuxer, remuxer.frames_written)
    finally:
        bar.close()
    memory = remuxer.encoder_memory.as_report() if remuxer.encoder_memory else None
    return _Written(demuxer, graph, remuxer.frames_written, remuxer.output_size, remuxer.restarts,
                    encoder_memory=memory)


def _write_chunked(src: Path, dst: Path, info: MediaInfo, enhancer: Enhancer, config: PipelineConfig,
                   plans: list[SidePlan], bar: Progress, warn: Callable[[str], None], overwrite: bool) -> _Written:
    """The output as chunks kept in the work directory (a stopped run resumes after its last finished one),
    joined with the source's other streams into a temporary file beside ``dst``, renamed when complete."""
    suffix = segment_file_suffix(dst)
    workdir = WorkDir(dst, suffix)
    records = workdir.open(WorkDir.plan_key(fingerprint(src), config, {"chunk_seconds": config.encode.chunk_seconds},
                                            suffix))
    done, start_pts, complete = resume_point(records)
    resumed_frames = sum(records[i]["frames"] for i in range(done))
    if done:
        warn(f"resuming {dst.name}: {done} finished chunks ({resumed_frames} frames) kept from an earlier run")
    bar.resumed(resumed_frames)
    demuxer = Demuxer(src, info, config.decode, start_pts)
    writer = ChunkWriter(workdir, src, info, config.encode, done, warn)
    graph = enhancer.graph(demuxer)
    try:
        if not complete:
            graph.run(lambda frames: writer(bar.wrap(frames)))
            _check_count(demuxer, writer.frames_written)
    except BaseException:
        kept = done + writer.chunks
        if kept and workdir.path.is_dir():  # not when the output folder itself was removed mid-run
            warn(f"{kept} finished chunks of {dst.name} are kept in {workdir.path}; the same command resumes")
        else:
            workdir.remove()
        raise
    finally:
        bar.close()
    n = done + writer.chunks
    t_join = time.perf_counter()
    try:
        with atomic_output(dst, overwrite) as tmp:
            join_segments([workdir.part(i) for i in range(n)], src, tmp, info, plans)
    except BaseException:
        if workdir.path.is_dir():
            warn(f"all {n} chunks of {dst.name} are kept in {workdir.path}; the same command only joins them")
        raise
    join_s = time.perf_counter() - t_join
    kept = [records[i] for i in range(done)]
    workdir.remove()
    restarts = writer.restarts + sum(r.get("restarts", 0) for r in kept) + n - 1
    size = writer.output_size or next((tuple(r["output_size"]) for r in kept if r.get("output_size")), None)
    return _Written(demuxer, graph, resumed_frames + writer.frames_written, size, restarts,
                    {"seconds": config.encode.chunk_seconds, "chunks": n, "chunks_resumed": done,
                     "frames_resumed": resumed_frames, "join_s": round(join_s, 3)},
                    writer.encoder_memory.as_report() if writer.encoder_memory else None)


def _check_count(demuxer: Demuxer, written: int) -> None:
    if written != demuxer.frames:
        raise ProcessingError(f"internal error: {demuxer.frames} frames decoded but {written} written")


def _scenes(stages: list[Stage]) -> Any:
    for stage in stages:
        scenes = stage.summary().get("scenes")
        if scenes is not None:
            return scenes
    return None
