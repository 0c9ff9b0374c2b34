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

Memory: an 8K source's LQ planes are 133 MB each (float32), so both the confidence (LQ) and the output-grid
work run in bands of rows, each bit for bit the whole-frame computation; only what must be whole (the flows, the
remaps' sources, the operands of calls whose result depends on the call's extent) is frame-sized.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from vidsr.frame import Frame
from vidsr.temporal.flow import INTERPOLATION, DISFlow, Flow

__all__ = ["SmootherParams", "Smoother", "BAND_PIXELS", "LQ_BAND_PIXELS"]

BAND_PIXELS = 1 << 21  # output pixels per band of the output-grid work: 2 MPix, ~90 MB of band buffers at 8-bit
LQ_BAND_PIXELS = 1 << 19  # LQ pixels per band of the confidence work: 2 MB a float plane, ~20 MB of band buffers


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
    """What one frame leaves for the next: its LQ luma (as :func:`_lq_luma` gives it, and 8-bit), smoothed output,
    scene, form."""

    luma: np.ndarray  # uint8, or uint16 for 16-bit sources: the float levels are derived from it (not kept)
    luma8: np.ndarray  # the 8-bit image DIS wants (the same array as ``luma`` for 8-bit sources)
    output: np.ndarray  # the smoothed output as emitted (same dtype as the frames)
    scene_id: int
    key: tuple


