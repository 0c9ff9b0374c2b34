"""Cheap per-frame degradation estimates (noise, blur, blockiness, ringing, detail loss) on luma tiles.

Noise, blockiness and ringing live at the pixel scale (a downscale would average the noise away and
misalign the 8x8 coding grid), so they are measured at full resolution, but only on a fixed budget of
64x64 tiles spread over the frame: the cost is bounded whatever the frame size. Tiles start on
multiples of 64, so each tile's 8x8 grid is the codec's grid. Blur and ringing are read from 1-D
profiles across edges, a few thousand short vectors, which is far cheaper than 2-D filtering.

The tiles are kept side by side as one mosaic (a grid of whole tiles, as if the frame's other rows
and columns of tiles were dropped), so each filter is one OpenCV call over a few hundred wide rows:
on a 480p frame's mosaic OpenCV's small kernels and absolute differences are 2-5x faster than numpy's
shifted adds and slices, and 1.6x faster than the same call over a tall stack of 64-pixel rows. A
filter's reach crosses into the neighbouring tile only at the tile's outer pixels, which no estimate
reads (detail loss, whose filters reach 4 px, reads each tile's 56x56 interior). No torch: its intra-op
threads slowed this stage twenty-fold on a loaded 2-core machine; the OpenCV calls here are
single-threaded at these sizes (timed the same under ``cv2.setNumThreads(1)``).

Against the truth of real sources (``bench/analysis_sources.py``: held-out photographs made into
``vidsr.degrade.sources`` kinds), the first four fields do not tell a clean source from an
encoded one: their means move by at most a quarter of their spread between pictures, and none orders
clean < x264 CRF 23 < CRF 28 on more than half of the pictures. ``detail_loss`` does, on all 31 at x2
(81% at x4, where the small frames give one tile each). The noise field reads sensor noise wherever it is left in
the pixels (sigma 4 before x264 CRF 12 or 16, or with no codec: above the clean source on every
picture), but the evaluation's ``camera`` kind (sigma 4, then CRF 24) has none left to read: at CRF 24
the encoder removes it, so the frame's fine-band energy is that of the same source encoded without the
noise, and the field reads it, rightly, like the other CRF 23-28 encodes (below the clean source,
whose CRF 12 keeps the photograph's own grain).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

__all__ = [
    "DEGRADATION_FIELDS",
    "EstimatorParams",
    "EdgeProfiles",
    "luma_tiles",
    "edge_profiles",
    "fine_band",
    "noise_sigma",
    "blur_width",
    "blockiness",
    "ringing",
    "ANALYSIS_FIELDS",
    "detail_loss",
    "degradation_vector",
    "analysis_vector",
]

# The layout of Frame.degradation (float32). Models are conditioned on its first ``cond_dim`` fields: append,
# never reorder (cnn_x4 reads the first 4, cnn_x2 all 5).
DEGRADATION_FIELDS: tuple[str, ...] = (
    "noise",  # std of the luma noise, in 8-bit code values (0 = clean; ~5 is visible grain)
    "blur",  # edge width as a Gaussian sigma in pixels (~0.5-1.2 for a sharp photo; larger is blurrier)
    "blockiness",  # 8x8 grid discontinuity: boundary / interior gradient ratio minus 1 (0 = no blocks)
    "ringing",  # overshoot and ripple of the typical edge, as a fraction of its step (0 = clean step)
    "detail_loss",  # finest-scale detail missing from textured areas (codec or blur); ~0.25 clean, rises
)
# What degrade-analysis measures and reports: today the same fields (a field measured for the report before any
# model reads it would go here, after the conditioning fields).
ANALYSIS_FIELDS: tuple[str, ...] = DEGRADATION_FIELDS

TILE = 64
REACH = 8  # profile half-length: enough for a blur sigma of ~5 px after the extra sigma-2 blur
RING_REACH = 6  # ringing reads the inner part: compression ripples stay within a block of the edge
NOISE_BLOCK = 20  # noise is read per 20x20 block of the tile's 60x60 interior (3x3 blocks a tile)
BLUR_SIGMAS = (1.0, 2.0)  # the two known extra blurs whose slope ratio gives the edge width
_SMOOTH = np.float32([1, 2, 1]) / 4  # the light blur before the gradient: grain does not make peaks
_IMMERKAER = np.float32([1, -2, 1])  # second difference; its outer product is Immerkaer's mask
DETAIL_MARGIN = 4  # detail loss reads each tile's interior: its widest filter (sigma-1.5 blur, Sobel) reaches 4 px
# detail loss's filters, each a Gaussian (truncated at 2 sigma: the reach stays short) and then a small
# kernel, folded into one separable kernel so that each is one OpenCV call
_GAUSS_1 = cv2.getGaussianKernel(5, 1.0, cv2.CV_64F).ravel()
_GAUSS_15 = cv2.getGaussianKernel(7, 1.5, cv2.CV_64F).ravel()
_COARSE = np.convolve(_GAUSS_1, [1, -2, 1]).astype(np.float32)  # the second difference after a sigma-1 blur
_GRAD_D = np.convolve(_GAUSS_15, [0.5, 0, -0.5]).astype(np.float32)  # central difference after sigma 1.5
_GRAD_S = np.convolve(_GAUSS_15, [0.25, 0.5, 0.25]).astype(np.float32)  # with Sobel's [1, 2, 1] across


@dataclass
class EstimatorParams:
    """Knobs of the per-frame estimators; the defaults were tuned on held-out photographs."""

    max_tiles: int = 48  # at most this many 64x64 luma tiles per frame (28 on a 480p frame, ~0.11 MP)
    noise_percentile: float = 10.0  # the flattest fraction of 20x20 blocks that noise is read on
    edge_threshold: float = 0.05  # luma/pixel gradient (after a light blur) that counts as an edge
    max_profiles: int = 2048  # edge profiles kept per frame (a strided subset beyond that)
    detail_gate: float = 1.0  # mid-scale gradient (8-bit levels per pixel) from which a pixel is texture


@dataclass
class EdgeProfiles:
    """Luma across edges, one column each: ``profiles_LE`` rises top to bottom (``L = 2 * REACH + 1``);
    the gradient at its centre, ``strength_E``. Columns, so that per-sample work runs along rows."""

    profiles_LE: np.ndarray
    strength_E: np.ndarray


def luma_tiles(image: np.ndarray, max_tiles: int = 48) -> np.ndarray:
    """A mosaic of 64x64 float32 luma tiles in [0, 1] (BT.601) from an HxWx3 RGB uint8/uint16 frame.

    Tiles are taken on a regular grid with a stride chosen so that at most ``max_tiles`` are kept, and
    stay in place relative to each other (``rows*64 x cols*64``); only those pixels are converted to
    float, which is most of the saving on a big frame.
    """
    h, w = image.shape[:2]
    if h < TILE or w < TILE:  # smaller than one tile: pad by reflection (the estimates see a mirror)
        image = np.pad(image, ((0, max(TILE - h, 0)), (0, max(TILE - w, 0)), (0, 0)), mode="reflect")
        h, w = image.shape[:2]
    nh, nw = h // TILE, w // TILE
    step = max(1, math.ceil(math.sqrt(nh * nw / max_tiles)))
    while len(range(0, nh, step)) * len(range(0, nw, step)) > max_tiles:
        step += 1
    tiles = image[: nh * TILE, : nw * TILE].reshape(nh, TILE, nw, TILE, 3)
    tiles = tiles[(nh - 1) % step // 2 :: step, :, (nw - 1) % step // 2 :: step]  # a view: no copy yet
    rows, cols = tiles.shape[0], tiles.shape[2]
    mosaic = tiles.astype(np.float32).reshape(rows * TILE, cols * TILE, 3)  # gather and convert: one pass
    y = cv2.cvtColor(mosaic, cv2.COLOR_RGB2GRAY)  # 0.299 R + 0.587 G + 0.114 B
    y *= np.float32(1.0 / (255.0 if image.dtype == np.uint8 else 65535.0))
    return y


def _tile_view(a: np.ndarray) -> np.ndarray:
    """``rows x 64 x cols x 64`` view of a per-pixel mosaic array (no copy)."""
    return a.reshape(a.shape[0] // TILE, TILE, a.shape[1] // TILE, TILE)


def fine_band(y: np.ndarray) -> np.ndarray:
    """``|Immerkaer's mask|`` over the mosaic (not yet in noise-sigma units: times sqrt(pi/2) / 6)."""
    return np.abs(cv2.sepFilter2D(y, -1, _IMMERKAER, _IMMERKAER))


