"""Full-reference fidelity on luma: PSNR and SSIM of Y, the numbers SR papers report.

Y is BT.601 luma of full-range RGB (kornia's ``rgb_to_ycbcr``), compared in [0, 1]. ``crop`` shaves
that many pixels off every border first, the usual SR convention (set it to the scale), so the
resampler's border handling does not dominate a small image's score.
"""

from __future__ import annotations

import kornia
import torch

__all__ = ["rgb_to_y", "psnr_y", "ssim_y"]


def rgb_to_y(x_BCHW: torch.Tensor) -> torch.Tensor:
    """``B x 1 x H x W`` luma from float RGB in [0, 1]."""
    return kornia.color.rgb_to_ycbcr(x_BCHW.float())[:, :1]


def _prepare(pred_BCHW: torch.Tensor, target_BCHW: torch.Tensor, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    if pred_BCHW.shape != target_BCHW.shape:
        raise ValueError(f"shapes differ: {tuple(pred_BCHW.shape)} vs {tuple(target_BCHW.shape)}")
    p, t = rgb_to_y(pred_BCHW.clamp(0, 1)), rgb_to_y(target_BCHW.clamp(0, 1))
    if crop > 0:
        p, t = p[..., crop:-crop, crop:-crop], t[..., crop:-crop, crop:-crop]
    return p, t


@torch.no_grad()
def psnr_y(pred_BCHW: torch.Tensor, target_BCHW: torch.Tensor, crop: int = 0) -> torch.Tensor:
    """PSNR (dB) of Y per image, shape ``B``; identical images give ``inf``.

    kornia pools one MSE over the whole batch, so each image goes through it on its own.
    """
    p, t = _prepare(pred_BCHW, target_BCHW, crop)
    out = []
    for i in range(p.shape[0]):
        if torch.equal(p[i], t[i]):
            out.append(torch.tensor(float("inf")))
        else:
            out.append(kornia.metrics.psnr(p[i : i + 1], t[i : i + 1], max_val=1.0))
    return torch.stack(out)


@torch.no_grad()
def ssim_y(pred_BCHW: torch.Tensor, target_BCHW: torch.Tensor, crop: int = 0, window: int = 11) -> torch.Tensor:
    """Mean SSIM of Y per image (Gaussian window 11, sigma 1.5, 'valid' so borders are not padded)."""
    p, t = _prepare(pred_BCHW, target_BCHW, crop)
    ssim_map = kornia.metrics.ssim(p, t, window_size=window, max_val=1.0, padding="valid")
    return ssim_map.flatten(1).mean(1)
