"""The VAR detail stage as SR models: ``var`` (the one-step student, what vidsr serves) and
``var-teacher`` (the guided next-scale teacher it is distilled from).

Both restore first and add detail after (VARestorer): the shipped CNN upscales the whole frame (the
base), then 64 x 64 windows of the base, overlapping by a margin, are tokenized on their own
(``prepare_windows``, the function training uses), the finest token scales are predicted, a decoder
that sees the base window turns them into a change to the base (the student's tiny conditional decoder
on the latent grid; the teacher's fusion of three tokenizer decodes), and the changes are cross-faded
and added: ``out = base + detail * change``. ``detail`` = 0 is the base exactly (nothing else runs).

The windows follow a grid on the LQ frame (each window is 64 / scale LQ pixels), so the scene-level
token cache (``vidsr.sr.token_cache``) decides reuse on the LQ pixels, as before: a window whose LQ
input did not change keeps its last change and tokens.

fp32 on CPU; bf16 autocast of the transformer on CUDA (the nearest-code prior stays fp32). Weights load
once per process.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from vidsr.models.detail import (
    DetailStudent,
    DetailTeacher,
    Fusion,
    load_detail,
    prepare_windows,
    proposal,
    student_change,
)
from vidsr.models.tiny_decoder import TinyDecoder
from vidsr.models.vqvae import VQVAE, load_vqvae, pad_to_multiple
from vidsr.sr.base import Capabilities
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.cnn import CNN, shipped_scales
from vidsr.sr.register import register_model
from vidsr.sr.tiling import Blender, TileGrid, upscale_tiled
from vidsr.sr.token_cache import CacheEntry, TokenCache, TokenCacheParams
from vidsr.sr.vq_lq import TOKENIZER_PATH, WEIGHTS_DIR

__all__ = ["VarSR", "STUDENT_PATH", "TEACHER_PATH", "WINDOW", "DEFAULT_DETAIL", "window_changes", "earns_auto"]

STUDENT_PATH = WEIGHTS_DIR / "var.safetensors"
TEACHER_PATH = STUDENT_PATH  # one file holds teacher, student, fusion and decoder
WINDOW = 64  # HQ pixels per window side: the training window
DEFAULT_DETAIL = 1.0  # overridden by the file's ``detail`` header (chosen on the real-source suite)


@lru_cache(maxsize=4)
def _load(path: Path, device: str) -> tuple[Any, dict[str, torch.nn.Module], dict[str, str]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    cfg, nets = load_detail(path, device)
    return cfg, nets, header


@lru_cache(maxsize=2)
def _tokenizer(device: str) -> VQVAE:
    return load_vqvae(TOKENIZER_PATH, device)


@torch.no_grad()
def window_changes(
    vq: VQVAE,
    predictor: DetailStudent | DetailTeacher,
    decoder: TinyDecoder | Fusion,
    base_NCHW: torch.Tensor,
    cfg_scale: float = 1.0,
    amp: bool = False,
    keep: list[torch.Tensor] | None = None,
    margin: float = 0.0,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(predicted token maps, the change to each base window) for ``N`` base windows of any size (padded to
    the tokenizer's multiple, cropped back); ``decoder``: the student's ``TinyDecoder`` or the teacher's
    ``Fusion``; ``keep``/``margin``: the student's hysteresis."""
    H, W = base_NCHW.shape[-2:]
    x = pad_to_multiple(base_NCHW.float(), vq.cfg.downsample)
    bt = prepare_windows(vq, x, predictor.cfg.predicted)
    if isinstance(predictor, DetailStudent):
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            out = predictor.predict(bt, vq.quantize, keep, margin)
        assert isinstance(decoder, TinyDecoder)
        return out.idx, student_change(decoder, bt, out)[..., :H, :W]
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
        idx, fhat, soft = predictor.generate(bt, vq.quantize, cfg_scale=cfg_scale)
    change = decoder(x, proposal(vq, bt, fhat.float(), soft.float()))
    return idx, change[..., :H, :W]


