"""The Frame that flows through the graph: pixels plus everything needed to put them back in time."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

__all__ = ["Frame", "PIXEL_DTYPES"]

PIXEL_DTYPES = (np.uint8, np.uint16)


@dataclass(slots=True)
class Frame:
    """One decoded (or enhanced) video frame.

    ``image`` is HxWx3 RGB, full range, uint8 for 8-bit sources and uint16 for deeper ones (10/12-bit
    sources are carried at 16-bit precision, never squeezed through 8 bits). ``pts`` in ``time_base``
    units is the source timestamp and is never rewritten, so variable frame rate survives.
    """

    image: np.ndarray
    pts: int | None
    time_base: Fraction
    index: int
    scene_id: int = 0
    scene_cut: float = 0.0  # scene-cut score from degrade-analysis (0 = same shot)
    scene_start: bool = False  # a detected cut opens a new scene here (never the first frame of a run)
    degradation: np.ndarray | None = None  # small per-frame vector from degrade-analysis
    metadata: dict[str, Any] = field(default_factory=dict)
    # the pixels ``image`` was made from by the sr stage (its LQ input), kept for later stages that
    # compare frames at the input's resolution (temporal-smoothing's flow); None before SR
    source_image: np.ndarray | None = None

    @property
    def time(self) -> float | None:
        """Presentation time in seconds."""
        return None if self.pts is None else float(self.pts * self.time_base)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def max_value(self) -> int:
        return 255 if self.image.dtype == np.uint8 else 65535

    def with_image(self, image: np.ndarray, source_image: np.ndarray | None = None) -> Frame:
        """A copy carrying new pixels and the same timing and metadata; ``source_image``, when given, records
        the pixels the new ones were made from (else the current record is kept)."""
        source = self.source_image if source_image is None else source_image
        return replace(self, image=image, metadata=dict(self.metadata), source_image=source)
