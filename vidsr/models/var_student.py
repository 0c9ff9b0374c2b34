"""The served model: a one-step student distilled from the VAR teacher, and the continuous-residual refiner.

- ``LoRALinear``: a frozen linear layer plus a low-rank update ``B(A(x)) * alpha / r`` (B starts at zero,
  so the untrained student is the teacher run bidirectionally).
- ``VARStudent``: the teacher's weights, frozen, with adapters on every block's attention (qkv, proj) and
  MLP (both layers). Its forward has no per-scale loop: the input at every scale is the LQ token
  pyramid (the LQ latent's own quantized maps, in the teacher's next-scale input form), attention is
  bidirectional across scales, and one pass gives the logits of all scales (VARestorer).
- ``Refiner``: a small conv head at latent resolution that predicts the continuous quantization residual
  (HQ latent minus the quantized sum) from the LQ features and the quantized latent (VARSR's refiner,
  made one-step), so fidelity is not capped by the codebook.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidsr.models.quant import MultiScaleQuantizer
from vidsr.models.var import QUALITY_HQ, VARConfig, VARTeacher, next_scale_inputs

__all__ = ["LoRALinear", "StudentConfig", "VARStudent", "Refiner", "save_student", "load_student"]


class LoRALinear(nn.Module):
    """``base(x) + up(down(x)) * alpha / rank`` with ``base`` frozen."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.down = nn.Linear(base.in_features, rank, bias=False)
        self.up = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.down.weight, a=math.sqrt(5))
        nn.init.zeros_(self.up.weight)
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + self.up(self.down(x)) * self.scale

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """One plain layer with ``W + up @ down * alpha / rank``: the same map in one matmul, for serving
        (two rank-r matmuls and an add per call cost more than their FLOPs on a CPU)."""
        out = copy.deepcopy(self.base)
        out.weight += (self.up.weight @ self.down.weight) * self.scale
        return out


@dataclass(frozen=True)
class StudentConfig:
    teacher: VARConfig = VARConfig()
    rank: int = 2
    alpha: float = 4.0
    refiner_width: int = 48
    refiner_blocks: int = 2

    @classmethod
    def from_json(cls, text: str) -> StudentConfig:
        d = json.loads(text)
        t = {k: tuple(v) if isinstance(v, list) else v for k, v in d.pop("teacher").items()}
        return cls(teacher=VARConfig(**t), **d)


class Refiner(nn.Module):
    """(LQ features, quantized latent) -> the residual the codebook could not express."""

    def __init__(self, feat_dim: int, code_dim: int, width: int, blocks: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(feat_dim + code_dim, width, 3, padding=1)
        self.body = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks)])
        self.conv_out = nn.Conv2d(width, code_dim, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)  # starts as "no correction"
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, feat_BPhw: torch.Tensor, fhat_BChw: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.conv_in(torch.cat([feat_BPhw, fhat_BChw], 1)))
        for conv in self.body:
            h = h + F.silu(conv(h))
        return self.conv_out(h)


