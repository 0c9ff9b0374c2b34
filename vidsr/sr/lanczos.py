"""Lanczos-3 upscaling registered as an SR model: the sharper classical baseline next to bicubic."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vidsr.sr.base import Capabilities
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.register import register_model

__all__ = ["Lanczos", "lanczos_phase_weights"]

LOBES = 3  # Lanczos-3: the kernel spans 3 source pixels each side


def _lanczos(t: torch.Tensor, a: int = LOBES) -> torch.Tensor:
    """The windowed sinc ``sinc(t) * sinc(t / a)`` on ``|t| < a``, zero outside."""
    out = torch.sinc(t) * torch.sinc(t / a)
    return torch.where(t.abs() < a, out, torch.zeros_like(t))


def lanczos_phase_weights(scale: int, a: int = LOBES) -> torch.Tensor:
    """Taps ``scale x (2a+1)``: row ``p`` makes output pixel ``s*k + p`` from source pixels ``k-a..k+a``.

    An integer scale repeats the same ``scale`` sub-pixel phases along a row, so upscaling is a fixed
    convolution per phase followed by interleaving (no gather, no index tables). Each row is normalised to
    sum to one so flat areas stay flat (the truncated kernel alone does not sum to exactly one).
    """
    offsets = torch.arange(-a, a + 1, dtype=torch.float64)  # source pixel k + offset
    rows = []
    for p in range(scale):
        centre = (p + 0.5) / scale - 0.5  # output pixel centre in source coordinates, relative to k
        w = _lanczos(offsets - centre, a)
        rows.append(w / w.sum())
    return torch.stack(rows).float()


class Lanczos:
    """Separable Lanczos-3 upscaling by an integer factor; borders replicate the edge pixel."""

    context = LOBES + 1  # the kernel reads 3 LR pixels each side; one more keeps tiles exact with margin
    capabilities = Capabilities()

    def __init__(self, scale: int, device: torch.device) -> None:
        self.name = "lanczos"
        self.scale = scale
        self.device = device
        self.taps_SK = lanczos_phase_weights(scale).to(device)

    def _upscale_last_axis(self, x_NHW: torch.Tensor) -> torch.Tensor:
        """Upscale the last axis of ``N x H x W`` by ``scale``: one conv per phase, then interleave."""
        n, h, w = x_NHW.shape
        s, k = self.taps_SK.shape
        padded = F.pad(x_NHW[:, None], (LOBES, LOBES, 0, 0), mode="replicate")
        phases_NSHW = F.conv2d(padded, self.taps_SK.to(x_NHW).view(s, 1, 1, k))
        return phases_NSHW.permute(0, 2, 3, 1).reshape(n, h, w * s)

    @torch.inference_mode()
    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
        """Float in [0, 1] -> the same dtype. Half and bfloat16 run natively on CUDA only: a CPU's
        reduced-precision convolutions are slower than float32 there, so it widens and narrows back."""
        x_BCHW = as_batch(batch).x_BCHW
        dtype = x_BCHW.dtype
        if dtype != torch.float32 and not (x_BCHW.device.type == "cuda" and dtype in (torch.float16, torch.bfloat16)):
            x_BCHW = x_BCHW.float()
        b, c, h, w = x_BCHW.shape
        x_NHW = x_BCHW.reshape(b * c, h, w)
        wide_NHW = self._upscale_last_axis(x_NHW)  # N x H x sW
        tall_NWH = self._upscale_last_axis(wide_NHW.transpose(1, 2).contiguous())  # N x sW x sH
        out = tall_NWH.transpose(1, 2).reshape(b, c, h * self.scale, w * self.scale)
        return out.clamp_(0.0, 1.0).to(dtype)  # the negative lobes overshoot at edges


@register_model("lanczos", scales=(2, 4))
def _lanczos_model(scale: int, device: torch.device) -> Lanczos:
    return Lanczos(scale, device)

