"""Training pairs made the way real sources are made, kept in a pool that is refreshed while training.

A pool entry is one LQ region (``region`` pixels a side), its HQ region and the degradation vector the
analysis stage would measure on it. Each entry comes from a short pan over a real photograph (random
zoom, so textures appear at many scales), degraded as one clip by ``vidsr.degrade.sources`` (a real
scaler, 4:2:0, a real encoder over its everyday CRF range, sometimes sensor noise); a minority
(``synthetic_share``) goes through the Real-ESRGAN-style chain instead. A real encode costs about 15 ms
per clip, so ``refresh`` replaces part of the pool every few hundred steps: the net keeps seeing fresh
codec noise instead of memorising a fixed set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis.batch import batch_degradations
from vidsr.analysis.estimators import DEGRADATION_FIELDS
from vidsr.degrade import degrade, sample_params
from vidsr.degrade.sources import SourceParams, make_source, pan_clip, sample_source, source_kind

__all__ = ["SourcePool", "PoolSpec", "evaluate_sources"]


@dataclass(frozen=True)
class PoolSpec:
    scale: int
    size: int = 3000  # entries
    region: int = 96  # LQ side of an entry (even)
    clip_frames: int = 5
    per_clip: int = 2  # entries taken from each clip (different frames: I and P/B frames)
    synthetic_share: float = 0.1
    footage_share: float = 0.0  # share of clips cut from real footage (given to the pool) instead of photo pans


class SourcePool:
    """LQ/HQ regions and their vectors; ``batch`` cuts random patches, ``refresh`` renews a share."""

    def __init__(self, images: list[np.ndarray], spec: PoolSpec, seed: int,
                 footage: list[np.ndarray] | None = None) -> None:
        """``footage``: stretches of consecutive real video frames, each ``runs x T x H x W x 3`` (T at least
        ``clip_frames``), cut into clips for ``footage_share`` of the pool: real camera motion and real video
        textures, where the photographs give synthetic pans."""
        self.images, self.spec, self.seed = images, spec, seed
        self.footage = footage or []
        if spec.footage_share and not self.footage:
            raise ValueError("footage_share > 0 needs footage")
        areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
        self.p_image = areas / areas.sum()
        R, s = spec.region, spec.scale
        self.lq = np.zeros((spec.size, R, R, 3), np.uint8)
        self.hq = np.zeros((spec.size, R * s, R * s, 3), np.uint8)
        self.vec = np.zeros((spec.size, len(DEGRADATION_FIELDS)), np.float32)
        self.kinds: list[str] = [""] * spec.size
        self._fill(range(spec.size), np.random.default_rng([seed, 0]))

    def _footage_clip(self, rng: np.random.Generator) -> np.ndarray:
        """``clip_frames`` consecutive frames of one stretch of real footage, a random square crop (zoomed out
        up to 3x where the frame allows), as the HQ clip."""
        runs = self.footage[int(rng.integers(len(self.footage)))]
        stretch = runs[int(rng.integers(runs.shape[0]))]
        T, H, W = stretch.shape[:3]
        n, side = self.spec.clip_frames, self.spec.region * self.spec.scale
        t = int(rng.integers(0, T - n + 1))
        big = max(min(int(side * float(rng.uniform(1.0, 3.0))), H, W), min(side, H, W))
        y, x = int(rng.integers(0, H - big + 1)), int(rng.integers(0, W - big + 1))
        return np.ascontiguousarray(stretch[t : t + n, y : y + big, x : x + big])

    def _hq_clip(self, rng: np.random.Generator) -> np.ndarray:
        side = self.spec.region * self.spec.scale
        if self.spec.footage_share and rng.random() < self.spec.footage_share:
            clip = self._footage_clip(rng)
            big = clip.shape[1]
            return self._finish(clip, big, side, rng)
        img = self.images[int(rng.choice(len(self.images), p=self.p_image))]
        zoom = float(rng.uniform(1.0, 3.0)) if rng.random() < 0.7 else 1.0
        big = min(int(side * zoom), img.shape[0], img.shape[1])
        clip = pan_clip(img, (big, big), self.spec.clip_frames, rng, max_speed=3.0 * big / side)
        return self._finish(clip, big, side, rng)

    def _finish(self, clip: np.ndarray, big: int, side: int, rng: np.random.Generator) -> np.ndarray:
        """A ``big`` x ``big`` clip shrunk (antialiased) to the HQ side, then a random flip and rotation."""
        if big != side:
            x = torch.from_numpy(clip).permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=(side, side), mode="bicubic", antialias=True, align_corners=False)
            clip = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
        if rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        return np.ascontiguousarray(np.rot90(clip, int(rng.integers(0, 4)), axes=(1, 2)))

    def _degrade(self, hq: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        s = self.spec.scale
        if rng.random() < self.spec.synthetic_share:
            x = torch.from_numpy(hq).permute(0, 3, 1, 2).float() / 255.0
            lq, _ = degrade(x, s, sample_params(s, rng, video_prob=0.3))
            return (lq * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy(), "synthetic"
        p: SourceParams = sample_source(s, rng)
        return make_source(hq, p), f"{p.codec or 'none'}"

    def _fill(self, slots: range | list[int], rng: np.random.Generator) -> None:
        slots = list(slots)
        for i in range(0, len(slots), self.spec.per_clip):
            hq = self._hq_clip(rng)
            lq, kind = self._degrade(hq, rng)
            frames = rng.choice(self.spec.clip_frames, size=self.spec.per_clip, replace=False)
            for slot, t in zip(slots[i : i + self.spec.per_clip], frames):
                self.lq[slot], self.hq[slot], self.kinds[slot] = lq[t], hq[t], kind
                lq_t = torch.from_numpy(lq[t]).permute(2, 0, 1)[None].float() / 255.0
                self.vec[slot] = batch_degradations(lq_t)[0].numpy()

    def refresh(self, fraction: float, round_: int) -> None:
        """Replace ``fraction`` of the entries with fresh ones (a pure function of seed and round)."""
        rng = np.random.default_rng([self.seed, 1, round_])
        n = int(self.spec.size * fraction) // self.spec.per_clip * self.spec.per_clip
        self._fill(sorted(rng.choice(self.spec.size, size=n, replace=False).tolist()), rng)

    def batch(self, n: int, patch: int, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(LQ ``n x 3 x patch x patch``, HQ, vectors ``n x F``) cut from random entries."""
        rng = np.random.default_rng([self.seed, 2, step])
        s, R = self.spec.scale, self.spec.region
        idx = rng.integers(0, self.spec.size, size=n)
        ys, xs = rng.integers(0, R - patch + 1, size=n), rng.integers(0, R - patch + 1, size=n)
        lq = np.stack([self.lq[i, y : y + patch, x : x + patch] for i, y, x in zip(idx, ys, xs)])
        hq = np.stack([self.hq[i, y * s : (y + patch) * s, x * s : (x + patch) * s] for i, y, x in zip(idx, ys, xs)])
        to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255.0  # noqa: E731
        return to_t(lq), to_t(hq), torch.from_numpy(self.vec[idx])