class VARStudent(nn.Module):
    def __init__(self, cfg: StudentConfig, teacher: VARTeacher | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        # 1. the teacher's weights, frozen (a copy: the teacher itself stays usable for distillation)
        self.var = copy.deepcopy(teacher) if teacher is not None else VARTeacher(cfg.teacher)
        for p in self.var.parameters():
            p.requires_grad_(False)
        # 2. low-rank adapters on attention and MLP of every block
        for blk in self.var.blocks:
            blk.attn.qkv = LoRALinear(blk.attn.qkv, cfg.rank, cfg.alpha)
            blk.attn.proj = LoRALinear(blk.attn.proj, cfg.rank, cfg.alpha)
            blk.ffn[0] = LoRALinear(blk.ffn[0], cfg.rank, cfg.alpha)
            blk.ffn[2] = LoRALinear(blk.ffn[2], cfg.rank, cfg.alpha)
        # 3. the refiner (trained after the adapters, in its own phase)
        tc = cfg.teacher
        self.refiner = Refiner(tc.prefix_dim, tc.code_dim, cfg.refiner_width, cfg.refiner_blocks)

    def merge_adapters(self) -> VARStudent:
        """Fold every adapter into its frozen layer (inference only: the adapters cannot train after)."""
        for blk in self.var.blocks:
            for owner, name in ((blk.attn, "qkv"), (blk.attn, "proj"), (blk.ffn, "0"), (blk.ffn, "2")):
                layer = owner._modules[name]
                if isinstance(layer, LoRALinear):
                    owner._modules[name] = layer.merged()
        return self

    def adapter_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.var.named_parameters() if ".down." in n or ".up." in n]

    def pyramid_inputs(self, quant: MultiScaleQuantizer, lq_idx: list[torch.Tensor]) -> list[torch.Tensor]:
        """The LQ token pyramid in next-scale input form: LQ start map, then the LQ ``fhat`` pooled per scale."""
        start = quant.codebook(lq_idx[0]).permute(0, 3, 1, 2)
        return next_scale_inputs(quant, lq_idx, start)

    def forward(
        self,
        prefix_BPhw: torch.Tensor,
        pyramid: list[torch.Tensor],
        lq_hat_BChw: torch.Tensor,
        deg_B4: torch.Tensor | None,
        hq_size: tuple[int, int],
    ) -> torch.Tensor:
        """Logits ``B x L x V`` of every scale in ONE bidirectional pass (no per-scale loop)."""
        B = prefix_BPhw.shape[0]
        quality = torch.full((B,), QUALITY_HQ, dtype=torch.long, device=prefix_BPhw.device)
        cond_BD = self.var.condition(deg_B4, quality, hq_size)
        return self.var(prefix_BPhw, pyramid, cond_BD, lq_hat_BChw, causal=False)

    @torch.no_grad()
    def predict(
        self,
        quant: MultiScaleQuantizer,
        prefix_BPhw: torch.Tensor,
        lq_idx: list[torch.Tensor],
        deg_B4: torch.Tensor | None,
        hq_size: tuple[int, int],
        refine: bool = True,
        keep: list[torch.Tensor] | None = None,
        margin: float = 0.0,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(HQ token maps, the latent for the decoder: quantized sum + refiner residual).

        ``keep`` (token maps of the same grids, e.g. the previous frame's choice for this tile) wins
        wherever its logit is within ``margin`` of the best: hysteresis against flicker between near ties.
        """
        logits = self(prefix_BPhw, self.pyramid_inputs(quant, lq_idx), quant.tokens_to_fhat(lq_idx), deg_B4, hq_size)
        best_BL = logits.argmax(-1)
        if keep is not None:
            keep_BL = torch.cat([k.flatten(1) for k in keep], 1)
            gap = logits.gather(-1, best_BL[..., None]) - logits.gather(-1, keep_BL[..., None])
            best_BL = torch.where(gap[..., 0] <= margin, keep_BL, best_BL)
        idx_list = split_tokens(best_BL, [tuple(i.shape[-2:]) for i in lq_idx])
        fhat = quant.tokens_to_fhat(idx_list)
        if refine:
            fhat = fhat + self.refiner(prefix_BPhw, fhat)
        return idx_list, fhat


def split_tokens(idx_BL: torch.Tensor, hws: list[tuple[int, int]]) -> list[torch.Tensor]:
    """A flat ``B x L`` token sequence back into per-scale ``B x h x w`` maps."""
    parts = idx_BL.split([h * w for h, w in hws], dim=1)
    return [p.reshape(-1, h, w) for p, (h, w) in zip(parts, hws)]


def save_student(model: VARStudent, path: Path | str, meta: dict | None = None) -> None:
    """One self-contained fp16 file: the frozen teacher weights, the adapters and the refiner."""
    from safetensors.torch import save_file

    tensors = {k: v.half().contiguous().cpu() for k, v in model.state_dict().items()}
    header = {"config": json.dumps(asdict(model.cfg)), "kind": "VARStudent"}
    header.update({k: str(v) for k, v in (meta or {}).items()})
    save_file(tensors, str(path), metadata=header)


def load_student(path: Path | str, device: torch.device | str = "cpu", merge: bool = False) -> VARStudent:
    """The student from one file; ``merge`` folds the adapters into the frozen layers (serving)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    if header.get("kind") != "VARStudent":
        raise ValueError(f"{path} holds a {header.get('kind')}, not a VARStudent")
    model = VARStudent(StudentConfig.from_json(header["config"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    if merge:
        model.merge_adapters()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device).eval()
