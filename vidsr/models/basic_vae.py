"""The tokenizer's convolutional encoder and decoder (downsampling factor f = 2 ** levels).

Small on purpose: the tokenizer runs on every frame of a video on CPUs, so the full-resolution
layers are thin and the width grows only as the resolution falls. No normalisation layers: group or
batch statistics would make a tile's latent depend on the rest of the frame (and on the batch),
which breaks tiling and the "any frame size, one set of weights" promise.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["ResBlock", "Encoder", "Decoder"]


class ResBlock(nn.Module):
    """conv-SiLU-conv with an identity (or 1x1 projection) skip."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, h_BChw: torch.Tensor) -> torch.Tensor:
        return self.skip(h_BChw) + self.conv2(F.silu(self.conv1(F.silu(h_BChw))))


class Encoder(nn.Module):
    """``x_BCHW`` in [0, 1], H and W multiples of f -> latent ``f_BChw`` (``C = code_dim``, h = H / f).

    ``stem``: space-to-depth factor of the input (``stem x stem`` pixels become one position), so no
    conv runs at full resolution; ``widths[i]`` is the width at 1 / (stem * 2**i) resolution and
    ``len(widths) - 1`` stride-2 convs follow: f = stem * 2 ** (len(widths) - 1).
    """

    def __init__(self, widths: tuple[int, ...], blocks: int, code_dim: int, stem: int = 1) -> None:
        super().__init__()
        # 1. stem: pixel-unshuffle, then a conv (the only layer that sees every pixel)
        self.unshuffle = nn.PixelUnshuffle(stem)
        self.conv_in = nn.Conv2d(3 * stem * stem, widths[0], 3, padding=1)
        # 2. one level per resolution: residual blocks, then a stride-2 conv to the next width
        self.levels = nn.ModuleList()
        for i, w in enumerate(widths):
            level = nn.Sequential(*[ResBlock(w, w) for _ in range(blocks)])
            if i + 1 < len(widths):
                level.append(nn.Conv2d(w, widths[i + 1], 3, stride=2, padding=1))
            self.levels.append(level)
        # 3. head to the code dimension; its input is the "penultimate" feature (prefix tokens, DVAR)
        self.conv_out = nn.Conv2d(widths[-1], code_dim, 3, padding=1)

    def features(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """The penultimate features ``B x widths[-1] x h x w`` (before the projection to codes)."""
        h = self.conv_in(self.unshuffle(x_BCHW * 2.0 - 1.0))
        for level in self.levels:
            h = level(h)
        return F.silu(h)

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.features(x_BCHW))


class Decoder(nn.Module):
    """Latent ``f_BChw`` -> ``x_BCHW`` (roughly [0, 1], not clamped: the losses see the raw output)."""

    def __init__(self, widths: tuple[int, ...], blocks: int, code_dim: int, stem: int = 1) -> None:
        super().__init__()
        # 1. lift the codes to the widest (coarsest) width
        self.conv_in = nn.Conv2d(code_dim, widths[-1], 3, padding=1)
        # 2. coarse to fine: residual blocks, then nearest 2x upsampling and a conv to the next width
        self.levels = nn.ModuleList()
        for i in range(len(widths) - 1, -1, -1):
            level = nn.Sequential(*[ResBlock(widths[i], widths[i]) for _ in range(blocks)])
            if i > 0:
                level.append(nn.Upsample(scale_factor=2, mode="nearest"))
                level.append(nn.Conv2d(widths[i], widths[i - 1], 3, padding=1))
            self.levels.append(level)
        # 3. back to RGB: sub-pixel conv (depth-to-space) undoes the encoder's stem
        self.conv_out = nn.Conv2d(widths[0], 3 * stem * stem, 3, padding=1)
        self.shuffle = nn.PixelShuffle(stem)

    def forward(self, f_BChw: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(f_BChw)
        for level in self.levels:
            h = level(h)
        return (self.shuffle(self.conv_out(F.silu(h))) + 1.0) * 0.5
