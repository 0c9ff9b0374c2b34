"""The one-step student's conditional decoder: latent-grid signals and the base window -> the change to the base.

FlashVSR replaces the full VAE decoder with a tiny conditional decoder that sees the LR frame, so it
only has to add what the frame lacks. Here the teacher's route to pixels costs three passes of the
tokenizer's decoder and a full-resolution fusion net (0.84 GFLOP per 64 x 64 window, more than the
student's transformer); this decoder works on the 16 x 16 latent grid, where the student's hidden state
(VARSR's refiner also reads the hidden state) and its two latent proposals live, and rises to pixels only
for a thin last stage beside the base window (0.10 GFLOP).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["TinyDecoder"]


class TinyDecoder(nn.Module):
    """(base window, hidden state, expected and greedy latent minus the base's own) -> change to the base.

    Up to pixels by a learned sub-pixel map (pixel shuffle). At full detail its change carries a faint
    4-pixel checkerboard (``docs/models/var.md``); a resize-convolution variant without it scored better
    on the validation pool but worse on the held-out real-source suite, so this one ships.
    Zero-initialised output: an untrained decoder leaves the base as it is."""

    def __init__(self, dim: int, code_dim: int, width: int = 64, fine: int = 16, up: int = 4) -> None:
        super().__init__()
        # 1. the latent grid: lift, two residual convs
        self.lift = nn.Conv2d(dim + 2 * code_dim, width, 1)
        self.body = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(2)])
        # 2. up to pixels by a learned sub-pixel map
        self.to_fine = nn.Conv2d(width, fine * up * up, 1)
        self.shuffle = nn.PixelShuffle(up)
        # 3. beside the base window: one conv in, one residual conv, the change out
        self.fine_in = nn.Conv2d(fine + 3, fine, 3, padding=1)
        self.fine_body = nn.Conv2d(fine, fine, 3, padding=1)
        self.out = nn.Conv2d(fine, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(
        self, base_BCHW: torch.Tensor, hid_BDhw: torch.Tensor, dsoft_BChw: torch.Tensor, dgreedy_BChw: torch.Tensor
    ) -> torch.Tensor:
        h = F.silu(self.lift(torch.cat([hid_BDhw, dsoft_BChw, dgreedy_BChw], 1)))
        for conv in self.body:
            h = h + F.silu(conv(h))
        f = self.shuffle(self.to_fine(h))
        f = F.silu(self.fine_in(torch.cat([f, base_BCHW - 0.5], 1)))
        f = f + F.silu(self.fine_body(f))
        return self.out(f)