class Smoother:
    """The per-stream state and the per-frame work, separate from the graph plumbing so it is easy to test."""

    def __init__(self, params: SmootherParams, band_pixels: int = BAND_PIXELS,
                 lq_band_pixels: int = LQ_BAND_PIXELS) -> None:
        self.p = params
        self.band_pixels = band_pixels  # the output-grid work runs in bands of about this many output pixels
        self.lq_band_pixels = lq_band_pixels  # and the confidence in bands of about this many LQ pixels
        self._grid_buf: np.ndarray | None = None  # pixel coordinates of one band (see _grid)
        self._grid_y0 = -1
        self.flow = DISFlow(params.flow_preset)
        self.history: _History | None = None
        self.level: float | None = None  # the scene's running typical LQ warping error, 8-bit levels
        self.last_weight = 0.0  # mean blend weight of the last frame (0 after a reset)

    def reset(self) -> None:
        self.history = None
        self.level = None

    def confidence(self, prev: np.ndarray, prev8: np.ndarray, luma: np.ndarray,
                   luma8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The back flow (for each pixel now, where it was in the previous frame) as x and y planes (2 x h x w), and
        the soft weight in [0, 1] per LQ pixel: 1 where the LQ frames agree after motion compensation.

        ``prev`` and ``luma`` are lumas as :func:`_lq_luma` gives them, ``prev8`` and ``luma8`` their 8-bit images.
        Bit for bit the whole-frame computation (one remap of the forward flow, the previous luma and a plane of
        ones along the back flow, then whole-plane arithmetic), in under a third of its memory at an 8K source
        (~0.65 GB above the frames instead of ~2.2 GB): at most about five LQ planes are whole at a time (the
        flows, the remaps' sources, the operands of the calls that must see the whole frame, the weight), and the
        rest runs in bands of LQ rows."""
        p = self.p
        bands = _lq_bands(*luma.shape, self.lq_band_pixels)
        back, w_fb = self._flows_and_round_trip(prev8, luma8, bands)
        err, trusted, borders = self._warping_error(back, prev, luma, w_fb, bands)
        typical = float(np.median(err[::2, ::2][trusted])) if trusted.any() else p.max_level
        del trusted
        cap = p.max_level if self.level is None else p.level_jump * self.level
        typical = max(min(typical, cap), p.min_level)
        self.level = typical if self.level is None else 0.5 * (self.level + typical)
        lo, hi = p.error_low * typical, p.error_high * typical
        weight = err  # in place, band by band
        for (a0, a1), border in zip(bands, borders):
            band = weight[a0:a1]
            np.subtract(hi, band, out=band)
            band *= 1.0 / (hi - lo)
            np.clip(band, 0.0, 1.0, out=band)
            band *= w_fb[a0:a1]
            if border is _TOO_MANY:
                border = _border_inside(self._maps(back, a0, a1), *luma.shape)
            if border is not None:  # the inside weight is 1 elsewhere: multiplying there changes nothing
                band.reshape(-1)[border[0]] *= border[1]
        del w_fb
        return back, self._erode_and_blur(weight, bands)

    def _flows_and_round_trip(self, prev8: np.ndarray, luma8: np.ndarray,
                              bands: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
        """Both DIS flows, and the forward-backward weight: the round trip should come home, within a tolerance
        that grows with the motion. Returns the back flow as planes and the weight.

        The forward flow is only sampled along the back flow, one plane at a time (a one-channel remap gives one
        channel of the 4-channel one bit for bit; a 2-channel remap rounds differently), so it is made first and
        split into its planes while nothing else is whole; the back flow is split into planes in its own memory
        (for the magnitude and the output bands). The two magnitudes are whole-frame calls (:func:`_magnitude`)."""
        h, w = luma8.shape
        fwd = self.flow(luma8, prev8)
        fwd_x, fwd_y = np.empty((h, w), np.float32), np.empty((h, w), np.float32)
        for a0, a1 in bands:
            cv2.split(fwd[a0:a1], [fwd_x[a0:a1], fwd_y[a0:a1]])
        del fwd
        back = _planes(self.flow(prev8, luma8))
        sum_x = self._along_back(back, fwd_x, back[0], bands)
        del fwd_x
        sum_y = self._along_back(back, fwd_y, back[1], bands)
        del fwd_y
        w_fb = _magnitude(sum_x, sum_y)  # the miss, then the weight in place
        del sum_x, sum_y
        tol = _magnitude(back[0], back[1])
        tol *= self.p.fb_relative
        tol += self.p.fb_tolerance
        np.divide(w_fb, tol, out=w_fb)
        del tol
        np.subtract(2.0, w_fb, out=w_fb)
        return back, np.clip(w_fb, 0.0, 1.0, out=w_fb)

    def _warping_error(self, back: np.ndarray, prev: np.ndarray, luma: np.ndarray, w_fb: np.ndarray,
                       bands: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, list[_Border]]:
        """The LQ warping error, locally averaged; which pixels of every other row and column are trusted for its
        median (consistent and inside the frame: every 4th pixel is plenty for a median); and each band's samples
        that reach outside the frame (:func:`_border_inside`), kept unless there are many (:data:`_TOO_MANY`).

        The box blur is one whole-frame call, in place: its running sums down the columns make a row's value
        depend on where the call starts."""
        h, w = luma.shape
        prev_levels = _levels(prev)  # the remap's source: whole
        err = np.empty((h, w), np.float32)
        trusted = np.empty(((h + 1) // 2, (w + 1) // 2), bool)
        borders: list[_Border] = []
        for a0, a1 in bands:
            maps = self._maps(back, a0, a1)
            cv2.absdiff(_levels(luma[a0:a1]), _sample(prev_levels, maps), dst=err[a0:a1])
            sampled = w_fb[a0:a1:2, ::2] > 0.5
            border = _border_inside(maps, h, w)
            if border is not None:
                inside = np.ones((a1 - a0, w), np.float32)
                inside.reshape(-1)[border[0]] = border[1]
                sampled &= inside[::2, ::2] > 0.99
            trusted[a0 // 2 : (a1 + 1) // 2] = sampled
            borders.append(border if border is None or border[0].size <= (a1 - a0) * w // 8 else _TOO_MANY)
        del prev_levels
        window = self.p.error_window
        return cv2.blur(err, (window, window), err), trusted, borders

    def _along_back(self, back: np.ndarray, plane: np.ndarray, add: np.ndarray,
                    bands: list[tuple[int, int]]) -> np.ndarray:
        """``add`` plus ``plane`` sampled along the back flow (zero outside the frame), a new frame-sized plane."""
        out = np.empty_like(add)
        for a0, a1 in bands:
            np.add(add[a0:a1], _sample(plane, self._maps(back, a0, a1)), out=out[a0:a1])
        return out

    def _maps(self, back: np.ndarray, a0: int, a1: int) -> tuple[np.ndarray, np.ndarray]:
        """The remap maps (x, y) of LQ rows [a0, a1): each pixel's position plus its back flow, the same additions
        as the whole frame's ``back + pixel_grid`` without a frame-sized grid (two planes: a remap reads them as
        it reads one 2-channel map, bit for bit, and they cost no interleaving)."""
        xs = np.arange(back.shape[2], dtype=np.float32)[None, :]
        return back[0, a0:a1] + xs, back[1, a0:a1] + np.arange(a0, a1, dtype=np.float32)[:, None]

    def _erode_and_blur(self, weight: np.ndarray, bands: list[tuple[int, int]]) -> np.ndarray:
        """The mask eroded and blurred as the parameters say, band by band: each band's rows are cut from a strip
        with enough margin rows for both windows, so they equal the whole-frame filters' rows bit for bit."""
        p = self.p
        margin = (p.erode // 2 if p.erode > 1 else 0) + (math.ceil(4 * p.mask_blur) + 1 if p.mask_blur > 0 else 0)
        if margin == 0:
            return weight
        h = weight.shape[0]
        out = np.empty_like(weight)
        for a0, a1 in bands:
            r0, r1 = max(a0 - margin, 0), min(a1 + margin, h)
            strip = weight[r0:r1]
            if p.erode > 1:
                strip = cv2.erode(strip, np.ones((p.erode, p.erode), np.uint8))
            if p.mask_blur > 0:  # OpenCV's float kernel reaches cvRound(8 sigma + 1) | 1 // 2 <= ceil(4 sigma) + 1
                strip = cv2.GaussianBlur(strip, (0, 0), p.mask_blur)
            out[a0:a1] = strip[a0 - r0 : a1 - r0]
        return out

    def __call__(self, frame: Frame) -> Frame:
        """The frame with its image smoothed against the history (unchanged on a reset)."""
        image = frame.image
        lq = frame.source_image if frame.source_image is not None else image
        luma, luma8 = _lq_luma(lq)
        key = (lq.shape, image.shape, image.dtype)
        h = self.history
        if self.p.strength <= 0.0 or h is None or h.scene_id != frame.scene_id or h.key != key:
            self.reset()
            self.history = _History(luma, luma8, image, frame.scene_id, key)
            self.last_weight = 0.0
            return frame
        back, w = self.confidence(h.luma, h.luma8, luma, luma8)
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


def _lq_luma(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BT.601 luma of an RGB uint8/uint16 LQ image as ``cvtColor`` gives it, and as the 8-bit image DIS wants
    (bit for bit the 8-bit image the smoother kept before). The float levels are not kept: :func:`_levels`
    derives them when needed, so a frame held for the next costs 1 or 3 bytes a pixel, not 5."""
    y = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return (y, y) if y.dtype == np.uint8 else (y, cv2.convertScaleAbs(_levels(y)))


def _levels(luma: np.ndarray) -> np.ndarray:
    """Luma in 8-bit level units as float32 (16-bit sources keep their fraction)."""
    levels = luma.astype(np.float32)
    if luma.dtype != np.uint8:
        levels *= np.float32(255.0 / 65535.0)
    return levels


def _lq_bands(h: int, w: int, pixels: int) -> list[tuple[int, int]]:
    """Row ranges [a0, a1) of about ``pixels`` pixels covering h rows, each starting on an even row (the median
    samples every other row and column)."""
    rows = max(pixels // w, 2)
    rows += rows % 2
    return [(a0, min(a0 + rows, h)) for a0 in range(0, h, rows)]


def _planes(flow: Flow) -> np.ndarray:
    """``flow`` (h x w x 2) as its x and y planes (2 x h x w), in its own memory: one extra plane while it is made
    instead of two."""
    h, w, _ = flow.shape
    flat = flow.reshape(-1)
    y = cv2.extractChannel(flow, 1)
    rows = max((1 << 18) // w, 1)
    for a0 in range(0, h, rows):  # x values to the front, a band at a time, each read before it is written over
        a1 = min(a0 + rows, h)
        dst = flat[a0 * w : a1 * w].reshape(a1 - a0, w)
        if a1 <= 2 * a0:  # the band's new place lies before its old one
            cv2.extractChannel(flow[a0:a1], 0, dst)
        else:
            dst[:] = cv2.extractChannel(flow[a0:a1], 0)
    flat[h * w :] = y.reshape(-1)
    return flat.reshape(2, h, w)


def _magnitude(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``cv2.magnitude`` of two whole planes into a new plane that starts 16 bytes past a 64-byte boundary.

    IPP computes the values before the output's first 32-byte boundary and the last ``(n - those) % 8`` with other
    code than the rest, an ulp apart at times, so the result depends on the call's extent (hence no bands) and on
    where its output lies. glibc maps a plane as large as an 8K source's (133 MB) unless its heap has room for it,
    and numpy's plane then starts 16 bytes past a page: what the whole-frame code got there. Pinned, smaller frames
    get the same too, instead of wherever the heap happens to put a plane."""
    buf = np.empty(x.size + 16, np.float32)
    start = (16 - buf.ctypes.data) % 64 // 4
    return cv2.magnitude(x, y, buf[start : start + x.size].reshape(x.shape))


def _sample(plane: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """``plane`` sampled bilinearly at the positions ``maps`` (x, y), 0 outside (the confidence's one remap)."""
    return cv2.remap(plane, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


_TRANSLATED_COLUMNS = 4096  # border samples per row of the small remap (remap wants fewer than 32767 a side)
_Border = tuple[np.ndarray, np.ndarray] | None  # flat indices and inside weights of a band's border samples
_TOO_MANY: _Border = (np.empty(0, np.intp), np.empty(0, np.float32))  # a band whose border was not kept: find it again


def _border_inside(maps: tuple[np.ndarray, np.ndarray], h: int, w: int) -> _Border:
    """The samples of remap maps (x, y) whose bilinear neighbours are not all inside the h x w frame: their flat
    indices in the maps, and the weight their inside neighbours carry (what remapping a plane of ones gives there;
    it gives exactly 1 everywhere else). None when there are none.

    A frame-sized plane of ones would be one more whole remap source. The same values come from a plane of ones
    at most 3 x 3 sampled at the positions moved by whole pixels, so that each keeps its fraction (the shift is
    exact in float) and which of its neighbours fall inside: ``x - clip(floor(x) - 1, 0, w - 3)``."""
    inside = cv2.bitwise_and(cv2.inRange(maps[0], 0.0, w - 1.0), cv2.inRange(maps[1], 0.0, h - 1.0))
    if cv2.countNonZero(inside) == inside.size:
        return None
    idx = np.flatnonzero(inside == 0)
    n = idx.size
    cols = min(n, _TRANSLATED_COLUMNS)
    rows = -(-n // cols)
    moved = []
    for m, size in zip(maps, (w, h)):
        c = np.zeros(rows * cols, np.float32)
        c[:n] = m.reshape(-1)[idx]
        c[:n] -= np.clip(np.floor(c[:n]) - 1.0, 0.0, max(size - 3, 0))
        moved.append(c.reshape(rows, cols))
    ones = np.ones((min(h, 3), min(w, 3)), np.float32)
    return idx, _sample(ones, (moved[0], moved[1])).reshape(-1)[:n]


def _output_bands(back: np.ndarray, weight: np.ndarray, scale: np.ndarray, H: int, W: int,
                  band_pixels: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(y0, y1, flow, weight)`` for bands of output rows [y0, y1) that cover the H x W output: the LQ flow (x and
    y planes, 2 x h x w) times ``scale`` and the LQ weight, each resized (bilinear) to the output grid, contiguous
    and writable, every row bit for bit what one whole-frame ``cv2.resize`` of the flow (h x w x 2) gives.

    A band resizes its own strip of LQ rows (``Q`` margin rows each side, cropped after). OpenCV samples output
    row y at ``fy = float((y + 0.5) * h / H - 0.5)`` and weighs its two source rows by ``fy``'s fraction; with
    H / h = P / Q in lowest terms, a strip starting at an LQ row that is a multiple of Q has the same ratio and
    its rows fall on the frame's rows, and when P is a power of two (and 2Ph < 2**24) every ``fy`` is exact in
    float, so the strip's weights equal the frame's. Otherwise (x3, 1.5, 2.5: ``fy`` rounds differently at a
    strip's smaller magnitudes) the flow and weight are resized whole, the one whole-frame fallback, and only
    the later steps are banded."""
    h = back.shape[1]
    g = math.gcd(H, h)
    P, Q = H // g, h // g
    rows = max(band_pixels // W, 1)  # output rows per band
    if rows >= H or P & (P - 1) or 2 * P * h >= 1 << 24:
        flow = cv2.resize(_flow_rows(back, 0, h, scale), (W, H), interpolation=cv2.INTER_LINEAR)
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
        flow = cv2.resize(_flow_rows(back, r0, r1, scale), (W, hs), interpolation=cv2.INTER_LINEAR)
        w_hr = cv2.resize(weight[r0:r1], (W, hs), interpolation=cv2.INTER_LINEAR)
        yield y0, y1, flow[y0 - ys : y1 - ys], w_hr[y0 - ys : y1 - ys]


def _flow_rows(back: np.ndarray, r0: int, r1: int, scale: np.ndarray) -> np.ndarray:
    """Rows [r0, r1) of the flow planes ``back`` as an h x w x 2 flow, times ``scale`` (x, y)."""
    rows = cv2.merge([back[0, r0:r1], back[1, r0:r1]])
    rows *= scale
    return rows
