"""Colour and tone fixes: make an SR output's low frequencies follow its input's.

A generative SR model can drift in colour or brightness (the codebook has no exact tone for every
patch), and in video such a drift pulses from frame to frame. The input already holds the right
low frequencies, so both fixes take them from it, as VARSR's inference does:

- :func:`wavelet_colour_fix` (the default, and the one to use on tiles): the output's low-frequency
  band, after ``levels`` levels of an 'a trous' decomposition, is swapped for the bicubic-upsampled
  input's. Detail bands stay the output's. It is local: a pixel depends on ``2**levels - 1`` output
  pixels around it (plus the bicubic's 2 input pixels), so a tile with :func:`colour_fix_context`
  input pixels of real neighbours gives exactly the whole-frame result inside it.
- :func:`adain_colour_fix`: per-channel mean and std of the output set to the input's. Global, so it
  cannot fix a cast that varies across the frame, and on tiles each tile gets its own statistics, so
  neighbouring tiles are corrected differently (visible seams, and pulsing between frames as content
  moves across tiles): apply it to whole frames only.

Both take ``sr`` (``B x 3 x H x W``) and the low-resolution input ``lq`` (``B x 3 x h x w``), float RGB
in [0, 1], any sizes (odd too; ``lq`` is resized to ``sr``'s exact size), and return a tensor of
``sr``'s shape and dtype, clamped to [0, 1]; the work is done in fp32.

Cost on this 2-core CPU, one torch thread, one 1280x960 output frame from a 640x480 input (best of
5, ``python -m vidsr.sr.colorfix``, with a training job beside it): wavelet (5 levels) about 185 ms,
of which the input's bicubic upsampling is about 60 ms and the ten shifted-add passes about 85 ms;
AdaIN about 45 ms. Against a model at about 1 s per frame the wavelet fix is under a fifth of it.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "wavelet_colour_fix",
    "adain_colour_fix",
    "colour_fix",
    "colour_fix_context",
    "low_frequency",
    "ColourFixMethod",
]

ColourFixMethod = Literal["wavelet", "adain", "none"]
# 5 levels: the low band is about a Gaussian of sigma 13 output px, coarser than any texture. Fewer
# levels copy the input's noise and blur back in (they lower the measured colour shift that way, since
# it is taken against the noisy input, but that is not a colour fix).
DEFAULT_LEVELS = 5


def _smooth_1d(x: torch.Tensor, dilation: int, dim: int) -> torch.Tensor:
    """[1, 2, 1] / 4 with holes (taps ``dilation`` apart) along ``dim``, edges replicated.

    Written as shifted in-place adds on views: exact, no padded copy and no kernel, and it works
    whatever the size (reflect padding would fail on a side shorter than the dilation).
    """
    n, d = x.shape[dim], min(dilation, x.shape[dim])
    out = x * 2.0
    if d < n:
        out.narrow(dim, d, n - d).add_(x.narrow(dim, 0, n - d))  # left tap x[i - d]
        out.narrow(dim, 0, n - d).add_(x.narrow(dim, d, n - d))  # right tap x[i + d]
    out.narrow(dim, 0, d).add_(x.narrow(dim, 0, 1))  # left taps before the edge: x[0]
    out.narrow(dim, n - d, d).add_(x.narrow(dim, n - 1, 1))  # right taps past the edge: x[n - 1]
    return out.mul_(0.25)


def low_frequency(x_BCHW: torch.Tensor, levels: int = DEFAULT_LEVELS) -> torch.Tensor:
    """The residual low band of an 'a trous' (undecimated, B3-like) wavelet decomposition.

    Level ``i`` smooths the previous level's low band with the separable [1, 2, 1] / 4 kernel at
    dilation ``2**i``; the detail bands are the differences between levels, so the image is exactly
    their sum plus this low band, and replacing only the low band leaves every detail band untouched.
    """
    low = x_BCHW
    for i in range(levels):
        d = 2**i
        low = _smooth_1d(_smooth_1d(low, d, -1), d, -2)
    return low


def _upsample_to(lq_BCHW: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(lq_BCHW.shape[-2:]) == size:
        return lq_BCHW
    return F.interpolate(lq_BCHW, size=size, mode="bicubic", align_corners=False).clamp_(0.0, 1.0)


def _check(sr_BCHW: torch.Tensor, lq_BCHW: torch.Tensor) -> None:
    if sr_BCHW.ndim != 4 or lq_BCHW.ndim != 4 or sr_BCHW.shape[:2] != lq_BCHW.shape[:2]:
        raise ValueError(f"need B x C x H x W batches of the same B and C: {tuple(sr_BCHW.shape)}, "
                         f"{tuple(lq_BCHW.shape)}")


@torch.no_grad()
def wavelet_colour_fix(sr_BCHW: torch.Tensor, lq_BCHW: torch.Tensor, levels: int = DEFAULT_LEVELS) -> torch.Tensor:
    """``sr`` with its low band (after ``levels`` levels) replaced by the bicubic-upsampled input's.

    ``sr - low(sr) + low(up(lq))`` is ``sr + low(up(lq) - sr)`` because the decomposition is linear,
    so the low band of one difference image is computed instead of two low bands (half the cost).
    Tiling: exact inside a tile that has :func:`colour_fix_context` input pixels of context.
    """
    _check(sr_BCHW, lq_BCHW)
    sr = sr_BCHW.float()
    up = _upsample_to(lq_BCHW.float(), (sr.shape[-2], sr.shape[-1]))
    out = sr + low_frequency(up - sr, levels)
    return out.clamp_(0.0, 1.0).to(sr_BCHW.dtype)


@torch.no_grad()
def adain_colour_fix(sr_BCHW: torch.Tensor, lq_BCHW: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per image and channel, ``sr``'s mean and std set to the input's (AdaIN).

    The input's statistics are taken at its own resolution (upsampling only smooths them). Its std
    includes the input's noise and lacks what its blur removed, so AdaIN also nudges contrast; and
    being per image, tiles must not use it (see the module docstring).
    """
    _check(sr_BCHW, lq_BCHW)
    sr, lq = sr_BCHW.float(), lq_BCHW.float()
    sr_std, sr_mean = torch.std_mean(sr, dim=(-2, -1), correction=0, keepdim=True)
    lq_std, lq_mean = torch.std_mean(lq, dim=(-2, -1), correction=0, keepdim=True)
    out = (sr - sr_mean) * (lq_std / (sr_std + eps)) + lq_mean
    return out.clamp_(0.0, 1.0).to(sr_BCHW.dtype)


