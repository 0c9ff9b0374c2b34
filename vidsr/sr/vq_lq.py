"""The tokenizer alone as a super-resolver, SR model ``vq-lq``: LQ -> bicubic up -> LQ encoder ->
multi-scale quantize -> decode. It shows what the token space can hold before any next-scale model
(the quality harness runs it next to ``bicubic`` and ``cnn``). Weights ship in the package.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from vidsr.models.vqvae import VQVAE, LQEncoder, load_lq_encoder, load_vqvae
from vidsr.sr.base import Capabilities
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.register import register_model

__all__ = ["VQLQ", "TOKENIZER_PATH", "LQ_ENCODER_PATH", "load_shipped"]

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
TOKENIZER_PATH = WEIGHTS_DIR / "tokenizer.safetensors"
LQ_ENCODER_PATH = WEIGHTS_DIR / "lq_encoder.safetensors"


@lru_cache(maxsize=1)
def load_shipped() -> tuple[VQVAE, LQEncoder]:
    """The shipped tokenizer and LQ encoder, read once per process (fp32, CPU, frozen)."""
    return load_vqvae(TOKENIZER_PATH), load_lq_encoder(LQ_ENCODER_PATH)


class VQLQ:
    """fp32 inference whatever the input's float dtype (the output has the input's dtype); one set of
    weights for x2 and x4 (the LQ encoder saw both during its fine-tune).

    Tiles are not exact: the coarse scales of the quantizer pool the whole (tile) latent, so a tile's
    tokens depend on the tile's extent; ``context`` covers the convolutions' reach, and the tiler's
    cross-fade hides what remains.
    """

    def __init__(self, scale: int, device: torch.device) -> None:
        self.name = "vq-lq"
        self.scale = scale
        self.device = device
        vq, lq = load_shipped()
        if device.type != "cpu":
            vq, lq = load_vqvae(TOKENIZER_PATH, device), load_lq_encoder(LQ_ENCODER_PATH, device)
        self.vq, self.lq = vq, lq
        self.context = 16
        self.capabilities = Capabilities()

    @torch.inference_mode()
    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
        x_BCHW = as_batch(batch).x_BCHW
        up = F.interpolate(x_BCHW.float(), scale_factor=self.scale, mode="bicubic", align_corners=False).clamp(0, 1)
        return self.vq.latent_to_frame(self.lq.frame_to_latent(up), tuple(up.shape[-2:])).to(x_BCHW.dtype)


@register_model("vq-lq", scales=(2, 4) if TOKENIZER_PATH.exists() and LQ_ENCODER_PATH.exists() else ())
def _vq_lq(scale: int, device: torch.device) -> VQLQ:
    return VQLQ(scale, device)
