"""Cheap per-frame degradation estimates (noise, blur, blockiness, ringing) on a sample of luma tiles.

Noise, blockiness and ringing live at the pixel scale (a downscale would average the noise away and
misalign the 8x8 coding grid), so they are measured at full resolution, but only on a fixed budget of
64x64 tiles spread over the frame: the cost is bounded whatever the frame size. Tiles start on
multiples of 64, so each tile's 8x8 grid is the codec's grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "DEGRADATION_FIELDS",
    "EstimatorParams",
    "luma_tiles",
    "noise_sigma",
    "blur_width",
    "blockiness",
    "ringing",
    "degradation_vector",
]

# The layout of Frame.degradation (float32). The model is conditioned on it, so append, never reorder.
DEGRADATION_FIELDS: tuple[str, ...] = (
    "noise",  # std of the luma noise, in 8-bit code values (0 = clean; ~5 is visible grain)
    "blur",  # edge width as a Gaussian sigma in pixels (~1 for a sharp photo; larger is blurrier)
    "blockiness",  # 8x8 grid discontinuity: boundary / interior gradient ratio minus 1 (0 = no blocks)
    "ringing",  # high-frequency energy next to strong edges minus that in flat areas, 8-bit code values
)

TILE = 64
_LUMA_601 = (0.299, 0.587, 0.114)
# Immerkaer's mask: the difference of two Laplacians cancels smooth content (up to 2nd order), keeping noise
_IMMERKAER = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]).view(1, 1, 3, 3)


@dataclass
class EstimatorParams:
    """Knobs of the per-frame estimators; the defaults were tuned on held-out photographs."""

    max_tiles: int = 96  # 64x64 luma tiles analysed per frame (96 covers a 480p frame, ~0.4 MP)
    noise_percentile: float = 10.0  # flattest fraction of 20x20 blocks that the noise is read on
    edge_threshold: float = 0.05  # luma/pixel gradient (after a sigma-1 blur) that counts as a strong edge
    flat_threshold: float = 0.02  # luma/pixel gradient below which an area counts as flat


def luma_tiles(image: np.ndarray, max_tiles: int = 96) -> torch.Tensor:
    """``N x 1 x 64 x 64`` float luma in [0, 1] from an HxWx3 RGB uint8/uint16 frame.

    Tiles are taken on a regular grid with a stride chosen so that at most ``max_tiles`` are kept; only
    those pixels are converted to float, which is most of the saving on a big frame.
    """
    h, w = image.shape[:2]
    nh, nw = h // TILE, w // TILE
    if nh == 0 or nw == 0:  # smaller than one tile: analyse the whole frame, padded by reflection
        ph, pw = max(TILE - h, 0), max(TILE - w, 0)
        image = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect")[:TILE, : max(w, TILE)]
        h, w = image.shape[:2]
        nh, nw = 1, w // TILE
    step = max(1, math.ceil(math.sqrt(nh * nw / max_tiles)))
    rows = torch.arange((nh - 1) % step // 2, nh, step)
    cols = torch.arange((nw - 1) % step // 2, nw, step)
    x = torch.from_numpy(np.ascontiguousarray(image[: nh * TILE, : nw * TILE]))
    blocks = x.view(nh, TILE, nw, TILE, 3)[rows][:, :, cols]  # rows x 64 x cols x 64 x 3
    blocks = blocks.permute(0, 2, 4, 1, 3).reshape(-1, 3, TILE, TILE)
    peak = 255.0 if image.dtype == np.uint8 else 65535.0
    weights = torch.tensor(_LUMA_601).view(1, 3, 1, 1) / peak
    return (blocks.float() * weights).sum(1, keepdim=True)


def _gaussian(x_N1HW: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with replicated borders."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(x_N1HW, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))


def _grad_mag(x_N1HW: torch.Tensor) -> torch.Tensor:
    """Central-difference gradient magnitude (luma per pixel), same size as the input."""
    x = F.pad(x_N1HW, (1, 1, 1, 1), mode="replicate")
    gx = (x[:, :, 1:-1, 2:] - x[:, :, 1:-1, :-2]) * 0.5
    gy = (x[:, :, 2:, 1:-1] - x[:, :, :-2, 1:-1]) * 0.5
    return torch.sqrt(gx * gx + gy * gy)


def noise_sigma(y_N1HW: torch.Tensor, percentile: float = 10.0) -> float:
    """Noise std in 8-bit units: Immerkaer's estimate on 20x20 blocks, read on the flattest blocks.

    Texture leaks into the mask's response, so a block's estimate is an upper bound of its noise; the low
    percentile over blocks reads it where the picture is flat, where the bound is tight.
    """
    r = F.conv2d(y_N1HW, _IMMERKAER).abs()[:, :, :60, :60]  # 62x62 valid, cropped to 3x3 blocks of 20
    per_block = F.avg_pool2d(r, 20).flatten() * math.sqrt(math.pi / 2) / 6.0
    k = max(1, int(per_block.numel() * percentile / 100.0))
    return float(torch.kthvalue(per_block, k).values) * 255.0


def blur_width(y_N1HW: torch.Tensor, min_gradient: float = 0.01) -> float:
    """Edge width (Gaussian sigma, pixels) from how much a known extra blur lowers the edge peaks.

    At the centre of a step edge of width ``s`` blurred by ``a``, the gradient is proportional to
    ``1 / sqrt(s^2 + a^2)``; the ratio of peaks at two known blurs gives ``s`` whatever the edge's
    contrast, so the estimate does not depend on content. The strongest fifth of the edges are used:
    there the ratio is least moved by noise.
    """
    sa, sb = 1.0, 2.0
    g1 = _grad_mag(_gaussian(y_N1HW, sa))
    g2 = _grad_mag(_gaussian(y_N1HW, sb))
    peaks = (g2 == F.max_pool2d(g2, 3, stride=1, padding=1)) & (g2 > min_gradient)
    peaks[:, :, :4] = False  # the replicated border makes false peaks
    peaks[:, :, -4:] = False
    peaks[:, :, :, :4] = False
    peaks[:, :, :, -4:] = False
    strength = g2[peaks]
    if strength.numel() < 8:
        return float("nan")  # no edge to measure on (a flat frame): not blurry, not sharp
    k = max(1, int(strength.numel() * 0.8))
    strong = strength >= torch.kthvalue(strength, k).values
    ratio = float(torch.median(g1[peaks][strong] / strength[strong]))
    ratio = max(ratio, 1.0 + 1e-3)
    width2 = (sb * sb - ratio * ratio * sa * sa) / (ratio * ratio - 1.0)
    return math.sqrt(max(width2, 0.0))


def blockiness(y_N1HW: torch.Tensor) -> float:
    """Mean gradient across the 8x8 grid lines over that inside the blocks, minus one (0 = no grid)."""
    dx = (y_N1HW[..., 1:] - y_N1HW[..., :-1]).abs()[..., :56]  # dx[j] spans columns j, j+1
    dy = (y_N1HW[..., 1:, :] - y_N1HW[..., :-1, :]).abs()[..., :56, :]
    phase_x = dx.reshape(*dx.shape[:-1], 7, 8).mean(dim=(0, 1, 2, 3))  # mean |dx| per column phase
    phase_y = dy.reshape(dy.shape[0], 1, 7, 8, dy.shape[-1]).mean(dim=(0, 1, 2, 4))
    phases = phase_x + phase_y
    interior = phases[:7].mean()
    return float(phases[7] / interior.clamp_min(1e-6) - 1.0)


def ringing(y_N1HW: torch.Tensor, edge_threshold: float = 0.05, flat_threshold: float = 0.02) -> float:
    """Ripple beside strong edges: mean |high-pass| 2-5 px from an edge minus that on flat areas.

    Compression and sharpening leave ripples in the flat side of an edge; subtracting the flat-area level
    takes out noise and grain, which are everywhere.
    """
    smooth = _gaussian(y_N1HW, 1.0)
    grad = _grad_mag(smooth)
    edges = (grad > edge_threshold).float()
    near = F.max_pool2d(edges, 11, stride=1, padding=5) - F.max_pool2d(edges, 5, stride=1, padding=2)
    near = (near > 0) & (grad < flat_threshold * 2)
    far = (F.max_pool2d(edges, 17, stride=1, padding=8) == 0) & (grad < flat_threshold)
    if int(near.sum()) < 16:
        return 0.0
    hp = (y_N1HW - smooth).abs() * 255.0
    far_level = float(hp[far].mean()) if int(far.sum()) >= 16 else 0.0
    return math.log2((float(hp[near].mean()) + 0.5) / (far_level + 0.5))


def degradation_vector(image: np.ndarray, params: EstimatorParams | None = None) -> np.ndarray:
    """The :data:`DEGRADATION_FIELDS` vector of one HxWx3 RGB frame (float32)."""
    p = params or EstimatorParams()
    with torch.inference_mode():
        y = luma_tiles(image, p.max_tiles)
        blur = blur_width(y)
        return np.array(
            [
                noise_sigma(y, p.noise_percentile),
                0.0 if math.isnan(blur) else blur,
                blockiness(y),
                ringing(y, p.edge_threshold, p.flat_threshold),
            ],
            dtype=np.float32,
        )
