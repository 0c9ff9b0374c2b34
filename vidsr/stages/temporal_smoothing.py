"""The temporal-smoothing stage: flow-guided blending of each output frame with the previous output, where
the low-resolution inputs agree once motion is compensated (the algorithm: :mod:`vidsr.temporal.smoothing`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from vidsr.errors import ConfigError
from vidsr.frame import Frame
from vidsr.temporal.flow import DIS_PRESETS
from vidsr.temporal.smoothing import Smoother, SmootherParams

__all__ = ["TemporalSmoothingParams", "TemporalSmoothing"]


@dataclass
class TemporalSmoothingParams(SmootherParams):
    """The :class:`SmootherParams` of the stage, range-checked as the config loads."""

    def __post_init__(self) -> None:
        """Refuse nonsense at config load (``from_dict`` builds this), with the key named."""
        where = "temporal-smoothing"
        if not 0.0 <= self.strength < 1.0:
            raise ConfigError(f"{where}.params.strength: must be in [0, 1), got {self.strength}")
        if self.flow_preset not in DIS_PRESETS:
            raise ConfigError(f"{where}.params.flow_preset: one of {', '.join(DIS_PRESETS)}, got '{self.flow_preset}'")
        if not 0.0 < self.error_low < self.error_high:
            raise ConfigError(f"{where}.params: need 0 < error_low < error_high")
        if self.interpolation not in ("linear", "cubic"):
            raise ConfigError(f"{where}.params.interpolation: linear or cubic, got '{self.interpolation}'")
        if self.error_window < 1 or self.erode < 0 or self.mask_blur < 0 or self.fb_tolerance <= 0:
            raise ConfigError(f"{where}.params: error_window >= 1, erode >= 0, mask_blur >= 0, fb_tolerance > 0")
        if not 0.0 < self.min_level <= self.max_level or self.level_jump < 1.0:
            raise ConfigError(f"{where}.params: need 0 < min_level <= max_level and level_jump >= 1")


class TemporalSmoothing:
    """The graph stage: one :class:`Smoother` per stream (``process`` call), so no state leaks between runs."""

    def __init__(self, name: str, params: TemporalSmoothingParams | None = None) -> None:
        self.name = name
        self.params = params or TemporalSmoothingParams()
        self.frames = 0
        self.resets = 0
        self.weight_sum = 0.0
        self.seconds = 0.0

    def process(self, frames: Iterator[Frame]) -> Iterator[Frame]:
        smoother = Smoother(self.params)
        for frame in frames:
            t0 = time.perf_counter()
            out = smoother(frame)
            self.seconds += time.perf_counter() - t0
            self.frames += 1
            self.resets += out is frame
            self.weight_sum += smoother.last_weight
            yield out

    def summary(self) -> dict[str, Any]:
        return {
            "type": "temporal-smoothing",
            "strength": self.params.strength,
            "frames": self.frames,
            "resets": self.resets,  # first frames and scene changes: passed unchanged
            "mean_blend_weight": round(self.weight_sum / max(self.frames - self.resets, 1), 4),
            "ms_per_frame": round(1000.0 * self.seconds / max(self.frames, 1), 2),
        }
