"""The compact residual CNN super-resolver: the honest conventional peer the VAR model must beat.

An EDSR-style residual body that runs at half the LR resolution (pixel-unshuffle in, pixel-shuffle
out), so a 480p frame costs about a quarter of the same net at full resolution, and a global bicubic
skip, so the net only learns the correction (and starts as exact bicubic: the tail is zero-initialised).

With ``cond_dim`` > 0 the net is told how degraded its input is: the first ``cond_dim`` fields of
degrade-analysis's vector (noise, blur, blockiness, ringing, detail loss, measured on the LQ frame) go
through a small MLP to a per-channel scale and shift after every residual block (FiLM). A blind net must
pick one cleaning strength for every input; measured on the held-out set, the blind peer over-smooths
nearly clean inputs (-0.5 dB against bicubic on ``light``) and under-cleans ``medium``. The MLP's output
layer starts at zero, so a conditioned net initialised from blind weights starts as exactly that blind net.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["CNNConfig", "ResBlock", "CompactSR", "save_weights", "load_weights", "normalise_degradation"]

# Centre and spread of each degradation field (DEGRADATION_FIELDS order) over the training degradations,
# so the MLP sees values near [-1, 1]; an unmeasured field (NaN) reads as the centre.
DEG_CENTRE = (0.5, 1.2, 0.2, 0.3, 0.33)
DEG_SPREAD = (0.5, 0.5, 0.2, 0.4, 0.08)


def normalise_degradation(deg_BF: torch.Tensor, fields: int) -> torch.Tensor:
    centre = torch.tensor(DEG_CENTRE[:fields], dtype=torch.float32, device=deg_BF.device)
    spread = torch.tensor(DEG_SPREAD[:fields], dtype=torch.float32, device=deg_BF.device)
    z = (deg_BF[:, :fields].float() - centre) / spread
    return torch.nan_to_num(z, nan=0.0).clamp(-3.0, 6.0)


@dataclass(frozen=True)
class CNNConfig:
    """``scale``: upscaling factor; ``blocks`` residual blocks of ``channels`` run at 1/``unshuffle`` res."""

    scale: int = 2
    channels: int = 48
    blocks: int = 6
    unshuffle: int = 2
    cond_dim: int = 0  # > 0: FiLM-conditioned on the first cond_dim fields of the degradation vector

    @property
    def receptive_radius(self) -> int:
        """LR pixels each side that can influence an output pixel (3x3 convs at 1/unshuffle, + bicubic)."""
        convs = 2 + 2 * self.blocks
        return convs * self.unshuffle + self.unshuffle + 2


class ResBlock(nn.Module):
    """conv-ReLU-conv with an identity skip (no batch norm: it hurts SR fidelity, as EDSR showed)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h_BChw: torch.Tensor) -> torch.Tensor:
        return h_BChw + self.conv2(F.relu(self.conv1(h_BChw), inplace=True))


