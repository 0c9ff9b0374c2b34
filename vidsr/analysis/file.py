"""Analyse a whole video file: what ``vidsr probe INPUT --analyze`` prints."""

from __future__ import annotations

import os
from typing import Any

import av

from vidsr.analysis.estimators import EstimatorParams
from vidsr.analysis.scenecut import SceneCutParams
from vidsr.analysis.scenes import SceneAnalyzer
from vidsr.errors import InputError
from vidsr.frame import Frame
from vidsr.media.probe import open_input

__all__ = ["analyze_file"]


def analyze_file(
    path: str | os.PathLike[str],
    estimator: EstimatorParams | None = None,
    scene_cut: SceneCutParams | None = None,
    max_frames: int | None = None,
) -> list[dict[str, Any]]:
    """Per-scene summaries of a video: frames, start/end index and time, cut score, mean degradation.

    Decodes the first video stream with PyAV (threaded) into RGB and runs the same :class:`SceneAnalyzer`
    the pipeline's degrade-analysis stage runs (with the stage's default knobs unless ``estimator`` or
    ``scene_cut`` is given), so ``probe --analyze`` and a ``run`` agree. Raises :class:`InputError` for a
    file that cannot be read or has no video stream.
    """
    analyzer = SceneAnalyzer(estimator, scene_cut)
    with open_input(path) as container:
        if not container.streams.video:
            raise InputError(f"no video stream in {path}")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for index, frame in enumerate(container.decode(stream)):
                if max_frames is not None and index >= max_frames:
                    break
                image = frame.to_ndarray(format="rgb24")
                analyzer.analyze(Frame(image=image, pts=frame.pts, time_base=frame.time_base or stream.time_base,
                                       index=index))
        except av.FFmpegError as err:
            if analyzer.frames == 0:
                raise InputError(f"cannot decode {path}: {err}") from None
    return [s.as_dict() for s in analyzer.scenes]
