"""The scene-level token cache of the ``var`` model: a window whose LQ input did not change reuses its
last HQ result (no transformer, no decoder); a changed window is recomputed with the cached HQ tokens as
the hysteresis choice (``keep``/``margin`` of ``DetailStudent.predict``); a scene cut clears everything.

"Unchanged" is decided on the LQ pixels, not on the LQ tokens, because the tokens are not stable under
sensor noise (measured on the static noisy evaluation clip, ``medium`` degradation, x2, 32 px windows:
fresh noise alone changes 80-96% of the finest-scale LQ tokens and 40-60% of the 3 x 3 scale, and the
mean LQ latent distance between two noisy frames of a still shot, 0.32-0.41 of the latent's norm, is as
large as between two frames of a 1-3 px pan, 0.30-0.56). Two tests against the crop the cached result
was computed from, both blind to independent noise:

- ``block_change``: the largest absolute mean change of any ``block`` x ``block`` LQ block (channel mean,
  8-bit units); noise averages out over a block, a new or moved object, a flash or a fade do not;
- ``window_motion``: the window's apparent translation (one Lucas-Kanade step); noise is not explained by
  the image's gradients (0.00-0.15 LQ px on the noisy still shot), while a moving texture is, even where
  its block means hardly change (>= 0.21 px on every window of the pan, zoom, cut and flash clips whose
  ground truth changed; a fine texture moving 1 px changes block means by only 5-8).

Comparing with the cached result's own input, not the previous frame, catches slow drift once it adds up.

State is one entry per window of the current frame size (the LQ crop, the HQ token maps, the decoded HQ
window), so memory is bounded by one frame of windows; a new frame size or a new scene drops it all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["TokenCacheParams", "CacheEntry", "CacheStats", "TokenCache", "block_change", "window_motion"]


@dataclass
class TokenCacheParams:
    """A window reuses its result while its largest block change (8-bit units) is at most ``threshold``
    and its apparent motion at most ``motion`` LQ pixels; ``margin``: the logit margin within which a
    recomputed window keeps its cached token (0 = no hysteresis)."""

    enabled: bool = True
    threshold: float = 10.0
    motion: float = 0.12
    margin: float = 0.0
    block: int = 4

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.motion < 0 or self.margin < 0 or self.block < 1:
            raise ValueError(f"token cache: threshold and margin must be >= 0 and block >= 1, got {self}")


def _smooth(x_N1HW: torch.Tensor) -> torch.Tensor:
    """A separable [1, 2, 1] / 4 blur (replicate border): tames per-pixel noise before the gradients."""
    k = x_N1HW.new_tensor([0.25, 0.5, 0.25])
    x = F.conv2d(F.pad(x_N1HW, (1, 1, 0, 0), mode="replicate"), k.view(1, 1, 1, 3))
    return F.conv2d(F.pad(x, (0, 0, 1, 1), mode="replicate"), k.view(1, 1, 3, 1))


def window_motion(a_NCHW: torch.Tensor, b_NCHW: torch.Tensor, reg: float = 4.0) -> torch.Tensor:
    """Per crop, the length (LQ pixels) of the one translation that best explains ``a - b`` (Lucas-Kanade
    over the whole window, on the lightly blurred channel mean, ``reg`` (8-bit units per pixel, squared)
    added to the gradient matrix so flat windows read as still). Independent noise is not explained by
    the image's gradients, so it gives ~0; a textured window that moved gives its displacement, even
    where its block means barely change."""
    a = _smooth(a_NCHW.float().mean(1, keepdim=True) * 255.0)
    b = _smooth(b_NCHW.float().mean(1, keepdim=True) * 255.0)
    if a.shape[-2] < 3 or a.shape[-1] < 3:
        return a.new_zeros(a.shape[0])
    m = (a + b) * 0.5
    gx = (m[..., 1:-1, 2:] - m[..., 1:-1, :-2]) * 0.5
    gy = (m[..., 2:, 1:-1] - m[..., :-2, 1:-1]) * 0.5
    d = (a - b)[..., 1:-1, 1:-1]
    n = d[0].numel()
    gxx = (gx * gx).flatten(1).sum(1) + reg * n
    gyy = (gy * gy).flatten(1).sum(1) + reg * n
    gxy = (gx * gy).flatten(1).sum(1)
    bx, by = -(gx * d).flatten(1).sum(1), -(gy * d).flatten(1).sum(1)
    det = gxx * gyy - gxy * gxy
    return torch.hypot((gyy * bx - gxy * by) / det, (gxx * by - gxy * bx) / det)


def block_change(a_NCHW: torch.Tensor, b_NCHW: torch.Tensor, block: int) -> torch.Tensor:
    """Per crop, the largest ``|mean(a - b)|`` over ``block`` x ``block`` blocks (stride ``block // 2``, the
    channel mean), in 8-bit units: the change that survives averaging away independent noise."""
    d = (a_NCHW.float() - b_NCHW.float()).mean(1, keepdim=True) * 255.0
    k = max(1, min(block, d.shape[-2], d.shape[-1]))
    return F.avg_pool2d(d, k, max(1, k // 2)).abs().flatten(1).amax(1)


@dataclass
class CacheEntry:
    """One window's state: the LQ crop its result came from, the HQ token maps, the decoded HQ crop."""

    lq: torch.Tensor  # C x ch x cw, float in [0, 1]
    hq_tokens: list[torch.Tensor] | None  # per scale, h x w
    hq: torch.Tensor  # C x ch*s x cw*s, before the cross-fade


