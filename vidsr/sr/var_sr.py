"""The VAR super-resolvers: SR models ``var`` (the one-step student, what vidsr serves) and
``var-teacher`` (the next-scale teacher it is distilled from).

Both run on 64 x 64 HQ windows (the tile size they were trained on: a 16 x 16 latent), overlapping by
a margin and cross-faded by ``vidsr.sr.tiling``, batched over tiles and frames. Per window: bicubic up
to the HQ grid -> LQ encoder (prefix features, LQ latent, LQ token pyramid) -> transformer -> quantized
latent (+ the refiner's residual for the student) -> decoder. The degradation vector conditions the
transformer: the SR stage hands over degrade-analysis's per-frame vectors (``degradation``); called
directly, the model measures its input frames itself.

fp32 on CPU (bf16 is 20x slower there); bf16 autocast on CUDA. Weights load once per process.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis.batch import batch_degradations
from vidsr.models.var import VARTeacher, load_var
from vidsr.models.var_student import VARStudent, load_student
from vidsr.sr.base import register_model
from vidsr.sr.colorfix import wavelet_colour_fix
from vidsr.sr.tiling import Blender, TileGrid, upscale_tiled
from vidsr.sr.vq_lq import LQ_ENCODER_PATH, TOKENIZER_PATH, WEIGHTS_DIR, load_shipped
from vidsr.temporal.cache import CacheEntry, TokenCache, TokenCacheParams

__all__ = ["VarSR", "TEACHER_PATH", "STUDENT_PATH", "WINDOW"]

TEACHER_PATH = WEIGHTS_DIR / "var_teacher.safetensors"
STUDENT_PATH = WEIGHTS_DIR / "var.safetensors"
WINDOW = 64  # HQ pixels per window side: the training tile


@lru_cache(maxsize=4)
def _load(path: Path, device: str) -> VARTeacher | VARStudent:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        kind = f.metadata().get("kind")
    return load_student(path, device, merge=True) if kind == "VARStudent" else load_var(path, device)


class _Windows:
    """The model on one batch of LQ windows (what ``upscale_tiled`` calls)."""

    def __init__(self, owner: VarSR, margin: int) -> None:
        self.owner = owner
        self.name, self.scale, self.device, self.context = owner.name, owner.scale, owner.device, margin

    def __call__(self, x_NCHW: torch.Tensor) -> torch.Tensor:
        o = self.owner
        deg = o.current_deg.repeat(x_NCHW.shape[0] // o.current_deg.shape[0], 1)
        return self.run(x_NCHW, deg)[1]

    def run(
        self, x_NCHW: torch.Tensor, deg_N4: torch.Tensor, keep: list[torch.Tensor] | None = None, margin: float = 0.0
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(HQ token maps, HQ windows) of ``N`` LQ windows; ``keep``/``margin``: the student's hysteresis."""
        o = self.owner
        up = F.interpolate(x_NCHW.float(), scale_factor=self.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        H, W = up.shape[-2:]
        deg = deg_N4.to(self.device)
        feat = o.lq.frame_to_prefix_features(up)
        lq_idx = o.vq.quantize.f_to_tokens(o.lq.encoder.conv_out(feat))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=o.amp and self.device.type == "cuda"):
            if isinstance(o.model, VARStudent):
                hq_idx, fhat = o.model.predict(o.vq.quantize, feat, lq_idx, deg, (H, W), keep=keep, margin=margin)
            else:  # the teacher has no hysteresis: a recomputed window is simply recomputed
                hq_idx, fhat = o.model.generate(o.vq.quantize, feat, lq_idx, deg, (H, W), o.cfg_scale)
        return hq_idx, o.vq.fhat_to_frame(fhat.float(), (H, W))


