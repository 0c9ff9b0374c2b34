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

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis.estimators import degradation_vector
from vidsr.models.var import VARTeacher, load_var
from vidsr.models.var_student import VARStudent, load_student
from vidsr.sr.base import register_model
from vidsr.sr.colorfix import wavelet_colour_fix
from vidsr.sr.tiling import upscale_tiled
from vidsr.sr.vq_lq import LQ_ENCODER_PATH, TOKENIZER_PATH, WEIGHTS_DIR, load_shipped

__all__ = ["VarSR", "TEACHER_PATH", "STUDENT_PATH", "WINDOW"]

TEACHER_PATH = WEIGHTS_DIR / "var_teacher.safetensors"
STUDENT_PATH = WEIGHTS_DIR / "var.safetensors"
WINDOW = 64  # HQ pixels per window side: the training tile


@lru_cache(maxsize=4)
def _load(path: Path, device: str) -> VARTeacher | VARStudent:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        kind = f.metadata().get("kind")
    return load_student(path, device) if kind == "VARStudent" else load_var(path, device)


def frame_degradations(x_BCHW: torch.Tensor) -> torch.Tensor:
    """degrade-analysis's vector of every frame of a batch (what the SR stage would hand over)."""
    imgs = (x_BCHW.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return torch.from_numpy(np.stack([degradation_vector(im) for im in imgs]))


class _Windows:
    """The model on one batch of LQ windows (what ``upscale_tiled`` calls)."""

    def __init__(self, owner: VarSR, margin: int) -> None:
        self.owner = owner
        self.name, self.scale, self.device, self.context = owner.name, owner.scale, owner.device, margin

    def __call__(self, x_NCHW: torch.Tensor) -> torch.Tensor:
        o = self.owner
        s = self.scale
        up = F.interpolate(x_NCHW.float(), scale_factor=s, mode="bicubic", align_corners=False).clamp(0, 1)
        H, W = up.shape[-2:]
        deg = o.current_deg.repeat(x_NCHW.shape[0] // o.current_deg.shape[0], 1).to(self.device)
        feat = o.lq.frame_to_prefix_features(up)
        lq_idx = o.vq.quantize.f_to_tokens(o.lq.encoder.conv_out(feat))
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            if isinstance(o.model, VARStudent):
                _, fhat = o.model.predict(o.vq.quantize, feat, lq_idx, deg, (H, W))
            else:
                _, fhat = o.model.generate(o.vq.quantize, feat, lq_idx[0], deg, (H, W), o.cfg_scale)
        return o.vq.fhat_to_frame(fhat.float(), (H, W))


class VarSR:
    """``degradation``: an optional ``B x 4`` array for the next call's frames (set by the SR stage);
    ``colour_fix``: pull the output's low frequencies to the input's (wavelet fix, ``vidsr.sr.colorfix``)."""

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

    @torch.inference_mode()
    def __call__(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        B = x_BCHW.shape[0]
        given = self.degradation
        self.degradation = None  # one call's frames only
        if given is not None and len(given) == B and np.isfinite(np.asarray(given, dtype=np.float32)).all():
            self.current_deg = torch.as_tensor(np.asarray(given, dtype=np.float32))
        else:
            self.current_deg = frame_degradations(x_BCHW)
        inner = _Windows(self, self.margin)
        out = upscale_tiled(inner, x_BCHW, self.window - 2 * self.margin, self.margin, self.max_windows)
        # the output's low frequencies follow the input's: no colour or brightness drift (on whole frames,
        # so tiles cannot disagree)
        return wavelet_colour_fix(out, x_BCHW.float()) if self.colour_fix else out


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