class VarSR:
    """A batch's vectors (``SRBatch.degradation_BF``) go to the base CNN; its scene ids clear the token
    cache at a cut; ``detail`` in [0, 1]: how much of the VAR's change reaches the output.

    ``configure_cache(TokenCacheParams(...))`` turns the scene-level token cache on: the frames of one
    call are then consecutive frames of a video, in order. Off by default (a batch of unrelated images).
    """

    def __init__(self, path: Path, name: str, scale: int, device: torch.device, detail: float | None = None) -> None:
        self.name, self.scale, self.device = name, scale, device
        cfg, nets, header = _load(path, str(device))
        self.vq = _tokenizer(str(device))
        self.predictor = nets["student"] if name == "var" else nets["teacher"]
        self.decoder = nets["decoder"] if name == "var" else nets["fusion"]
        self.cfg_scale = float(header.get("cfg_scale", 1.5))
        self.detail = float(header.get("detail", DEFAULT_DETAIL)) if detail is None else float(detail)
        self.base = CNN(scale, device)
        self.window = WINDOW // scale  # LQ pixels
        self.margin = max(1, self.window // 16)  # 2 LQ px at x2: windows cost (32/28)^2 = 1.3x the frame
        self.context = 0
        self.max_windows = 64
        self.cache: TokenCache | None = None
        self.amp = device.type == "cuda"
        # windows are cut (and cached) here; the vectors are the base CNN's
        conditioned = self.base.capabilities.conditioned
        self.capabilities = Capabilities(tiles_itself=True, conditioned=conditioned, token_cache=True, detail=True)

    def configure_cache(self, params: TokenCacheParams | None) -> None:
        """Turn the token cache on (``params.enabled``) or off (None); state starts empty either way."""
        self.cache = TokenCache(params) if params is not None and params.enabled else None

    def cache_summary(self) -> dict[str, Any] | None:
        if self.cache is None:
            return None
        p = self.cache.params
        return {
            **self.cache.stats.as_dict(),
            "threshold": p.threshold,
            "motion": p.motion,
            "margin": p.margin,
            "entries": len(self.cache),
        }

    def _base(self, x_BCHW: torch.Tensor, degradation_BF: torch.Tensor | None) -> torch.Tensor:
        """The CNN's frames, tiled only above its memory budget (as the SR stage would run it); vectors
        with a non-finite value are dropped, so the base measures those frames whole."""
        if degradation_BF is not None and not torch.isfinite(degradation_BF).all():
            degradation_BF = None
        return upscale_tiled(self.base, SRBatch(x_BCHW, degradation_BF), 512, 16, 4, budget_pixels=int(2.1e6))

    @torch.inference_mode()
    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
        """Float RGB in [0, 1] of any float dtype -> the same dtype."""
        batch = as_batch(batch)
        x_BCHW = batch.x_BCHW
        if self.detail == 0.0:
            return self._base(x_BCHW.float(), batch.degradation_BF).clamp_(0, 1).to(x_BCHW.dtype)
        base, change = self.base_and_change(batch)
        return (base + self.detail * change).clamp_(0, 1).to(x_BCHW.dtype)

    @torch.inference_mode()
    def base_and_change(self, batch: SRBatch | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the base frames, the cross-faded change): the output at any ``detail`` d is
        ``(base + d * change).clamp(0, 1)``, so one pass scores every detail level (``bench/detail_suite.py``)."""
        batch = as_batch(batch)
        x = batch.x_BCHW.float()
        scenes = batch.scene_ids
        base = self._base(x, batch.degradation_BF)
        B, C, H, W = x.shape
        grid = TileGrid.make(H, W, self.window - 2 * self.margin, self.margin, self.margin)
        if grid.whole and (H != self.window or W != self.window):  # a frame smaller than one window
            grid = TileGrid(H, W, H, W, H, W, 0, ((0, 0),), ((0, 0),))
        blender = Blender(grid, self.scale, B, C, torch.float32, x.device)
        if self.cache is None:
            n, per = len(grid.origins), max(1, self.max_windows // B)
            for i in range(0, n, per):
                part = range(i, min(n, i + per))
                crops = torch.cat([self._base_crop(base, grid, k) for k in part])
                _, change = window_changes(self.vq, self.predictor, self.decoder, crops, self.cfg_scale, self.amp)
                for j, k in enumerate(part):
                    blender.add(k, change[j * B : (j + 1) * B])
        else:
            self._cached(x, base, grid, blender, scenes)
        return base, blender.result()

    def _base_crop(self, base: torch.Tensor, grid: TileGrid, i: int) -> torch.Tensor:
        cy, cx = grid.origins[i]
        s = self.scale
        return base[:, :, cy * s : (cy + grid.ch) * s, cx * s : (cx + grid.cw) * s]

    def _cached(
        self, x: torch.Tensor, base: torch.Tensor, grid: TileGrid, blender: Blender, scenes: tuple[int, ...] | None
    ) -> None:
        """Frame by frame in order: a window whose LQ crop did not change keeps its cached change."""
        cache = self.cache
        assert cache is not None
        B, _, H, W = x.shape
        keys = [(H, W, cy, cx, grid.ch, grid.cw) for cy, cx in grid.origins]
        for b in range(B):
            cache.begin_frame((H, W), None if scenes is None or len(scenes) != B else int(scenes[b]))
            crops = torch.cat([grid.crop(x[b : b + 1], i) for i in range(len(keys))])
            found = cache.match(keys, crops)
            todo = [i for i, e in enumerate(found) if e is None]
            t0 = time.perf_counter()
            # recomputed windows with cached tokens (hysteresis) and without go in separate calls
            with_keep = [i for i in todo if cache.keep_tokens(keys[i]) is not None]
            groups = [with_keep, [i for i in todo if i not in set(with_keep)]]
            parts = [
                (g, grp[k : k + self.max_windows])
                for g, grp in enumerate(groups)
                for k in range(0, len(grp), self.max_windows)
            ]
            for g, part in parts:
                keep = None
                if g == 0:
                    tok = [cache.keep_tokens(keys[i]) for i in part]
                    keep = [torch.stack([t[p] for t in tok]) for p in range(len(tok[0]))]  # type: ignore[index]
                bases = torch.cat([self._base_crop(base[b : b + 1], grid, i) for i in part])
                idx, change = window_changes(
                    self.vq, self.predictor, self.decoder, bases, self.cfg_scale, self.amp, keep, cache.params.margin
                )
                for j, i in enumerate(part):
                    cache.store(keys[i], CacheEntry(crops[i].clone(), [t[j].clone() for t in idx], change[j].clone()))
            cache.stats.compute_s += time.perf_counter() - t0
            for i, key in enumerate(keys):
                blender.add(i, cache.entries[key].hq[None], slice(b, b + 1))


def earns_auto(path: Path = STUDENT_PATH) -> bool:
    """Whether ``auto`` may serve ``var`` on CUDA: the real-source suite (``bench/detail_suite.py``, written
    into the weights file's header at export) put it within 0.2 dB PSNR-Y of its base with a better NIQE."""
    if not _have(path):
        return False
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata() or {}
    try:
        return float(header["suite_psnr_vs_base"]) >= -0.2 and float(header["suite_niqe_vs_base"]) < 0.0
    except (KeyError, ValueError):
        return False


def _have(path: Path) -> bool:
    return path.exists() and TOKENIZER_PATH.exists()


def _scales() -> tuple[int, ...]:
    return tuple(s for s in (2, 4) if s in shipped_scales()) if _have(STUDENT_PATH) else ()


@register_model("var", scales=_scales())
def _var(scale: int, device: torch.device) -> VarSR:
    return VarSR(STUDENT_PATH, "var", scale, device)


@register_model("var-teacher", scales=_scales())
def _var_teacher(scale: int, device: torch.device) -> VarSR:
    return VarSR(TEACHER_PATH, "var-teacher", scale, device)