class VarSR:
    """``degradation``: an optional ``B x 4`` array for the next call's frames (set by the SR stage);
    ``scenes``: optional scene ids of the next call's frames (set by the SR stage; a change clears the token
    cache); ``colour_fix``: pull the output's low frequencies to the input's (wavelet fix, ``vidsr.sr.colorfix``).

    ``configure_cache(TokenCacheParams(...))`` turns on the scene-level token cache
    (``vidsr.temporal.cache``): the frames of one call are then consecutive frames of a video, processed
    in order, so a window of frame b can reuse its result from frame b - 1 (or an earlier call). Off by
    default: called directly, the frames of a batch may be unrelated images.
    """

    def __init__(self, path: Path, name: str, scale: int, device: torch.device, cfg_scale: float = 1.0) -> None:
        self.name, self.scale, self.device, self.cfg_scale = name, scale, device, cfg_scale
        self.vq, self.lq = load_shipped() if device.type == "cpu" else load_shipped_on(str(device))
        self.model = _load(path, str(device))
        self.window = WINDOW // scale
        self.margin = max(1, self.window // 16)  # 2 LQ px at x2: windows cost (32/26)^2 = 1.5x, not 2.6x
        self.context = 0  # windows are cut here; an outer tiler adds nothing
        self.degradation: np.ndarray | None = None
        self.current_deg = torch.zeros(1, 4)
        self.max_windows = 128
        self.colour_fix = True
        self.scenes: list[int] | None = None
        self.cache: TokenCache | None = None
        self.amp = device.type == "cuda"  # bf16 autocast of the transformer; bench/gpu.py measures fp32 too
        self.tiles_itself = True  # an outer tiler must hand over whole frames: windows are cut (and cached) here

    def configure_cache(self, params: TokenCacheParams | None) -> None:
        """Turn the token cache on (``params.enabled``) or off (None); state starts empty either way."""
        self.cache = TokenCache(params) if params is not None and params.enabled else None

    def cache_summary(self) -> dict[str, Any] | None:
        """Hits, misses, resets and compute saved so far (None with the cache off)."""
        if self.cache is None:
            return None
        p = self.cache.params
        return {**self.cache.stats.as_dict(), "threshold": p.threshold, "motion": p.motion, "margin": p.margin,
                "entries": len(self.cache)}

    @torch.inference_mode()
    def __call__(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """Float RGB in [0, 1] of any float dtype -> the same dtype (windows and the colour fix run in float)."""
        dtype = x_BCHW.dtype
        x_BCHW = x_BCHW.float()
        B = x_BCHW.shape[0]
        given = self.degradation
        self.degradation = None  # one call's frames only
        if given is not None and len(given) == B and np.isfinite(np.asarray(given, dtype=np.float32)).all():
            self.current_deg = torch.as_tensor(np.asarray(given, dtype=np.float32))
        else:
            self.current_deg = batch_degradations(x_BCHW)
        scenes = self.scenes
        self.scenes = None
        if scenes is not None and len(scenes) != B:
            scenes = None
        inner = _Windows(self, self.margin)
        if self.cache is None:
            out = upscale_tiled(inner, x_BCHW, self.window - 2 * self.margin, self.margin, self.max_windows)
        else:
            out = self._cached(inner, x_BCHW, scenes)
        # the output's low frequencies follow the input's: no colour or brightness drift (on whole frames,
        # so tiles cannot disagree)
        return (wavelet_colour_fix(out, x_BCHW) if self.colour_fix else out).to(dtype)

    def _cached(self, inner: _Windows, x_BCHW: torch.Tensor, scenes: list[int] | None) -> torch.Tensor:
        """The windows of ``upscale_tiled``'s grid, frame by frame in order, through the token cache."""
        cache = self.cache
        assert cache is not None
        B, C, H, W = x_BCHW.shape
        grid = TileGrid.make(H, W, self.window - 2 * self.margin, self.margin, inner.context)
        blender = Blender(grid, self.scale, B, C, torch.float32, x_BCHW.device)
        keys = [(H, W, cy, cx, grid.ch, grid.cw) for cy, cx in grid.origins]
        x = x_BCHW.float()
        for b in range(B):
            cache.begin_frame((H, W), None if scenes is None else int(scenes[b]))
            crops = torch.cat([grid.crop(x[b : b + 1], i) for i in range(len(keys))])
            found = cache.match(keys, crops)
            todo = [i for i, e in enumerate(found) if e is None]
            t0 = time.perf_counter()
            # recomputed windows with cached tokens (hysteresis) and without go in separate calls
            with_keep = [i for i in todo if cache.keep_tokens(keys[i]) is not None]
            kept = set(with_keep)
            groups = [with_keep, [i for i in todo if i not in kept]]
            for g, group in enumerate(groups):
                for start in range(0, len(group), self.max_windows):
                    part = group[start : start + self.max_windows]
                    keep = None
                    if g == 0:
                        tok = [cache.keep_tokens(keys[i]) for i in part]
                        keep = [torch.stack([t[k] for t in tok]) for k in range(len(tok[0]))]  # type: ignore[index]
                    deg = self.current_deg[b : b + 1].repeat(len(part), 1)
                    hq_idx, hq = inner.run(crops[part], deg, keep, cache.params.margin)
                    # one copy per window of all its scales' tokens (not one per scale: a dozen small copies
                    # per window), kept as views of that copy
                    shapes = [tuple(t.shape[1:]) for t in hq_idx]
                    flat = torch.cat([t.flatten(1) for t in hq_idx], 1)
                    for j, i in enumerate(part):
                        parts = flat[j].clone().split([h * w for h, w in shapes])
                        tokens = [p.view(shape) for p, shape in zip(parts, shapes)]
                        cache.store(keys[i], CacheEntry(crops[i].clone(), tokens, hq[j].clone()))
            cache.stats.compute_s += time.perf_counter() - t0
            for i, key in enumerate(keys):
                blender.add(i, cache.entries[key].hq[None].to(x.device), slice(b, b + 1))
        return blender.result()


@lru_cache(maxsize=2)
def load_shipped_on(device: str):
    from vidsr.models.vqvae import load_lq_encoder, load_vqvae

    return load_vqvae(TOKENIZER_PATH, device), load_lq_encoder(LQ_ENCODER_PATH, device)


def _have(path: Path) -> bool:
    return path.exists() and TOKENIZER_PATH.exists() and LQ_ENCODER_PATH.exists()


@register_model("var", scales=(2, 4) if _have(STUDENT_PATH) else ())
def _var(scale: int, device: torch.device) -> VarSR:
    return VarSR(STUDENT_PATH, "var", scale, device)


@register_model("var-teacher", scales=(2, 4) if _have(TEACHER_PATH) else ())
def _var_teacher(scale: int, device: torch.device) -> VarSR:
    return VarSR(TEACHER_PATH, "var-teacher", scale, device)
