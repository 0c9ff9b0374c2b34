"""Cheap per-frame degradation estimates (noise, blur, blockiness, ringing) on a sample of luma tiles.

Noise, blockiness and ringing live at the pixel scale (a downscale would average the noise away and
misalign the 8x8 coding grid), so they are measured at full resolution, but only on a fixed budget of
64x64 tiles spread over the frame: the cost is bounded whatever the frame size. Tiles start on
multiples of 64, so each tile's 8x8 grid is the codec's grid. Blur and ringing are read from 1-D
profiles across edges, a few thousand short vectors, which is far cheaper than 2-D filtering.
Every filter here is a handful of shifted adds in numpy: on a busy CPU these beat small-kernel
convolutions, and numpy's single thread does not fight the decoder's and the model's threads (torch's
intra-op threads slowed this stage twenty-fold on a loaded 2-core machine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DEGRADATION_FIELDS",
    "EstimatorParams",
    "EdgeProfiles",
    "luma_tiles",
    "edge_profiles",
    "noise_sigma",
    "blur_width",
    "blockiness",
    "ringing",
    "degradation_vector",
]

# The layout of Frame.degradation (float32). The model is conditioned on it: append, never reorder.
DEGRADATION_FIELDS: tuple[str, ...] = (
    "noise",  # std of the luma noise, in 8-bit code values (0 = clean; ~5 is visible grain)
    "blur",  # edge width as a Gaussian sigma in pixels (~0.5-1.2 for a sharp photo; larger is blurrier)
    "blockiness",  # 8x8 grid discontinuity: boundary / interior gradient ratio minus 1 (0 = no blocks)
    "ringing",  # overshoot and ripple of the typical edge, as a fraction of its step (0 = clean step)
)

TILE = 64
REACH = 8  # profile half-length: enough for a blur sigma of ~5 px after the extra sigma-2 blur
RING_REACH = 6  # ringing reads the inner part: compression ripples stay within a block of the edge
_LUMA_601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class EstimatorParams:
    """Knobs of the per-frame estimators; the defaults were tuned on held-out photographs."""

    max_tiles: int = 48  # 64x64 luma tiles analysed per frame (48 is half of a 480p frame, ~0.2 MP)
    noise_percentile: float = 10.0  # the flattest fraction of 20x20 blocks that noise is read on
    edge_threshold: float = 0.05  # luma/pixel gradient (after a light blur) that counts as an edge
    max_profiles: int = 2048  # edge profiles kept per frame (a strided subset beyond that)


@dataclass
class EdgeProfiles:
    """Luma across edges: ``profiles_EL`` rises left to right (``L = 2 * REACH + 1``), ``strength_E``."""

    profiles_EL: np.ndarray
    strength_E: np.ndarray


def luma_tiles(image: np.ndarray, max_tiles: int = 48) -> np.ndarray:
    """``N x 64 x 64`` float luma in [0, 1] (BT.601 weights) from an HxWx3 RGB uint8/uint16 frame.

    Tiles are taken on a regular grid with a stride chosen so that at most ``max_tiles`` are kept; only
    those pixels are converted to float, which is most of the saving on a big frame.
    """
    h, w = image.shape[:2]
    if h < TILE or w < TILE:  # smaller than one tile: pad by reflection (the estimates see a mirror)
        image = np.pad(image, ((0, max(TILE - h, 0)), (0, max(TILE - w, 0)), (0, 0)), mode="reflect")
        h, w = image.shape[:2]
    nh, nw = h // TILE, w // TILE
    step = max(1, math.ceil(math.sqrt(nh * nw / max_tiles)))
    while len(range(0, nh, step)) * len(range(0, nw, step)) > max_tiles:
        step += 1
    rows = np.arange((nh - 1) % step // 2, nh, step)
    cols = np.arange((nw - 1) % step // 2, nw, step)
    # one gather: the two index arrays, split by a slice, put rows x cols first -> rows x cols x 64 x 64 x 3
    blocks = image[: nh * TILE, : nw * TILE].reshape(nh, TILE, nw, TILE, 3)[rows[:, None], :, cols[None, :]]
    wts = _LUMA_601 / np.float32(255.0 if image.dtype == np.uint8 else 65535.0)
    y = blocks[..., 0] * wts[0] + blocks[..., 1] * wts[1] + blocks[..., 2] * wts[2]  # float32 from here
    return y.reshape(-1, TILE, TILE)


def noise_sigma(y_NHW: np.ndarray, percentile: float = 10.0) -> float:
    """Noise std in 8-bit units: Immerkaer's estimate on 20x20 blocks, read on the flattest blocks.

    Immerkaer's mask is the outer product of two second differences, so it cancels smooth content; what
    texture still leaks in makes each block's estimate an upper bound of its noise, and the low
    percentile over blocks reads it where the picture is flat, where the bound is tight.
    """
    y = y_NHW[:, :62, :62]
    d = y[:, :-2] + y[:, 2:] - 2 * y[:, 1:-1]  # second difference down the columns
    r = np.abs(d[:, :, :-2] + d[:, :, 2:] - 2 * d[:, :, 1:-1])  # then along the rows: 60 x 60
    per_block = r.reshape(-1, 3, 20, 3, 20).mean(axis=(2, 4)).ravel() * (math.sqrt(math.pi / 2) / 6.0)
    k = min(per_block.size - 1, int(per_block.size * percentile / 100.0))
    return float(np.partition(per_block, k)[k]) * 255.0


def edge_profiles(y_NHW: np.ndarray, threshold: float, max_profiles: int = 2048) -> EdgeProfiles:
    """Profiles across near-vertical and near-horizontal edges, at gradient peaks above ``threshold``.

    The gradient is taken after a [1, 2, 1] blur in both directions (so grain does not make peaks); a
    peak is a local maximum along the edge's normal. Restricting to edges within ~27 degrees of the
    axes keeps the profile a plain row or column, with no interpolation.
    """
    s = y_NHW[:, 1:-1] * 0.5 + (y_NHW[:, :-2] + y_NHW[:, 2:]) * 0.25
    s = s[:, :, 1:-1] * 0.5 + (s[:, :, :-2] + s[:, :, 2:]) * 0.25  # (H-2) x (W-2), offset by 1
    gx = (s[:, 1:-1, 2:] - s[:, 1:-1, :-2]) * 0.5  # (H-4) x (W-4), offset by 2
    gy = (s[:, 2:, 1:-1] - s[:, :-2, 1:-1]) * 0.5
    offsets = np.arange(-REACH, REACH + 1)
    per_direction = max(1, max_profiles // 2)
    profiles, strengths = [], []
    for g, other, img in ((gx, gy, y_NHW), (gy.transpose(0, 2, 1), gx.transpose(0, 2, 1), y_NHW.transpose(0, 2, 1))):
        a = np.abs(g)
        core = a[:, :, REACH - 2 : -(REACH - 2)]  # columns whose profile fits in the tile
        peak = (core > threshold) & (core > 2 * np.abs(other[:, :, REACH - 2 : -(REACH - 2)]))
        peak &= (core >= a[:, :, REACH - 3 : -(REACH - 1)]) & (core > a[:, :, REACH - 1 : a.shape[2] - REACH + 3])
        n, r, c = np.unravel_index(np.flatnonzero(peak), peak.shape)  # 4x faster than np.nonzero
        if n.size > per_direction:  # a strided subset: spread over the frame, cost bounded
            keep = np.linspace(0, n.size - 1, per_direction).astype(np.int64)
            n, r, c = n[keep], r[keep], c[keep]
        gr, gc = r, c + REACH - 2  # gradient-array coordinates; the tile's are 2 more
        sign = np.sign(g[n, gr, gc])
        profiles.append(img[n[:, None], (gr + 2)[:, None], (gc + 2)[:, None] + offsets] * sign[:, None])
        strengths.append(a[n, gr, gc])
    return EdgeProfiles(np.concatenate(profiles).astype(np.float32), np.concatenate(strengths))


def _smooth_profiles(p_EL: np.ndarray, sigma: float) -> np.ndarray:
    """1-D Gaussian blur of each profile; only the centre 5 samples are returned (all the caller reads)."""
    radius = REACH - 2
    t = np.arange(-radius, radius + 1, dtype=np.float32)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    out = p_EL[:, 0:5] * k[0]
    for j in range(1, 2 * radius + 1):  # 13 shifted adds on E x 5: cheaper than any windowed view
        out += p_EL[:, j : j + 5] * k[j]
    return out


def _central_slope(p_E5: np.ndarray) -> np.ndarray:
    """The steepest central difference among the 3 middle samples (the peak may sit off the centre)."""
    return ((p_E5[:, 2:] - p_E5[:, :-2]) * 0.5).max(axis=1)


def blur_width(edges: EdgeProfiles) -> float:
    """Edge width (Gaussian sigma, pixels) from how much a known extra blur lowers the edge slopes.

    At the centre of a step edge of width ``s`` blurred by ``a``, the slope is proportional to
    ``1 / sqrt(s^2 + a^2)``; the ratio of slopes at two known blurs gives ``s`` whatever the edge's
    contrast, so the estimate does not depend on content. The steepest fifth of the edges (after the
    wider blur: wide steps, not thin lines or grain) are used. NaN when the frame has no edge.
    """
    sa, sb = 1.0, 2.0
    if edges.strength_E.size < 8:
        return float("nan")
    slope_a = _central_slope(_smooth_profiles(edges.profiles_EL, sa))
    slope_b = _central_slope(_smooth_profiles(edges.profiles_EL, sb))
    strong = slope_b >= np.percentile(slope_b, 80)
    ratio = float(np.median(slope_a[strong] / np.maximum(slope_b[strong], 1e-6)))
    ratio = max(ratio, 1.0 + 1e-3)
    width2 = (sb * sb - ratio * ratio * sa * sa) / (ratio * ratio - 1.0)
    return math.sqrt(max(width2, 0.0))


def blockiness(y_NHW: np.ndarray) -> float:
    """Mean gradient across the 8x8 grid lines over that inside the blocks, minus one (0 = no grid)."""
    dx = np.abs(y_NHW[..., 1:57] - y_NHW[..., :56])  # dx[j] spans columns j, j+1; j = 7 crosses a line
    dy = np.abs(y_NHW[:, 1:57] - y_NHW[:, :56])
    phase_x = dx.reshape(-1, 7, 8).mean(axis=(0, 1))
    phase_y = dy.reshape(dy.shape[0], 7, 8, -1).mean(axis=(0, 1, 3))
    phases = phase_x + phase_y
    return float(phases[7] / max(float(phases[:7].mean()), 1e-6) - 1.0)


def ringing(edges: EdgeProfiles, min_step: float = 0.1) -> float:
    """Overshoot and ripple of the typical step edge: total variation of its profile beyond the step.

    Profiles are normalised to rise from 0 to 1 and their pointwise median taken: texture and noise,
    which differ from edge to edge, drop out, while the halo and ripples that sharpening or a band
    limit leave beside every edge remain. A clean step rises monotonically: 0 here.
    """
    p = edges.profiles_EL[:, REACH - RING_REACH : REACH + RING_REACH + 1]
    lo, hi = p[:, :2].mean(axis=1), p[:, -2:].mean(axis=1)
    step = hi - lo
    keep = step > min_step
    if int(keep.sum()) < 8:
        return 0.0  # no clear step: nothing to ring
    typical = np.median((p[keep] - lo[keep, None]) / step[keep, None], axis=0)
    return float(np.abs(np.diff(typical)).sum() - 1.0)


def degradation_vector(image: np.ndarray, params: EstimatorParams | None = None) -> np.ndarray:
    """The :data:`DEGRADATION_FIELDS` vector of one HxWx3 RGB frame (float32)."""
    p = params or EstimatorParams()
    y = luma_tiles(image, p.max_tiles)
    noise = noise_sigma(y, p.noise_percentile)
    # grain after the [1,2,1] blurs has ~0.4x its std per pixel; 3 of those is the floor for an edge
    edges = edge_profiles(y, max(0.01, 1.2 * noise / 255.0), p.max_profiles)
    blur = blur_width(edges)
    strong = edges.strength_E > p.edge_threshold
    ring = ringing(EdgeProfiles(edges.profiles_EL[strong], edges.strength_E[strong]))
    return np.array([noise, 0.0 if math.isnan(blur) else blur, blockiness(y), ring], dtype=np.float32)
