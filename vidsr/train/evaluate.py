"""Held-out fidelity of an SR function against bicubic on the fixed degradation presets (PSNR/SSIM on Y)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from kornia.metrics import ssim

from vidsr.degrade import degrade

__all__ = ["to_tensor", "luma", "psnr_y", "ssim_y", "bicubic_up", "evaluate"]


def to_tensor(img_HWC: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 -> ``1 x 3 x H x W`` float in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(img_HWC)).permute(2, 0, 1)[None].float() / 255.0


def luma(x_BCHW: torch.Tensor) -> torch.Tensor:
    """BT.601 luma in [0, 1] after 8-bit quantisation, the convention SR papers report on."""
    x = (x_BCHW.clamp(0, 1) * 255.0).round() / 255.0
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def psnr_y(sr_BCHW: torch.Tensor, hq_BCHW: torch.Tensor, border: int) -> float:
    a, b = luma(sr_BCHW), luma(hq_BCHW)
    if border:
        a, b = a[..., border:-border, border:-border], b[..., border:-border, border:-border]
    return float(10.0 * torch.log10(1.0 / F.mse_loss(a, b)))


def ssim_y(sr_BCHW: torch.Tensor, hq_BCHW: torch.Tensor, border: int) -> float:
    a, b = luma(sr_BCHW), luma(hq_BCHW)
    if border:
        a, b = a[..., border:-border, border:-border], b[..., border:-border, border:-border]
    return float(ssim(a, b, window_size=11).mean())


def bicubic_up(x_BCHW: torch.Tensor, scale: int) -> torch.Tensor:
    return F.interpolate(x_BCHW, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)


@torch.inference_mode()
def evaluate(
    sr: Callable[[torch.Tensor], torch.Tensor],
    images: list[tuple[str, np.ndarray]],
    scale: int,
    level: str = "medium",
    seed: int = 0,
) -> dict[str, float]:
    """Mean PSNR/SSIM (Y, ``scale``-pixel border cropped) of ``sr`` and of bicubic on the same LQ inputs."""
    rows = []
    for i, (_, img) in enumerate(images):
        h, w = (img.shape[0] // scale) * scale, (img.shape[1] // scale) * scale
        hq = to_tensor(img[:h, :w])
        lq, _ = degrade(hq, scale, level, seed=seed + i)
        out = sr(lq).clamp(0, 1)
        base = bicubic_up(lq, scale)
        rows.append((psnr_y(out, hq, scale), ssim_y(out, hq, scale), psnr_y(base, hq, scale), ssim_y(base, hq, scale)))
    m = np.mean(np.array(rows), axis=0)
    return {"psnr": m[0], "ssim": m[1], "bicubic_psnr": m[2], "bicubic_ssim": m[3], "gain_db": m[0] - m[2]}