def noise_sigma(y: np.ndarray, percentile: float = 10.0, fine: np.ndarray | None = None) -> float:
    """Noise std in 8-bit units: Immerkaer's estimate on 20x20 blocks, read on the flattest blocks.

    Immerkaer's mask is the outer product of two second differences, so it cancels smooth content; what
    texture still leaks in makes each block's estimate an upper bound of its noise, and the low
    percentile over blocks reads it where the picture is flat, where the bound is tight. ``fine``: the
    :func:`fine_band` of ``y``, when the caller has it already.
    """
    r = fine_band(y) if fine is None else fine
    inner = _tile_view(r)[:, 1 : 1 + 3 * NOISE_BLOCK]  # each tile's 60x60 interior, 3 x 3 blocks
    rows_sum = inner.reshape(inner.shape[0], 3, NOISE_BLOCK, -1).sum(axis=2)  # rows x 3 x W
    sums = _tile_view_cols(rows_sum)[..., 1 : 1 + 3 * NOISE_BLOCK]  # rows x 3 x cols x 60
    per_block = sums.reshape(*sums.shape[:3], 3, NOISE_BLOCK).sum(axis=-1).ravel()
    per_block *= math.sqrt(math.pi / 2) / (6.0 * NOISE_BLOCK * NOISE_BLOCK)
    k = min(per_block.size - 1, int(per_block.size * percentile / 100.0))
    return float(np.partition(per_block, k)[k]) * 255.0


