"""The degrade-analysis stage: a degradation vector, a scene-cut score and a scene id on every frame."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vidsr.analysis.estimators import ANALYSIS_FIELDS, EstimatorParams
from vidsr.analysis.scenecut import SceneCutParams
from vidsr.analysis.scenes import SceneAnalyzer
from vidsr.frame import Frame

__all__ = ["DegradeAnalysisParams", "DegradeAnalysis"]


@dataclass
class DegradeAnalysisParams:
    """Estimator knobs (see :class:`EstimatorParams`) and scene-cut knobs (see :class:`SceneCutParams`)."""

    max_tiles: int = 48  # 64x64 full-resolution luma tiles per frame for noise/blur/blocks/ringing
    noise_percentile: float = 10.0
    edge_threshold: float = 0.05
    cut_threshold: float = 0.2
    cut_ratio: float = 2.0
    cut_history: int = 8
    min_scene_frames: int = 2
    thumb_width: int = 64  # width of the scene-cut thumbnail (the analysis size)

    def estimator(self) -> EstimatorParams:
        return EstimatorParams(self.max_tiles, self.noise_percentile, self.edge_threshold)

    def scene_cut(self) -> SceneCutParams:
        return SceneCutParams(self.cut_threshold, self.cut_ratio, self.cut_history, self.min_scene_frames,
                              self.thumb_width)


class DegradeAnalysis(SceneAnalyzer):
    """The graph stage over :class:`SceneAnalyzer` (which says what it sets on each frame): frames pass one
    at a time, unchanged in pixels and order; the per-scene aggregates go into :meth:`summary`."""

    def __init__(self, name: str, params: DegradeAnalysisParams | None = None) -> None:
        self.name = name
        self.params = params or DegradeAnalysisParams()
        super().__init__(self.params.estimator(), self.params.scene_cut())

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        for frame in frames:
            yield self.analyze(frame)

    def summary(self) -> dict[str, Any]:
        return {
            "type": "degrade-analysis",
            "fields": list(ANALYSIS_FIELDS),
            "frames": self.frames,
            "ms_per_frame": round(1000.0 * self.seconds / max(self.frames, 1), 2),
            "scenes": [s.as_dict() for s in self.scenes],
        }