@dataclass
class CacheStats:
    """Counters for the run's report. ``compute_s``: time spent on recomputed windows; ``saved_s`` estimates
    what the reused ones would have cost at that rate."""

    frames: int = 0
    windows: int = 0
    hits: int = 0
    misses: int = 0
    resets: int = 0  # cache cleared at a scene cut (or a new frame size)
    compute_s: float = 0.0
    changes: list[tuple[float, float]] = field(default_factory=list, repr=False)  # (block, motion), capped

    def as_dict(self) -> dict[str, Any]:
        per_miss = self.compute_s / self.misses if self.misses else 0.0
        return {
            "frames": self.frames,
            "windows": self.windows,
            "hits": self.hits,
            "misses": self.misses,
            "skipped_share": round(self.hits / self.windows, 4) if self.windows else 0.0,
            "resets": self.resets,
            "compute_s": round(self.compute_s, 3),
            "saved_s_estimate": round(self.hits * per_miss, 3),
        }


class TokenCache:
    """Per window key (frame size + crop box) one :class:`CacheEntry`; see the module docstring."""

    MAX_CHANGES = 4096

    def __init__(self, params: TokenCacheParams | None = None) -> None:
        self.params = params or TokenCacheParams()
        self.entries: dict[tuple[int, ...], CacheEntry] = {}
        self.size: tuple[int, int] | None = None
        self.scene: int | None = None
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self.entries)

    def clear(self) -> None:
        if self.entries:
            self.stats.resets += 1
        self.entries.clear()

    def begin_frame(self, size: tuple[int, int], scene: int | None) -> None:
        """A new frame: its size and scene id (None = unknown, i.e. the same scene) may clear the cache."""
        if size != self.size or (scene is not None and scene != self.scene):
            self.clear()
        self.size = size
        if scene is not None:
            self.scene = scene
        self.stats.frames += 1

    def match(self, keys: list[tuple[int, ...]], crops_NCHW: torch.Tensor) -> list[CacheEntry | None]:
        """The reusable entry of every window (None: recompute it); counts hits and misses."""
        found: list[CacheEntry | None] = [self.entries.get(k) for k in keys]
        have = [i for i, e in enumerate(found) if e is not None]
        hit = [False] * len(keys)
        if have:
            refs = torch.stack([found[i].lq for i in have]).to(crops_NCHW.device)  # type: ignore[union-attr]
            cur = crops_NCHW[have]
            change = block_change(cur, refs, self.params.block).cpu().tolist()
            motion = window_motion(cur, refs).cpu().tolist()
            for i, c, v in zip(have, change, motion):
                hit[i] = c <= self.params.threshold and v <= self.params.motion
                if len(self.stats.changes) < self.MAX_CHANGES:
                    self.stats.changes.append((c, v))
        n_hit = sum(hit)
        self.stats.windows += len(keys)
        self.stats.hits += n_hit
        self.stats.misses += len(keys) - n_hit
        return [e if h else None for e, h in zip(found, hit)]

    def keep_tokens(self, key: tuple[int, ...]) -> list[torch.Tensor] | None:
        """The cached HQ token maps of a window about to be recomputed (the hysteresis choice)."""
        e = self.entries.get(key)
        return None if e is None or self.params.margin <= 0 else e.hq_tokens

    def store(self, key: tuple[int, ...], entry: CacheEntry) -> None:
        self.entries[key] = entry