def colour_fix(
    sr_BCHW: torch.Tensor, lq_BCHW: torch.Tensor, method: ColourFixMethod = "wavelet", levels: int = DEFAULT_LEVELS
) -> torch.Tensor:
    """Dispatch by name, for a model or stage option (``none`` returns ``sr`` unchanged)."""
    if method == "wavelet":
        return wavelet_colour_fix(sr_BCHW, lq_BCHW, levels)
    if method == "adain":
        return adain_colour_fix(sr_BCHW, lq_BCHW)
    if method == "none":
        return sr_BCHW
    raise ValueError(f"unknown colour fix '{method}' (wavelet, adain, none)")


def colour_fix_context(scale: int, levels: int = DEFAULT_LEVELS) -> int:
    """Input pixels of real neighbours a tile needs for the wavelet fix to equal the whole frame's.

    The low band reaches ``2**levels - 1`` output pixels; the bicubic upsampling 2 input pixels more.
    Add this to the model's own ``context`` when the fix runs per tile inside the model.
    """
    return -(-(2**levels - 1) // scale) + 2


def _bench() -> None:
    """Print ms per 1280x960 output frame (640x480 input) for each fix, best of 5, on one thread."""
    import time

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    lq = torch.rand(1, 3, 480, 640, generator=g)
    sr = torch.rand(1, 3, 960, 1280, generator=g)
    for name, fn in (("wavelet", wavelet_colour_fix), ("adain", adain_colour_fix),
                     ("bicubic up only", lambda s, q: _upsample_to(q, (960, 1280)))):
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            fn(sr, lq)
            times.append(time.perf_counter() - t0)
        print(f"{name}: {1000 * min(times):.1f} ms per 1280x960 frame")


if __name__ == "__main__":
    _bench()
