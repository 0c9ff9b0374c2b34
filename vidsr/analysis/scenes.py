"""Per-frame analysis in a stream: a degradation vector, a scene-cut score and a scene id on every frame,
with per-scene aggregates. The degrade-analysis stage (``vidsr.stages.analysis``) and ``probe --analyze``
(``analyze_file``) both run it."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vidsr.analysis.estimators import ANALYSIS_FIELDS, DEGRADATION_FIELDS, EstimatorParams, analysis_vector
from vidsr.analysis.scenecut import SceneCutDetector, SceneCutParams
from vidsr.frame import Frame

__all__ = ["SceneAnalyzer", "SceneSummary"]


@dataclass
class SceneSummary:
    """One scene: its frames, its span in time, and the mean analysis vector (:data:`ANALYSIS_FIELDS`) over
    its frames."""

    scene_id: int
    start_index: int
    end_index: int
    start_time: float | None
    end_time: float | None  # presentation time of the scene's last frame
    cut_score: float  # the score that opened it (0 for the first scene)
    frames: int = 0
    _sum: np.ndarray = field(default_factory=lambda: np.zeros(len(ANALYSIS_FIELDS), np.float64), repr=False)

    def add(self, frame: Frame) -> None:
        self.frames += 1
        self.end_index = frame.index
        self.end_time = frame.time
        vec = frame.metadata.get("analysis", frame.degradation)
        if vec is not None:
            self._sum[: len(vec)] += vec

    @property
    def mean(self) -> np.ndarray:
        return (self._sum / max(self.frames, 1)).astype(np.float32)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scene_id": self.scene_id,
            "frames": self.frames,
            "start_index": self.start_index,
            "end_index": self.end_index,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "cut_score": round(self.cut_score, 4),
            "degradation": {k: round(float(v), 4) for k, v in zip(ANALYSIS_FIELDS, self.mean)},
        }


class SceneAnalyzer:
    """Sets ``frame.degradation`` (layout: :data:`DEGRADATION_FIELDS`, what models are conditioned on),
    ``metadata["analysis"]`` (the whole :data:`ANALYSIS_FIELDS` vector, which starts with those),
    ``scene_cut``, ``scene_start`` and ``scene_id``.

    Frames are analysed one at a time, unchanged in pixels; the scene id starts at 0 and goes up by
    one at each detected cut. ``metadata["degradation_scene_mean"]`` holds the mean conditioning vector
    of the scene's frames so far (causal, so streaming is not held up). Per-scene aggregates are kept in
    :attr:`scenes`.
    """

    def __init__(self, estimator: EstimatorParams | None = None, scene_cut: SceneCutParams | None = None) -> None:
        self._estimator = estimator or EstimatorParams()
        self._cuts = SceneCutDetector(scene_cut or SceneCutParams())
        self.scenes: list[SceneSummary] = []
        self.frames = 0
        self.seconds = 0.0

    def analyze(self, frame: Frame) -> Frame:
        """Annotate one frame in place (and return it)."""
        t0 = time.perf_counter()
        vec = analysis_vector(frame.image, self._estimator)
        frame.metadata["analysis"] = vec
        frame.degradation = vec[: len(DEGRADATION_FIELDS)].copy()
        score, cut = self._cuts.update(frame.image)
        frame.scene_start = bool(cut and self.scenes)
        if cut or not self.scenes:
            self.scenes.append(SceneSummary(len(self.scenes), frame.index, frame.index, frame.time, frame.time,
                                            score if cut else 0.0))
        frame.scene_cut = score
        frame.scene_id = self.scenes[-1].scene_id
        self.scenes[-1].add(frame)
        # the scene's mean so far: a steadier conditioning signal than one frame's estimate
        frame.metadata["degradation_scene_mean"] = self.scenes[-1].mean[: len(DEGRADATION_FIELDS)]
        self.frames += 1
        self.seconds += time.perf_counter() - t0
        return frame
