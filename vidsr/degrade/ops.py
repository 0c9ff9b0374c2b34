"""Single-factor degradations on ``B x 3 x H x W`` float RGB in [0, 1]: blur, resize, noise, JPEG, H.264.

Each op does one thing with explicit parameters, so the analysis stage can sweep one factor at a time
and the second-order pipeline (``pipeline.py``) can chain them with sampled parameters.
"""

from __future__ import annotations

import math
from fractions import Fraction

import av
import numpy as np
import torch
import torch.nn.functional as F
from kornia.enhance import jpeg_codec_differentiable

__all__ = [
    "blur_kernel",
    "apply_blur",
    "apply_resize",
    "apply_gaussian_noise",
    "apply_poisson_noise",
    "apply_jpeg",
    "apply_h264",
    "RESIZE_MODES",
]

RESIZE_MODES = ("area", "bilinear", "bicubic")
# photon levels at full scale: 8-bit-like shot noise, as Real-ESRGAN uses for 8-bit input
POISSON_LEVELS = 256.0


def blur_kernel(
    sigma_x: float,
    sigma_y: float | None = None,
    theta: float = 0.0,
    beta: float = 2.0,
    size: int | None = None,
) -> torch.Tensor:
    """A normalised ``size x size`` generalised-Gaussian kernel, ``exp(-0.5 * (x' S^-1 x)^(beta/2))``.

    ``beta = 2`` is the ordinary (an)isotropic Gaussian; ``beta < 2`` has heavier tails, ``beta > 2`` is
    closer to a plateau (box-like defocus). ``theta`` rotates the ``sigma_x`` axis (radians).
    The size defaults to covering 3 sigma of the wider axis.
    """
    sigma_y = sigma_x if sigma_y is None else sigma_y
    if size is None:
        size = int(2 * math.ceil(3.0 * max(sigma_x, sigma_y)) + 1)
        size = min(max(size, 3), 41)
    r = (size - 1) / 2.0
    ax = torch.arange(size, dtype=torch.float64) - r
    yy, xx = torch.meshgrid(ax, ax, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u = c * xx + s * yy  # coordinate along the rotated sigma_x axis
    v = -s * xx + c * yy
    q = (u / sigma_x) ** 2 + (v / sigma_y) ** 2  # Mahalanobis distance squared
    k = torch.exp(-0.5 * q ** (beta / 2.0))
    return (k / k.sum()).float()


def apply_blur(
    x_BCHW: torch.Tensor, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, beta: float = 2.0
) -> torch.Tensor:
    """Blur every channel with one generalised-Gaussian kernel (reflect padding keeps borders natural)."""
    if sigma_x <= 0:
        return x_BCHW
    k_hw = blur_kernel(sigma_x, sigma_y, theta, beta).to(x_BCHW)
    C = x_BCHW.shape[1]
    p = k_hw.shape[-1] // 2
    pad_mode = "reflect" if min(x_BCHW.shape[-2:]) > p else "replicate"
    x_pad = F.pad(x_BCHW, (p, p, p, p), mode=pad_mode)
    weight_C1kk = k_hw.expand(C, 1, *k_hw.shape).contiguous()
    return F.conv2d(x_pad, weight_C1kk, groups=C)


def apply_resize(x_BCHW: torch.Tensor, size: tuple[int, int], mode: str = "bicubic") -> torch.Tensor:
    """Resize to ``size = (h, w)`` with ``mode`` in ``RESIZE_MODES`` (antialiased when shrinking)."""
    if mode not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode '{mode}' (choose from {', '.join(RESIZE_MODES)})")
    if tuple(x_BCHW.shape[-2:]) == tuple(size):
        return x_BCHW
    if mode == "area":
        shrinking = size[0] <= x_BCHW.shape[-2] and size[1] <= x_BCHW.shape[-1]
        out = F.interpolate(x_BCHW, size=size, mode="area" if shrinking else "bilinear", align_corners=None)
    else:
        out = F.interpolate(x_BCHW, size=size, mode=mode, align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def _luma(x_BCHW: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x_BCHW.dtype, device=x_BCHW.device).view(1, 3, 1, 1)
    return (x_BCHW * w).sum(1, keepdim=True)


def apply_gaussian_noise(x_BCHW: torch.Tensor, sigma: float, gray: bool = False, seed: int = 0) -> torch.Tensor:
    """Add zero-mean Gaussian noise of std ``sigma`` in 8-bit units (0..255); ``gray``: same in all channels.

    Seeded with its own generator, so a sweep is reproducible and independent of global RNG state.
    """
    if sigma <= 0:
        return x_BCHW
    B, C, H, W = x_BCHW.shape
    n = torch.randn(B, 1 if gray else C, H, W, generator=_generator(seed)).to(x_BCHW)
    return (x_BCHW + n * (sigma / 255.0)).clamp(0.0, 1.0)


def apply_poisson_noise(x_BCHW: torch.Tensor, scale: float, gray: bool = False, seed: int = 0) -> torch.Tensor:
    """Add signal-dependent shot noise: ``scale * (Poisson(x * L) / L - x)`` with ``L = 256`` levels.

    At ``scale = 1`` a mid-grey pixel gets a std of about 11/255; the noise grows with brightness, as a
    sensor's does. ``gray`` draws it on luma and adds it to every channel (luminance-only noise).
    """
    if scale <= 0:
        return x_BCHW
    src = _luma(x_BCHW) if gray else x_BCHW
    src_cpu = src.detach().float().cpu().clamp(0.0, 1.0)
    noisy = torch.poisson(src_cpu * POISSON_LEVELS, generator=_generator(seed)) / POISSON_LEVELS
    n = (noisy - src_cpu).to(x_BCHW)
    return (x_BCHW + scale * n).clamp(0.0, 1.0)


def apply_jpeg(x_BCHW: torch.Tensor, quality: float) -> torch.Tensor:
    """JPEG-compress and decode (4:2:0, standard IJG tables scaled by ``quality`` in 1..100).

    kornia's codec is batched torch, so it runs on the caller's device inside the training loop with
    no per-image round trip through an encoder; its rounding is a smooth polynomial that differs from
    a hard round by at most 1/8 of a quantisation step, far below the artefacts it makes.
    """
    q_B = torch.full((x_BCHW.shape[0],), float(quality), dtype=x_BCHW.dtype, device=x_BCHW.device)
    with torch.no_grad():
        return jpeg_codec_differentiable(x_BCHW.clamp(0.0, 1.0), q_B).clamp(0.0, 1.0)


def apply_h264(x_TCHW: torch.Tensor, crf: int, preset: str = "veryfast") -> torch.Tensor:
    """Encode the frames ``T x 3 x H x W`` in order as one H.264 sequence (libx264, yuv420p) and decode back.

    Real codec, real artefacts: blocking, ringing, chroma subsampling and, across frames, the temporal
    effects of inter prediction. Odd sizes are edge-padded to even (yuv420p needs it) and cropped back.
    One encoder thread keeps the output deterministic.
    """
    T, C, H, W = x_TCHW.shape
    ph, pw = H % 2, W % 2
    x_u8 = (x_TCHW.detach().float().cpu().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    frames_THWC = np.ascontiguousarray(x_u8.permute(0, 2, 3, 1).numpy())
    if ph or pw:
        frames_THWC = np.pad(frames_THWC, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height = W + pw, H + ph
    enc.pix_fmt = "yuv420p"
    enc.time_base = Fraction(1, 25)
    enc.framerate = Fraction(25, 1)
    enc.thread_count = 1
    enc.options = {"crf": str(int(crf)), "preset": preset, "threads": "1"}
    packets = []
    for t, img in enumerate(frames_THWC):
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = t
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    dec = av.CodecContext.create("h264", "r")
    dec.thread_count = 1
    out = []
    for pkt in packets:
        out.extend(f.to_ndarray(format="rgb24") for f in dec.decode(pkt))
    out.extend(f.to_ndarray(format="rgb24") for f in dec.decode(None))
    if len(out) != T:
        raise RuntimeError(f"H.264 round trip returned {len(out)} frames for {T}")
    y_THWC = np.stack(out)[:, :H, :W]
    y_TCHW = torch.from_numpy(y_THWC).permute(0, 3, 1, 2).float() / 255.0
    return y_TCHW.to(device=x_TCHW.device, dtype=x_TCHW.dtype)