def _tile_view_cols(a: np.ndarray) -> np.ndarray:
    """``... x cols x 64`` view of an array whose last axis runs across the mosaic."""
    return a.reshape(*a.shape[:-1], a.shape[-1] // TILE, TILE)


@lru_cache(maxsize=16)
def _valid_mask(shape: tuple[int, int], along: int) -> np.ndarray:
    """Mosaic pixels where a peak may be read: 2 px inside the tile (the gradient's reach), and far
    enough from the tile's edge along the normal (axis ``along``) for a whole profile to fit."""
    rows, cols = shape[0] // TILE, shape[1] // TILE
    inner = np.zeros(TILE, bool)
    inner[2 : TILE - 2] = True
    fits = np.zeros(TILE, bool)
    fits[REACH : TILE - REACH] = True
    across, normal = (inner, fits) if along == 1 else (fits, inner)
    return np.tile(across[:, None] & normal[None, :], (rows, cols))


def _in_tile_order(idx: np.ndarray, width: int, along: int) -> np.ndarray:
    """Flat mosaic indices ``idx`` (ascending) reordered tile by tile and, in a tile, line by line across
    the normal (rows for ``along=1``, columns for ``along=0``): the order the strided subset is drawn
    in, so that it spreads over the tiles and over each tile's lines.

    Ascending flat order is already row by row within a tile, so a stable sort on the tile (and, for
    ``along=0``, the column) finishes the job; with 16-bit keys numpy's stable sort is a radix sort.
    """
    r, c = np.divmod(idx, width)
    tile = (r // TILE) * (width // TILE) + c // TILE
    key = tile if along == 1 else tile * TILE + c % TILE
    if key.size and int(key.max()) <= np.iinfo(np.uint16).max:
        key = key.astype(np.uint16)
    return idx[np.argsort(key, kind="stable")]


def _spread(n: int, k: int) -> np.ndarray:
    """``np.linspace(0, n - 1, k).astype(int)`` (the same picks) without linspace's Python overhead."""
    picks = (np.arange(k, dtype=np.float64) * ((n - 1) / max(k - 1, 1))).astype(np.int64)
    picks[-1] = n - 1
    return picks


def edge_profiles(y: np.ndarray, threshold: float, max_profiles: int = 2048) -> EdgeProfiles:
    """Profiles across near-vertical and near-horizontal edges, at gradient peaks above ``threshold``.

    The gradient is taken after a [1, 2, 1] blur in both directions (so grain does not make peaks); a
    peak is a local maximum along the edge's normal. Restricting to edges within ~27 degrees of the
    axes keeps the profile a plain row or column, with no interpolation. The dense work is one blur
    and two absolute differences (twice the gradient: the threshold is doubled, the rest is a ratio);
    the local-maximum test and the signs are read only at the candidates, a few percent of the pixels.
    """
    s = cv2.sepFilter2D(y, -1, _SMOOTH, _SMOOTH)
    ax2, ay2 = np.empty_like(y), np.empty_like(y)  # 2 |gx|, 2 |gy|
    cv2.absdiff(s[1:-1, 2:], s[1:-1, :-2], dst=ax2[1:-1, 1:-1])
    cv2.absdiff(s[2:, 1:-1], s[:-2, 1:-1], dst=ay2[1:-1, 1:-1])
    for a in (ax2, ay2):  # the mosaic's outer pixels have no gradient (no peak is read there anyway)
        a[0] = a[-1] = a[:, 0] = a[:, -1] = 0.0
    width = y.shape[1]
    offsets = np.arange(-REACH, REACH + 1)
    per_direction = max(1, max_profiles // 2)
    flat_y, flat_s = y.ravel(), s.ravel()
    profiles, strengths = [], []
    for a, other, stride, along in ((ax2, ay2, 1, 1), (ay2, ax2, width, 0)):
        candidate = (a > 2 * threshold) & (a > 2 * other) & _valid_mask(y.shape, along)  # not np.maximum: 5x slower
        idx = np.flatnonzero(candidate)
        flat_a = a.ravel()
        peak_a = flat_a[idx]
        # a local maximum along the normal: not below the previous pixel, above the next
        idx = idx[(peak_a >= flat_a[idx - stride]) & (peak_a > flat_a[idx + stride])]
        if idx.size > per_direction:  # a strided subset: spread over the frame, cost bounded
            idx = _in_tile_order(idx, width, along)
            idx = idx[_spread(idx.size, per_direction)]
        sign = np.sign(flat_s[idx + stride] - flat_s[idx - stride])
        profiles.append(flat_y[offsets[:, None] * stride + idx] * sign)
        strengths.append(flat_a[idx] * np.float32(0.5))
    return EdgeProfiles(np.concatenate(profiles, axis=1), np.concatenate(strengths))


def _slope_matrix() -> np.ndarray:
    """``6 x L``: its product with the profiles is, for each of :data:`BLUR_SIGMAS`, the three central
    differences around the middle of each profile after a 1-D Gaussian blur: all that the blur
    estimate reads, as one small matrix product (blur and difference are both linear)."""
    radius = REACH - 2
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    m = np.zeros((2 * len(BLUR_SIGMAS), 5, 2 * REACH + 1))
    for i, sigma in enumerate(BLUR_SIGMAS):
        k = np.exp(-0.5 * (t / sigma) ** 2)
        for j in range(5):  # blurred sample j (of the centre 5) is centred on profile sample j + radius
            m[i, j, j : j + 2 * radius + 1] = k / k.sum()
    smooth = m[: len(BLUR_SIGMAS)]
    return ((smooth[:, 2:] - smooth[:, :-2]) * 0.5).reshape(-1, 2 * REACH + 1).astype(np.float32)


_SLOPES = _slope_matrix()


def _percentile(v: np.ndarray, q: float) -> float:
    """``np.percentile(v, q)`` (linear interpolation) by one partition: several times faster."""
    pos = (v.size - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, v.size - 1)
    part = np.partition(v, [lo, hi])
    return float(part[lo] + (part[hi] - part[lo]) * (pos - lo))


def _median_rows(a: np.ndarray) -> np.ndarray:
    """``np.median(a, axis=-1)`` by one partition along contiguous rows."""
    n = a.shape[-1]
    part = np.partition(a, [(n - 1) // 2, n // 2], axis=-1)
    return (part[..., (n - 1) // 2] + part[..., n // 2]) * 0.5


def blur_width(edges: EdgeProfiles) -> float:
    """Edge width (Gaussian sigma, pixels) from how much a known extra blur lowers the edge slopes.

    At the centre of a step edge of width ``s`` blurred by ``a``, the slope is proportional to
    ``1 / sqrt(s^2 + a^2)``; the ratio of slopes at two known blurs gives ``s`` whatever the edge's
    contrast, so the estimate does not depend on content. The steepest central difference among the
    3 middle samples is the slope (the peak may sit off the centre). The steepest fifth of the edges
    (after the wider blur: wide steps, not thin lines or grain) are used. NaN when the frame has no edge.
    """
    sa, sb = BLUR_SIGMAS
    if edges.strength_E.size < 8:
        return float("nan")
    d = _SLOPES @ edges.profiles_LE  # 6 x E: three differences at sigma a, three at sigma b
    slope_a = np.maximum(np.maximum(d[0], d[1]), d[2])
    slope_b = np.maximum(np.maximum(d[3], d[4]), d[5])
    strong = slope_b >= _percentile(slope_b, 80)
    ratio = float(_median_rows(slope_a[strong] / np.maximum(slope_b[strong], 1e-6)))
    ratio = max(ratio, 1.0 + 1e-3)
    width2 = (sb * sb - ratio * ratio * sa * sa) / (ratio * ratio - 1.0)
    return math.sqrt(max(width2, 0.0))


def blockiness(y: np.ndarray) -> float:
    """Mean gradient across the 8x8 grid lines over that inside the blocks, minus one (0 = no grid).

    Read on the pixel pairs (j, j + 1), j < 56, of each tile, both ways; the differences are summed down
    the mosaic's columns (and along its rows) first, leaving a few hundred numbers to split by phase.
    """
    dx = cv2.absdiff(y[:, 1:], y[:, :-1])  # dx[:, j] spans columns j, j+1; j = 7 (mod 8) crosses a line
    dy = cv2.absdiff(y[1:], y[:-1])
    # float32 sums of a few hundred differences: ~1e-6 relative, far below the estimate's own scatter
    col_x = np.append(cv2.reduce(dx, 0, cv2.REDUCE_SUM).ravel(), np.float32(0))  # per mosaic column
    row_y = np.append(cv2.reduce(dy, 1, cv2.REDUCE_SUM).ravel(), np.float32(0))  # per mosaic row
    per_line = 7 * TILE * (y.shape[0] // TILE) * (y.shape[1] // TILE)  # pairs summed into each phase
    phase_x = col_x.reshape(-1, TILE)[:, :56].reshape(-1, 8).sum(axis=0, dtype=np.float64) / per_line
    phase_y = row_y.reshape(-1, TILE)[:, :56].reshape(-1, 8).sum(axis=0, dtype=np.float64) / per_line
    phases = phase_x + phase_y
    return float(phases[7] / max(float(phases[:7].mean()), 1e-6) - 1.0)


def ringing(edges: EdgeProfiles, min_step: float = 0.1) -> float:
    """Overshoot and ripple of the typical step edge: total variation of its profile beyond the step.

    Profiles are normalised to rise from 0 to 1 and their pointwise median taken: texture and noise,
    which differ from edge to edge, drop out, while the halo and ripples that sharpening or a band
    limit leave beside every edge remain. A clean step rises monotonically: 0 here.
    """
    p = edges.profiles_LE[REACH - RING_REACH : REACH + RING_REACH + 1]
    lo, hi = (p[0] + p[1]) * 0.5, (p[-2] + p[-1]) * 0.5
    step = hi - lo
    keep = step > min_step
    if int(keep.sum()) < 8:
        return 0.0  # no clear step: nothing to ring
    typical = _median_rows((p[:, keep] - lo[keep]) / step[keep])
    return float(np.abs(np.diff(typical)).sum() - 1.0)


def detail_loss(
    y: np.ndarray, gate: float = 1.0, fine: float = 0.08, coarse: float = 0.04, fine_r: np.ndarray | None = None
) -> float:
    """How much of the finest-scale detail is missing from the frame's texture: about 0.27 (0.07 between
    pictures) on a clean source, rising with codec strength (0.34 at x264 CRF 23, 0.38 at CRF 28, in that
    order on every held-out picture; ``bench/analysis_sources.py``).

    A codec quantises away the small high-frequency coefficients of texture, and that loss is what
    fools fine-band noise estimates; here it is measured on its own. Among textured pixels (gradient,
    after a sigma-1.5 blur, above ``gate`` 8-bit levels per pixel) it counts those whose finest-band
    response (Immerkaer's mask, in noise-sigma units) is below ``fine`` times their gradient: texture with
    no finest-scale detail left. Being relative to the local gradient, the count does not depend on
    contrast; divided by the same count one scale coarser (the mask after a sigma-1 blur, below
    ``coarse`` times the gradient), it depends less on how smooth the content is at the pixel scale,
    which a codec leaves largely alone. Blur also raises it (it removes the same detail; the blur field
    tells the two apart) and noise lowers it (it adds detail back). 0 when the frame has no texture.
    ``fine_r``: the :func:`fine_band` of ``y``, when the caller has it already.
    """
    to_sigma = math.sqrt(math.pi / 2) / 6.0
    fine_r = fine_band(y) if fine_r is None else fine_r
    coarse_r = np.abs(cv2.sepFilter2D(y, -1, _COARSE, _COARSE))
    grad = cv2.magnitude(cv2.sepFilter2D(y, -1, _GRAD_D, _GRAD_S), cv2.sepFilter2D(y, -1, _GRAD_S, _GRAD_D))
    textured = (grad > np.float32(gate / 255.0)) & _interior(y.shape)
    lost = np.count_nonzero(textured & (fine_r < grad * np.float32(fine / to_sigma)))
    lost_coarse = np.count_nonzero(textured & (coarse_r < grad * np.float32(coarse / to_sigma)))
    return lost / lost_coarse if lost_coarse else 0.0


@lru_cache(maxsize=16)
def _interior(shape: tuple[int, int]) -> np.ndarray:
    """Mosaic pixels at least :data:`DETAIL_MARGIN` inside their tile."""
    inner = np.zeros(TILE, bool)
    inner[DETAIL_MARGIN : TILE - DETAIL_MARGIN] = True
    return np.tile(inner[:, None] & inner[None, :], (shape[0] // TILE, shape[1] // TILE))


def _vector(image: np.ndarray, p: EstimatorParams, fields: int) -> np.ndarray:
    y = luma_tiles(image, p.max_tiles)
    fine = fine_band(y)
    noise = noise_sigma(y, p.noise_percentile, fine)
    # grain after the [1,2,1] blurs has ~0.4x its std per pixel; 3 of those is the floor for an edge
    edges = edge_profiles(y, max(0.01, 1.2 * noise / 255.0), p.max_profiles)
    blur = blur_width(edges)
    strong = edges.strength_E > p.edge_threshold
    ring = ringing(EdgeProfiles(edges.profiles_LE[:, strong], edges.strength_E[strong]))
    values = [noise, 0.0 if math.isnan(blur) else blur, blockiness(y), ring, detail_loss(y, p.detail_gate, fine_r=fine)]
    return np.array(values[:fields], dtype=np.float32)


def degradation_vector(image: np.ndarray, params: EstimatorParams | None = None) -> np.ndarray:
    """The :data:`DEGRADATION_FIELDS` vector of one HxWx3 RGB frame (float32): what models are conditioned on."""
    return _vector(image, params or EstimatorParams(), len(DEGRADATION_FIELDS))


def analysis_vector(image: np.ndarray, params: EstimatorParams | None = None) -> np.ndarray:
    """The :data:`ANALYSIS_FIELDS` vector of one HxWx3 RGB frame (float32): the conditioning fields (the
    same values :func:`degradation_vector` gives) and then the rest."""
    return _vector(image, params or EstimatorParams(), len(ANALYSIS_FIELDS))
