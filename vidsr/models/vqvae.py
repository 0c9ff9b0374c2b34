"""The VAR tokenizer (multi-scale residual VQ-VAE) and its degradation-robust LQ encoder.

- ``VQVAE``: encoder -> ``MultiScaleQuantizer`` -> decoder; conversions named by what they convert:
  ``frame_to_latent``, ``frame_to_tokens``, ``tokens_to_fhat``, ``tokens_to_frame``, ``fhat_to_frame``,
  ``frame_to_frame`` (the reconstruction).
- ``LQEncoder``: an encoder of the same shape, fine-tuned so that a degraded frame (bicubic-upsampled
  to the HQ grid) lands near the HQ latent; decoding its quantized latent is already a super-resolver
  (``vidsr.sr.vq_lq``). Its ``features`` are the prefix tokens and its coarsest token map the dynamic
  start token of the next-scale model.
- ``save_weights`` / ``load_vqvae`` / ``load_lq_encoder``: fp16 safetensors with the config in the header.

Frames of any size work: they are padded (replicate) up to a multiple of f and the output is cropped.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidsr.models.basic_vae import Decoder, Encoder
from vidsr.models.quant import MultiScaleQuantizer, scale_hws

__all__ = [
    "TokenizerConfig",
    "VQVAE",
    "LQEncoder",
    "pad_to_multiple",
    "save_weights",
    "load_vqvae",
    "load_lq_encoder",
]


@dataclass(frozen=True)
class TokenizerConfig:
    """f = ``stem * 2 ** (len(widths) - 1)``; V = ``codebook_size``; C = ``code_dim``; K = ``len(schedule)``.

    ``schedule`` is DVAR's canonical relative schedule: scale k's grid is ``schedule[k] / schedule[-1]``
    of the latent's h and w.
    """

    widths: tuple[int, ...] = (48, 64)
    stem: int = 2
    blocks: int = 1
    codebook_size: int = 1024
    code_dim: int = 16
    schedule: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    phi_count: int = 4
    phi_ratio: float = 0.5
    beta: float = 0.25

    @property
    def downsample(self) -> int:
        return self.stem * 2 ** (len(self.widths) - 1)

    @classmethod
    def from_json(cls, text: str) -> TokenizerConfig:
        d = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def pad_to_multiple(x_BCHW: torch.Tensor, m: int) -> torch.Tensor:
    """Replicate-pad bottom/right so H and W are multiples of ``m`` (the caller crops the output)."""
    H, W = x_BCHW.shape[-2:]
    ph, pw = (-H) % m, (-W) % m
    return F.pad(x_BCHW, (0, pw, 0, ph), mode="replicate") if ph or pw else x_BCHW


class VQVAE(nn.Module):
    """Frames ``x_BCHW`` in [0, 1] <-> multi-scale token maps ``[idx_Bhw for each scale]``."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        # 1. encoder: frame -> latent (f-times smaller, C channels)
        self.encoder = Encoder(cfg.widths, cfg.blocks, cfg.code_dim, cfg.stem)
        # 2. multi-scale residual quantizer with the shared codebook and phi refinements
        self.quantize = MultiScaleQuantizer(
            cfg.codebook_size, cfg.code_dim, cfg.schedule, cfg.phi_count, cfg.phi_ratio, cfg.beta
        )
        # 3. decoder: quantized latent -> frame
        self.decoder = Decoder(cfg.widths, cfg.blocks, cfg.code_dim, cfg.stem)

    def forward(self, x_BCHW: torch.Tensor, quantize: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: (reconstruction, codebook + commitment loss); ``quantize=False`` is a plain AE
        (the warm-up before k-means initialisation). H and W must be multiples of f."""
        f_BChw = self.encoder(x_BCHW)
        if not quantize:
            return self.decoder(f_BChw), f_BChw.new_zeros(())
        fhat_BChw, vq_loss = self.quantize(f_BChw)
        return self.decoder(fhat_BChw), vq_loss

    # ----- conversions (inference) -----
    def token_hws(self, H: int, W: int) -> list[tuple[int, int]]:
        """Token-map sizes for an ``H x W`` frame (any size)."""
        f = self.cfg.downsample
        return scale_hws(-(-H // f), -(-W // f), self.cfg.schedule)

    def frame_to_latent(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.encoder(pad_to_multiple(x_BCHW, self.cfg.downsample))

    def frame_to_tokens(self, x_BCHW: torch.Tensor) -> list[torch.Tensor]:
        return self.quantize.f_to_tokens(self.frame_to_latent(x_BCHW))

    def tokens_to_fhat(self, idx_list: list[torch.Tensor]) -> torch.Tensor:
        return self.quantize.tokens_to_fhat(idx_list)

    def fhat_to_frame(self, fhat_BChw: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Decode and clamp; ``size`` crops away the padding of a frame that was not a multiple of f."""
        x = self.decoder(fhat_BChw).clamp(0.0, 1.0)
        return x if size is None else x[..., : size[0], : size[1]]

    def tokens_to_frame(self, idx_list: list[torch.Tensor], size: tuple[int, int] | None = None) -> torch.Tensor:
        return self.fhat_to_frame(self.tokens_to_fhat(idx_list), size)

    def latent_to_frame(self, f_BChw: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Quantize a latent (from this encoder or the LQ encoder) and decode it."""
        return self.fhat_to_frame(self.quantize.f_to_fhat(f_BChw), size)

    def frame_to_frame(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """The tokenizer's reconstruction of a frame of any size."""
        return self.latent_to_frame(self.frame_to_latent(x_BCHW), tuple(x_BCHW.shape[-2:]))


class LQEncoder(nn.Module):
    """A degraded frame (already on the HQ grid) -> a latent near the HQ frame's latent."""

    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg.widths, cfg.blocks, cfg.code_dim, cfg.stem)

    @classmethod
    def from_vqvae(cls, vq: VQVAE) -> LQEncoder:
        """Start as an exact copy of the HQ encoder (the fine-tune only has to learn robustness)."""
        lq = cls(vq.cfg)
        lq.encoder.load_state_dict(vq.encoder.state_dict())
        return lq

    def forward(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """H and W multiples of f (training); use ``frame_to_latent`` for any size."""
        return self.encoder(x_BCHW)

    def frame_to_latent(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        return self.encoder(pad_to_multiple(x_BCHW, self.cfg.downsample))

    def frame_to_prefix_features(self, x_BCHW: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``B x widths[-1] x h x w``: the next-scale model's prefix tokens."""
        return self.encoder.features(pad_to_multiple(x_BCHW, self.cfg.downsample))


def save_weights(model: VQVAE | LQEncoder, path: Path | str, meta: dict | None = None) -> None:
    """fp16 safetensors with the config (and ``meta``) in the header; the EMA hit counts are not saved."""
    from safetensors.torch import save_file

    tensors = {k: v.half().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"config": json.dumps(asdict(model.cfg)), "kind": type(model).__name__}
    header.update({k: str(v) for k, v in (meta or {}).items()})
    save_file(tensors, str(path), metadata=header)


def _load(cls: type, path: Path | str, device: torch.device | str) -> nn.Module:
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    if header.get("kind") != cls.__name__:
        raise ValueError(f"{path} holds a {header.get('kind')}, not a {cls.__name__}")
    model = cls(TokenizerConfig.from_json(header["config"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device).eval()


def load_vqvae(path: Path | str, device: torch.device | str = "cpu") -> VQVAE:
    """The tokenizer from a file written by ``save_weights`` (fp32, eval mode, frozen)."""
    return _load(VQVAE, path, device)


def load_lq_encoder(path: Path | str, device: torch.device | str = "cpu") -> LQEncoder:
    return _load(LQEncoder, path, device)