class CompactSR(nn.Module):
    """``x_BCHW`` float RGB in [0, 1] -> ``B x 3 x sH x sW`` (any H, W)."""

    def __init__(self, cfg: CNNConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, s, C = cfg.unshuffle, cfg.scale, cfg.channels
        # 1. space-to-depth: d x d LR pixels become one position with 3*d*d channels
        self.unshuffle = nn.PixelUnshuffle(d)
        # 2. head: lift to the body's width
        self.head = nn.Conv2d(3 * d * d, C, 3, padding=1)
        # 3. body: residual blocks, plus a long skip around them
        self.body = nn.Sequential(*[ResBlock(C) for _ in range(cfg.blocks)])
        self.body_out = nn.Conv2d(C, C, 3, padding=1)
        # 4. tail: one conv to (s*d)^2 sub-pixel RGB residuals, shuffled to the HR grid
        self.tail = nn.Conv2d(C, 3 * (s * d) ** 2, 3, padding=1)
        self.shuffle = nn.PixelShuffle(s * d)
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)
        # 5. conditioning: degradation vector -> (scale, shift) per channel after each block
        self.film: nn.Sequential | None = None
        if cfg.cond_dim:
            self.film = nn.Sequential(nn.Linear(cfg.cond_dim, 64), nn.SiLU(), nn.Linear(64, 2 * C * cfg.blocks))
            nn.init.zeros_(self.film[-1].weight)
            nn.init.zeros_(self.film[-1].bias)

    def _film(self, z_BF: torch.Tensor) -> torch.Tensor:
        """The MLP on each distinct vector alone, in float64: a matrix product's rounding can depend on how
        many rows it gets, and a frame must get the same output whichever frames share its batch (a Ray
        segment batches other neighbours than the single run; lossless joins are compared bit for bit)."""
        uniq_UF, inverse_B = torch.unique(z_BF, dim=0, return_inverse=True)
        mlp = self.film
        assert mlp is not None
        with torch.autocast(device_type=z_BF.device.type, enabled=False):
            rows = [
                F.linear(
                    F.silu(F.linear(u[None].double(), mlp[0].weight.double(), mlp[0].bias.double())),
                    mlp[2].weight.double(),
                    mlp[2].bias.double(),
                )
                for u in uniq_UF
            ]
        return torch.cat(rows).to(z_BF.dtype)[inverse_B]

    def forward(self, x_BCHW: torch.Tensor, deg_BF: torch.Tensor | None = None) -> torch.Tensor:
        """``deg_BF``: degrade-analysis's vector per batch item (a conditioned net needs it; a blind one
        ignores it)."""
        d, s = self.cfg.unshuffle, self.cfg.scale
        H, W = x_BCHW.shape[-2:]
        ph, pw = (-H) % d, (-W) % d
        x_pad = F.pad(x_BCHW, (0, pw, 0, ph), mode="replicate") if ph or pw else x_BCHW
        h_BChw = self.head(self.unshuffle(x_pad - 0.5))
        if self.film is None:
            body_BChw = self.body(h_BChw)
        else:
            if deg_BF is None or deg_BF.shape[0] != x_BCHW.shape[0]:
                raise ValueError("a conditioned CompactSR needs one degradation vector per batch item")
            B, C = x_BCHW.shape[0], self.cfg.channels
            film = self._film(normalise_degradation(deg_BF.to(x_BCHW.device), self.cfg.cond_dim))
            gain_BKC, shift_BKC = film.view(B, 2, self.cfg.blocks, C).unbind(1)
            body_BChw = h_BChw
            for k, block in enumerate(self.body):
                body_BChw = block(body_BChw)
                body_BChw = body_BChw * (1 + gain_BKC[:, k, :, None, None]) + shift_BKC[:, k, :, None, None]
        h_BChw = h_BChw + self.body_out(body_BChw)
        res_BCHW = self.shuffle(self.tail(h_BChw))[..., : H * s, : W * s]
        base_BCHW = F.interpolate(x_BCHW, scale_factor=s, mode="bicubic", align_corners=False)
        return base_BCHW + res_BCHW


def save_weights(model: CompactSR, path: Path | str, fp16: bool = True, meta: dict | None = None) -> None:
    """Write a safetensors file with the config (and ``meta``) in its header; fp16 halves the size."""
    from safetensors.torch import save_file

    tensors = {k: (v.half() if fp16 else v).contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"config": json.dumps(asdict(model.cfg)), **{k: str(v) for k, v in (meta or {}).items()}}
    save_file(tensors, str(path), metadata=header)


def load_weights(path: Path | str, device: torch.device | str = "cpu") -> CompactSR:
    """Rebuild the model from a safetensors file written by ``save_weights`` (weights in fp32)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        cfg = CNNConfig(**json.loads(f.metadata()["config"]))
    model = CompactSR(cfg)
    state = {k: v.float() for k, v in load_file(str(path)).items()}
    model.load_state_dict(state)
    return model.to(device).eval()
