"""Training samples for the next-scale models (teacher and student), computed once and kept in memory.

A sample is one 64 x 64 HQ tile (a 16 x 16 latent, the size the served models run tiles at) with
everything the models need that does not change during training: the HQ latent (its tokens depend on
the dynamic sampling scheduler, so they are re-derived each step), the LQ encoder's prefix features and
latent, the latent of the degraded frame itself (the target of "low-quality" samples for image-based
CFG), the degradation vector that degrade-analysis measures on the whole degraded region (as at
inference, where it measures the whole frame), the scale, and the HQ pixels (for pixel losses).

Regions of 256 x 256 HQ pixels are degraded with the random training sampler (``vidsr.degrade``) at x2
or x4, encoded whole, and cut into 16 tiles, so a tile's encoder features see real neighbours as a
served tile sees its context margin. Everything depends only on (images, seed): rebuilt bit-identically.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis.estimators import degradation_vector
from vidsr.degrade import degrade, sample_params
from vidsr.models.vqvae import VQVAE, LQEncoder
from vidsr.train.cnn import _random_hq_crop

__all__ = ["VarSamples", "build_samples", "TILE"]

TILE = 64  # HQ pixels per side of a training tile (latent 16 x 16)


@dataclass
class VarSamples:
    """N tiles; latents and features fp16 (memory), pixels uint8."""

    f_hq: torch.Tensor  # N x C x h x w, HQ encoder latent of the HQ tile
    f_neg: torch.Tensor  # N x C x h x w, HQ encoder latent of the bicubic-upsampled LQ tile
    lq_feat: torch.Tensor  # N x P x h x w, LQ encoder penultimate features (prefix tokens)
    lq_lat: torch.Tensor  # N x C x h x w, LQ encoder latent (start token, LQ token pyramid)
    deg: torch.Tensor  # N x 4, degradation vector of the whole degraded region
    scale: torch.Tensor  # N, 2 or 4
    hq: torch.Tensor  # N x 3 x 64 x 64 uint8
    lq_up: torch.Tensor  # N x 3 x 64 x 64 uint8, the bicubic-upsampled LQ tile

    def __len__(self) -> int:
        return self.f_hq.shape[0]

    def take(self, idx: torch.Tensor) -> dict[str, torch.Tensor]:
        """A float32 batch (pixels in [0, 1])."""
        out = {}
        for f in fields(self):
            t = getattr(self, f.name)[idx]
            out[f.name] = t.float() / 255.0 if t.dtype == torch.uint8 else (t if f.name == "scale" else t.float())
        return out

    def save(self, path: str) -> None:
        torch.save({f.name: getattr(self, f.name) for f in fields(self)}, path)

    @classmethod
    def load(cls, path: str) -> VarSamples:
        return cls(**torch.load(path, weights_only=True))


def _tiles(x_BCHW: torch.Tensor, t: int) -> torch.Tensor:
    """``B x C x H x W`` -> ``(B * H/t * W/t) x C x t x t``, row-major per image."""
    B, C, H, W = x_BCHW.shape
    x = x_BCHW.view(B, C, H // t, t, W // t, t).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(-1, C, t, t)


@torch.no_grad()
def build_samples(
    vq: VQVAE, lq_enc: LQEncoder, images: list[np.ndarray], regions: int, seed: int, region: int = 256
) -> VarSamples:
    """``regions * (region / 64) ** 2`` tiles from random regions of ``images`` (x2 and x4 alternate)."""
    f = vq.cfg.downsample
    t_lat = TILE // f
    parts: dict[str, list[torch.Tensor]] = {fl.name: [] for fl in fields(VarSamples)}
    areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
    for r in range(regions):
        rng = np.random.default_rng([seed, r])
        scale = (2, 4)[r % 2]
        img = images[int(rng.choice(len(images), p=areas / areas.sum()))]
        hq = _random_hq_crop(img, region, rng)[None]
        lq, _ = degrade(hq, scale, sample_params(scale, rng))
        lq_img = (lq[0].permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
        deg = torch.from_numpy(degradation_vector(lq_img))
        up = F.interpolate(lq, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
        feat = lq_enc.encoder.features(up)
        n = (region // TILE) ** 2
        parts["f_hq"].append(_tiles(vq.encoder(hq), t_lat).half())
        parts["f_neg"].append(_tiles(vq.encoder(up), t_lat).half())
        parts["lq_feat"].append(_tiles(feat, t_lat).half())
        parts["lq_lat"].append(_tiles(lq_enc.encoder.conv_out(feat), t_lat).half())
        parts["deg"].append(deg.expand(n, -1))
        parts["scale"].append(torch.full((n,), scale, dtype=torch.long))
        parts["hq"].append((_tiles(hq, TILE) * 255).round().to(torch.uint8))
        parts["lq_up"].append((_tiles(up, TILE) * 255).round().to(torch.uint8))
    return VarSamples(**{k: torch.cat(v) for k, v in parts.items()})
