"""Colour shift: how far enhancement moved colour and brightness away from the input.

SR must add detail, not change tone; in video a tone change can pulse between frames. The output is
downscaled to the input's size (area averaging, antialiased: it keeps the low frequencies where
colour lives and drops the detail SR added), both go to CIELAB (D65, sRGB; kornia), and the shift is
the mean CIEDE2000 (scikit-image's ``deltaE_ciede2000``; kornia has none) and the mean absolute
difference per Lab channel. Differences are against the LQ input itself, noise and all: a perfect
denoiser scores a little above 0, a colour cast scores its size (a uniform +5 on L is 5 in ``abs_l``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import kornia
import numpy as np
import torch
import torch.nn.functional as F
from skimage.color import deltaE_ciede2000

__all__ = ["ColourShift", "colour_shift", "downscale_to"]


@dataclass(frozen=True)
class ColourShift:
    """Per-image means, each of shape ``B``: CIEDE2000 and |dL|, |da|, |db| (Lab units, L in 0-100)."""

    delta_e2000: torch.Tensor
    abs_l: torch.Tensor
    abs_a: torch.Tensor
    abs_b: torch.Tensor

    @property
    def abs_lab(self) -> torch.Tensor:
        """Mean absolute Lab difference, averaged over the three channels."""
        return (self.abs_l + self.abs_a + self.abs_b) / 3


def downscale_to(
    x_BCHW: torch.Tensor, size: tuple[int, int], mode: Literal["area", "bicubic"] = "area"
) -> torch.Tensor:
    """Antialiased downscale to ``size``: ``area`` (box average over each output pixel's footprint) or
    ``bicubic`` with antialiasing. Same size returns the input."""
    if tuple(x_BCHW.shape[-2:]) == tuple(size):
        return x_BCHW
    if mode == "area":
        return F.interpolate(x_BCHW, size=size, mode="area")
    return F.interpolate(x_BCHW, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


@torch.no_grad()
def colour_shift(
    out_BCHW: torch.Tensor, in_BCHW: torch.Tensor, mode: Literal["area", "bicubic"] = "area", crop: int = 0
) -> ColourShift:
    """Colour shift of an enhanced batch ``out`` against its input ``in`` (float RGB in [0, 1]).

    ``out`` may be any size (it is downscaled to ``in``'s); ``crop`` shaves that many input pixels
    off every border before averaging. Identical images give exactly 0.
    """
    if out_BCHW.ndim != 4 or out_BCHW.shape[:2] != in_BCHW.shape[:2]:
        raise ValueError(f"shapes do not pair: {tuple(out_BCHW.shape)} vs {tuple(in_BCHW.shape)}")
    ref = in_BCHW.float().clamp(0, 1)
    out = downscale_to(out_BCHW.float().clamp(0, 1), (ref.shape[-2], ref.shape[-1]), mode)
    if crop > 0:
        ref, out = ref[..., crop:-crop, crop:-crop], out[..., crop:-crop, crop:-crop]
    lab_ref, lab_out = kornia.color.rgb_to_lab(ref), kornia.color.rgb_to_lab(out)
    abs_lab = (lab_out - lab_ref).abs().mean(dim=(-2, -1)).double()  # B x 3
    de = [
        float(np.mean(deltaE_ciede2000(r.permute(1, 2, 0).double().numpy(), o.permute(1, 2, 0).double().numpy(),
                                       channel_axis=-1)))
        for r, o in zip(lab_ref, lab_out)
    ]
    return ColourShift(torch.tensor(de, dtype=torch.float64), abs_lab[:, 0], abs_lab[:, 1], abs_lab[:, 2])
