"""The run report (`--report PATH`): what was done, how long each stage took, and with what versions."""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidsr.errors import CorruptInputError

if TYPE_CHECKING:
    from vidsr.config import PipelineConfig
    from vidsr.media.probe import MediaInfo
    from vidsr.media.streams import SidePlan

__all__ = ["build_report", "check_damage", "deinterlace_report", "versions", "write_report"]

CACHE = {"hits": 0, "misses": 0, "note": "the scene-level prefix token cache is not built yet"}
DEINTERLACE_FILTER = "bwdif (send_frame: one frame per frame)"


def versions() -> dict[str, Any]:
    import av
    import numpy
    import torch

    import vidsr

    return {
        "vidsr": vidsr.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": {k: ".".join(map(str, v)) for k, v in av.library_versions.items()},
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if torch.cuda.is_available() else None,
    }


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write the report as JSON next to the output (atomically, like the video)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(p)


def deinterlace_report(*, asked: str, ran_as: str, why: str | None, field_order: str | None, filtered: bool,
                       frames: int) -> dict[str, Any]:
    """What the run did about interlacing: the mode asked and run, why, the stream's field order, and the frames
    bwdif rebuilt."""
    return {"mode": asked, "ran_as": ran_as, "why": why, "field_order": field_order,
            "filter": DEINTERLACE_FILTER if filtered else None, "frames_deinterlaced": frames}


def build_report(
    *,
    src: Path,
    dst: Path,
    config: PipelineConfig,
    info: MediaInfo,
    plans: Sequence[SidePlan],
    frames: int,
    frames_lost: int,
    frames_damaged: int,
    output_size: Sequence[int] | None,
    encoder_restarts: int,
    wall_s: float,
    frames_run: int,
    deinterlace: dict[str, Any],
    stages: dict[str, Any],
    stage_summaries: dict[str, Any],
    scenes: list[dict[str, Any]] | None,
    window: dict[str, Any] | None = None,
    chunks: dict[str, Any] | None = None,
    segments: list[dict[str, Any]] | None = None,
    ray: dict[str, Any] | None = None,
    encoder_memory: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run report, the same keys for a local run (whole-file, chunked) and a ``--ray`` job.

    ``frames_run``: the frames this run computed (a resumed run's earlier chunks or segments took no time
    here), for ``fps``. Keys that only one kind of run fills are always present, ``None`` elsewhere:
    ``window`` (``--start``/``--duration``: local only, ``--ray`` has no window), ``chunks`` (a local chunked
    run), ``segments`` and ``ray`` (a ``--ray`` job). On ``--ray``, ``stages`` are the segments' timings summed
    (actor time, not wall time), ``stage_summaries`` the segments' summaries merged (counts summed, other
    fields from the first segment), ``deinterlace.why`` is ``None`` (each actor's demuxer decides from the
    stream's flags; no idet pass). ``output_video.encoder_memory``: the encoder's estimated MiB against
    ``encode.max_megabytes`` and the settings lowered to fit (``{option: [was, now]}``); ``None`` with no cap, an
    encoder without a model, a run whose chunks were all resumed, and on ``--ray`` (each actor plans its own).
    """
    from vidsr.media.remux import choose_pix_fmt

    v, enc = info.video, config.encode
    return {
        "input": str(src),
        "output": str(dst),
        "pipeline": config.name,
        "frames": frames,
        "frames_lost": frames_lost,
        "frames_damaged": frames_damaged,
        "duration_s": info.duration_s,
        "window": window,
        "input_video": {"width": v.width, "height": v.height, "pix_fmt": v.pix_fmt,
                        "variable_frame_rate": v.variable_frame_rate, "colour": v.colour_tags()},
        "output_video": {"size": list(output_size) if output_size else None, "codec": enc.codec,
                         "pix_fmt": choose_pix_fmt(enc.codec, v.pix_fmt, enc.pix_fmt),
                         "crf": enc.crf, "preset": enc.preset, "encoder_restarts": encoder_restarts,
                         "encoder_memory": encoder_memory},
        "chunks": chunks,
        "streams": [p.describe() for p in plans],
        "wall_s": round(wall_s, 3),
        "fps": round(frames_run / wall_s, 3) if wall_s > 0 else None,
        "deinterlace": deinterlace,
        "stages": stages,
        "stage_summaries": stage_summaries,
        "scenes": scenes,
        "cache": dict(CACHE),
        "degradation": degradation(scenes),
        "segments": segments,
        "ray": ray,
        "versions": versions(),
    }


def degradation(scenes: list[dict[str, Any]] | None) -> dict[str, float] | None:
    """The whole video's degradation estimates: the frame-weighted mean of the per-scene ones."""
    total = sum(s.get("frames", 0) for s in scenes or [])
    if not total:
        return None
    keys = (scenes or [])[0].get("degradation", {}).keys()
    return {k: round(sum(s["degradation"][k] * s["frames"] for s in scenes or []) / total, 4) for k in keys}


def check_damage(report: dict[str, Any], ignore_errors: bool, packets: int | None = None) -> None:
    """Raise :class:`CorruptInputError` when the run lost or damaged frames, unless ``ignore_errors``: the one
    message for a local run, a backlog and a ``--ray`` job (``packets``, where known, the frames the input held)."""
    lost, damaged = report["frames_lost"], report.get("frames_damaged") or 0
    if not (lost or damaged) or ignore_errors:
        return
    what = " and ".join(x for x in (f"{lost} lost" if lost else "", f"{damaged} damaged" if damaged else "") if x)
    of = f" of {packets}" if packets else ""
    raise CorruptInputError(
        f"{Path(report['input']).name} has damaged data: {what}{of} frames; {Path(report['output']).name} was "
        f"written with the {report['frames']} that decoded (pass --ignore-errors to accept this and exit 0)",
        frames_lost=lost,
    )