@torch.inference_mode()
def evaluate_sources(sr, images: list[tuple[str, np.ndarray]], scale: int, kinds: tuple[str, ...],
                     frames: int = 3) -> dict[str, float]:
    """Mean PSNR-Y gain (4-pixel border) over bicubic per source kind: each held-out photograph a short pan clip,
    degraded as that kind, the last frame (a predicted frame) scored."""
    from vidsr.train.evaluate import bicubic_up, psnr_y

    out: dict[str, float] = {}
    for kind in kinds:
        gains = []
        for i, (_, img) in enumerate(images):
            rng = np.random.default_rng([7, i])
            side = min(img.shape[0], img.shape[1], 384) // (2 * scale) * (2 * scale)
            clip = pan_clip(img, (side, side), frames, rng, max_speed=2.0)
            lq = make_source(clip, source_kind(kind, scale, seed=i))
            hq_t = torch.from_numpy(clip[-1]).permute(2, 0, 1)[None].float() / 255.0
            lq_t = torch.from_numpy(lq[-1]).permute(2, 0, 1)[None].float() / 255.0
            gains.append(psnr_y(sr(lq_t).clamp(0, 1), hq_t, 4) - psnr_y(bicubic_up(lq_t, scale), hq_t, 4))
        out[kind] = round(float(np.mean(gains)), 3)
    out["mean"] = round(float(np.mean(list(out.values()))), 3)
    return out
