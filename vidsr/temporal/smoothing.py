"""Flow-guided blending of each output frame with the previous output (the temporal-smoothing stage's
algorithm; the stage is ``vidsr.stages.temporal_smoothing``).

Per-frame SR re-draws noise and compression artefacts differently in every frame, which shows as
flicker. Where the *input* (LQ) frames agree once motion is compensated, the outputs should agree too,
so the previous output, warped to the current frame, is blended in there; where they do not (occlusion,
a moving object's trail, a flash, a cut) the current output is kept as is. The history is the previous
*smoothed* output (a motion-compensated recursive filter).

Confidence, all at LQ resolution (cheap; the flow is then upscaled to the output grid):

- forward-backward consistency of the DIS flow: the round trip back and forth must land near its start;
- the LQ warping error, a local mean of |L_t - warp(L_{t-1})|, against the frame's own typical error (its
  median over consistent pixels, so the threshold follows the source's noise and compression level);
- both ramps are soft, the mask is eroded (so rejected regions stay rejected at their edges) and blurred
  (so there are no seams).

The first frame, a scene change (``Frame.scene_id``, set by degrade-analysis) and a change of size or
depth reset the history: that frame leaves unchanged, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vidsr.frame import Frame
from vidsr.temporal.flow import INTERPOLATION, DISFlow, Flow, luma_levels, pixel_grid

__all__ = ["SmootherParams", "Smoother", "BAND_PIXELS"]

BAND_PIXELS = 1 << 21  # output pixels per band of the output-grid work: 2 MPix, ~90 MB of band buffers at 8-bit


@dataclass
class SmootherParams:
    """Blend weight and the thresholds of the confidence mask (pixel distances are in LQ pixels); the stage's
    ``TemporalSmoothingParams`` adds the range checks made at config load."""

    strength: float = 0.6  # weight of the warped previous output where the inputs fully agree (0 = off)
    flow_preset: str = "ultrafast"  # DIS preset on the LQ frames: ultrafast, fast, medium
    error_low: float = 1.2  # local warping error <= error_low x the frame's typical error: full blend
    error_high: float = 2.4  # >= error_high x typical: no blend (a soft ramp between)
    error_window: int = 5  # box window of the local mean warping error
    min_level: float = 0.5  # the typical error (8-bit levels) is at least this (clean sources) ...
    max_level: float = 16.0  # ... and at most this on a scene's first pair (no history to judge it by) ...
    level_jump: float = 1.5  # ... and later at most this times the scene's running level (a flash is no noise)
    fb_tolerance: float = 0.5  # forward-backward round-trip miss kept in full ...
    fb_relative: float = 0.1  # ... plus this fraction of the motion's size; zero weight at twice that
    erode: int = 5  # erosion window of the mask (0 = none)
    mask_blur: float = 1.0  # Gaussian sigma softening the mask (0 = none)
    interpolation: str = "linear"  # warp of the previous output: linear, or cubic (sharper, 2x the cost)


@dataclass
class _History:
    """What one frame leaves for the next: its LQ luma (float levels and 8-bit), smoothed output, scene, form."""

    luma: np.ndarray
    luma8: np.ndarray
    output: np.ndarray  # the smoothed output as emitted (same dtype as the frames)
    scene_id: int
    key: tuple


class Smoother:
    """The per-stream state and the per-frame work, separate from the graph plumbing so it is easy to test."""

    def __init__(self, params: SmootherParams, band_pixels: int = BAND_PIXELS) -> None:
        self.p = params
        self.band_pixels = band_pixels  # the output-grid work runs in bands of about this many output pixels
        self._grid_buf: np.ndarray | None = None  # pixel coordinates of one band (see _grid)
        self._grid_y0 = -1
        self.flow = DISFlow(params.flow_preset)
        self.history: _History | None = None
        self.level: float | None = None  # the scene's running typical LQ warping error, 8-bit levels
        self.last_weight = 0.0  # mean blend weight of the last frame (0 after a reset)

    def reset(self) -> None:
        self.history = None
        self.level = None

    def confidence(self, prev_luma: np.ndarray, luma: np.ndarray, back: Flow, fwd: Flow) -> np.ndarray:
        """Soft weight in [0, 1] per LQ pixel: 1 where the LQ frames agree after motion compensation.

        Lumas are in 8-bit levels. One remap carries the forward flow, the previous luma and a plane of
        ones (which becomes the inside-the-frame weight) to the current frame along the back flow."""
        p = self.p
        h, w = luma.shape
        planes = cv2.merge([fwd, prev_luma, np.ones((h, w), np.float32)])
        coords = back + pixel_grid(h, w)
        warped = cv2.remap(planes, coords, None, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        del planes, coords  # LQ-sized (an 8K source's are 0.8 GB): let go before the next ones are made
        fwd_x, fwd_y, prev_at, inside = cv2.split(warped)
        del warped
        # forward-backward: the round trip should come home, within a tolerance that grows with the motion
        back_x, back_y = cv2.split(back)  # contiguous planes: numpy is far slower on strided channel views
        miss = cv2.magnitude(back_x + fwd_x, back_y + fwd_y)
        tol = p.fb_tolerance + p.fb_relative * cv2.magnitude(back_x, back_y)
        w_fb = np.clip(2.0 - miss / tol, 0.0, 1.0)
        # LQ warping error, locally averaged, against the scene's typical (noise-driven) level
        err = cv2.blur(cv2.absdiff(luma, prev_at), (p.error_window, p.error_window))
        trusted = (w_fb[::2, ::2] > 0.5) & (inside[::2, ::2] > 0.99)  # every 4th pixel is plenty for a median
        typical = float(np.median(err[::2, ::2][trusted])) if trusted.any() else p.max_level
        cap = p.max_level if self.level is None else p.level_jump * self.level
        typical = max(min(typical, cap), p.min_level)
        self.level = typical if self.level is None else 0.5 * (self.level + typical)
        lo, hi = p.error_low * typical, p.error_high * typical
        weight = np.clip((hi - err) * (1.0 / (hi - lo)), 0.0, 1.0)
        weight *= w_fb
        weight *= inside
        if p.erode > 1:
            weight = cv2.erode(weight, np.ones((p.erode, p.erode), np.uint8))
        if p.mask_blur > 0:
            weight = cv2.GaussianBlur(weight, (0, 0), p.mask_blur)
        return weight

    def __call__(self, frame: Frame) -> Frame:
        """The frame with its image smoothed against the history (unchanged on a reset)."""
        image = frame.image
        lq = frame.source_image if frame.source_image is not None else image
        luma, luma8 = luma_levels(lq)
        key = (lq.shape, image.shape, image.dtype)
        h = self.history
        if self.p.strength <= 0.0 or h is None or h.scene_id != frame.scene_id or h.key != key:
            self.reset()
            self.history = _History(luma, luma8, image, frame.scene_id, key)
            self.last_weight = 0.0
            return frame
        back = self.flow(h.luma8, luma8)  # for each pixel now, where it was in the previous frame
        fwd = self.flow(luma8, h.luma8)
        w = self.confidence(h.luma, luma, back, fwd)
        w *= self.p.strength
        self.last_weight = float(w.mean())
        # flow (in output pixels) and weight to the output grid, and the warp and blend there, a band of output
        # rows at a time: whole-frame maps at 15360x8640 would hold ~5.8 GB. The weight already holds the
        # inside-the-frame test, so the output-grid warp needs none of its own.
        H, W = image.shape[:2]
        scale = np.array([W / luma.shape[1], H / luma.shape[0]], np.float32)
        interpolation = INTERPOLATION[self.p.interpolation]
        smoothed = np.empty_like(image)
        for y0, y1, coords, w_hr in _output_bands(back, w, scale, H, W, self.band_pixels):
            coords += self._grid(y0, y1, W)  # in place on contiguous arrays: several times faster than a new sum
            # fixed-point maps: the conversion and the integer remap together cost 2/3 of a float-map remap
            map1, map2 = cv2.convertMaps(coords, None, cv2.CV_16SC2)
            prev = cv2.remap(h.output, map1, map2, interpolation, borderMode=cv2.BORDER_REPLICATE)
            if image.dtype == np.uint8:  # OpenCV blends 8-bit directly, rounding and saturating
                cv2.blendLinear(image[y0:y1], prev, 1.0 - w_hr, w_hr, dst=smoothed[y0:y1])
            else:  # 16-bit: blend in float32 (exact for integers up to 2**24), round back
                out = cv2.blendLinear(image[y0:y1].astype(np.float32), prev.astype(np.float32), 1.0 - w_hr, w_hr)
                out += 0.5
                smoothed[y0:y1] = np.clip(out, 0.0, 65535.0, out=out)
        self.history = _History(luma, luma8, smoothed, frame.scene_id, key)
        return frame.with_image(smoothed)

    def _grid(self, y0: int, y1: int, width: int) -> np.ndarray:
        """Pixel coordinates (x, y) of output rows [y0, y1) as (y1 - y0) x width x 2 float32, from one buffer
        of the largest band's size kept for the stream (its y plane is rewritten only when y0 moves, so a
        frame that is one band costs nothing here after the first)."""
        g = self._grid_buf
        if g is None or g.shape[1] != width or g.shape[0] < y1 - y0:
            g = self._grid_buf = np.empty((y1 - y0, width, 2), np.float32)
            g[..., 0] = np.arange(width, dtype=np.float32)[None, :]
            self._grid_y0 = -1
        if self._grid_y0 != y0:
            g[..., 1] = np.arange(y0, y0 + g.shape[0], dtype=np.float32)[:, None]
            self._grid_y0 = y0
        return g[: y1 - y0]


def _output_bands(back: Flow, weight: np.ndarray, scale: np.ndarray, H: int, W: int,
                  band_pixels: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(y0, y1, flow, weight)`` for bands of output rows [y0, y1) that cover the H x W output: the LQ flow
    times ``scale`` and the LQ weight, each resized (bilinear) to the output grid, contiguous and writable,
    every row bit for bit what one whole-frame ``cv2.resize`` gives.

    A band resizes its own strip of LQ rows (``Q`` margin rows each side, cropped after). OpenCV samples output
    row y at ``fy = float((y + 0.5) * h / H - 0.5)`` and weighs its two source rows by ``fy``'s fraction; with
    H / h = P / Q in lowest terms, a strip starting at an LQ row that is a multiple of Q has the same ratio and
    its rows fall on the frame's rows, and when P is a power of two (and 2Ph < 2**24) every ``fy`` is exact in
    float, so the strip's weights equal the frame's. Otherwise (x3, 1.5, 2.5: ``fy`` rounds differently at a
    strip's smaller magnitudes) the flow and weight are resized whole, the one whole-frame fallback, and only
    the later steps are banded."""
    h = back.shape[0]
    g = math.gcd(H, h)
    P, Q = H // g, h // g
    rows = max(band_pixels // W, 1)  # output rows per band
    if rows >= H or P & (P - 1) or 2 * P * h >= 1 << 24:
        flow = cv2.resize(back * scale, (W, H), interpolation=cv2.INTER_LINEAR)
        w_hr = cv2.resize(weight, (W, H), interpolation=cv2.INTER_LINEAR)
        for y0 in range(0, H, rows):
            yield y0, min(y0 + rows, H), flow[y0 : y0 + rows], w_hr[y0 : y0 + rows]
        return
    step = max(rows // P, 1) * Q  # LQ rows per band: a multiple of Q, so every band starts on an output row
    for a0 in range(0, h, step):
        a1 = min(a0 + step, h)
        r0, r1 = max(a0 - Q, 0), min(a1 + Q, h)
        ys, hs = r0 * P // Q, (r1 - r0) * P // Q
        y0, y1 = a0 * P // Q, a1 * P // Q
        flow = cv2.resize(back[r0:r1] * scale, (W, hs), interpolation=cv2.INTER_LINEAR)
        w_hr = cv2.resize(weight[r0:r1], (W, hs), interpolation=cv2.INTER_LINEAR)
        yield y0, y1, flow[y0 - ys : y1 - ys], w_hr[y0 - ys : y1 - ys]
