"""The VAR teacher: a next-scale transformer that predicts the HQ frame's token maps from the LQ frame.

Sequence (VARSR, DVAR): the prefix tokens (the LQ encoder's penultimate features, one per latent cell)
are visible to every position; then the K scales' inputs. Scale 0's input is the dynamic start token
map (the LQ latent's own scale-0 code vectors, DVAR); scale k > 0's input is the running quantized
latent ``fhat`` after scales < k, area-pooled to scale k's grid (VAR). Attention is block-causal over
scales: a scale sees the prefix, itself and coarser scales; the prefix sees only itself. Positions are
scale-aligned 2D RoPE (``basic_var``), so any frame size and aspect ratio works with one set of weights.

Every block is AdaLN-conditioned on ``cond_BD`` = degradation embedding (degrade-analysis vector)
+ resolution embedding (the HQ target's size) + quality embedding (positive = HQ target, negative = LQ
target, null), which gives image-based classifier-free guidance at inference:
``logits = neg + s * (pos - neg)``.

``generate`` runs one forward per scale with a key/value cache; ``forward`` is the teacher-forced pass
that training (and the tests, against ``generate``) uses.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidsr.models.basic_var import AdaLNBlock, AdaLNHead, KVCache, RoPE2D, grid_positions
from vidsr.models.quant import MultiScaleQuantizer, scale_hws

__all__ = [
    "VARConfig",
    "VARTeacher",
    "QUALITY_NULL",
    "QUALITY_HQ",
    "QUALITY_LQ",
    "DEG_DIM",
    "next_scale_inputs",
    "block_causal_mask",
    "guide",
    "sample_tokens",
    "save_var",
    "load_var",
]

QUALITY_NULL, QUALITY_HQ, QUALITY_LQ = 0, 1, 2
DEG_DIM = 4  # vidsr.analysis.estimators.DEGRADATION_FIELDS: noise, blur, blockiness, ringing


@dataclass(frozen=True)
class VARConfig:
    """Width, depth and heads of the transformer; ``vocab``/``code_dim``/``prefix_dim``/``schedule`` must
    match the tokenizer it was trained with (checked when loading)."""

    dim: int = 128
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 2.0
    vocab: int = 1024
    code_dim: int = 16
    prefix_dim: int = 64
    schedule: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    downsample: int = 4
    rope_ref: float = 16.0

    @property
    def K(self) -> int:
        return len(self.schedule)

    @classmethod
    def from_json(cls, text: str) -> VARConfig:
        d = json.loads(text)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def block_causal_mask(group_L: torch.Tensor) -> torch.Tensor:
    """``L x L`` bool, True where query i may attend to key j: j's group is not finer than i's.

    Group 0 is the prefix, group k + 1 is scale k, so the prefix sees only itself and every scale sees
    the prefix, coarser scales and itself.
    """
    return group_L[None, :] <= group_L[:, None]


def next_scale_inputs(
    quant: MultiScaleQuantizer, idx_list: list[torch.Tensor], start_BCgg: torch.Tensor
) -> list[torch.Tensor]:
    """Teacher-forcing inputs of every scale: the start map, then ``fhat`` after scale k - 1 pooled to
    scale k's grid (VAR's next-scale prediction)."""
    fhat_list = quant.tokens_to_fhat_pyramid(idx_list)[:-1]
    return [start_BCgg] + [F.interpolate(fh, size=tuple(i.shape[-2:]), mode="area") for fh, i in
                           zip(fhat_list, idx_list[1:])]


def guide(logits_pos: torch.Tensor, logits_neg: torch.Tensor | None, scale: float) -> torch.Tensor:
    """Image-based classifier-free guidance: move from the LQ-conditioned logits past the HQ ones."""
    if logits_neg is None or scale == 1.0:
        return logits_pos
    return logits_neg + scale * (logits_pos - logits_neg)


def sample_tokens(
    logits_BlV: torch.Tensor, temperature: float, top_k: int, generator: torch.Generator | None
) -> torch.Tensor:
    """Greedy at ``temperature`` 0 (fidelity); otherwise top-k sampling, seeded by ``generator``."""
    if temperature <= 0:
        return logits_BlV.argmax(-1)
    logits = logits_BlV.float() / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = logits.softmax(-1).reshape(-1, logits.shape[-1])
    return torch.multinomial(probs, 1, generator=generator).view(logits.shape[:-1])


def _sinusoid(x_B: torch.Tensor, n: int) -> torch.Tensor:
    f = 2.0 ** torch.arange(n, dtype=torch.float32, device=x_B.device)
    return torch.cat([(x_B[:, None] * f).sin(), (x_B[:, None] * f).cos()], dim=-1)


class VARTeacher(nn.Module):
    def __init__(self, cfg: VARConfig) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.dim
        # 1. input embeddings: code-space maps (start token, next-scale inputs), the LQ token pyramid
        #    (the LQ latent's quantized sum pooled to each scale's grid) and prefix features
        self.word_embed = nn.Linear(cfg.code_dim, D)
        self.lq_embed = nn.Linear(cfg.code_dim, D)
        self.prefix_embed = nn.Linear(cfg.prefix_dim, D)
        self.level_embed = nn.Embedding(cfg.K + 1, D)  # 0 = prefix, k + 1 = scale k
        # 2. conditioning: degradation vector, target resolution, quality label (null / HQ / LQ)
        self.deg_embed = nn.Sequential(nn.Linear(DEG_DIM, D), nn.SiLU(), nn.Linear(D, D))
        self.deg_null = nn.Parameter(torch.zeros(D))
        self.res_embed = nn.Sequential(nn.Linear(32, D), nn.SiLU(), nn.Linear(D, D))
        self.quality_embed = nn.Embedding(3, D)
        # 3. blocks with scale-aligned RoPE
        self.rope = RoPE2D(D // cfg.heads, cfg.rope_ref)
        self.blocks = nn.ModuleList([AdaLNBlock(D, cfg.heads, cfg.mlp_ratio, D) for _ in range(cfg.depth)])
        # 4. head: codebook logits, on top of the nearest-code prior (below)
        self.head = AdaLNHead(D, D, cfg.vocab)
        self.register_buffer("codebook_VC", torch.zeros(cfg.vocab, cfg.code_dim))  # the tokenizer's, copied
        self.prior_log_beta = nn.Parameter(torch.full((cfg.K,), 5.0))  # beta = e^5: sharp at init
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:  # residual gates start small: the stack starts near the identity
            nn.init.zeros_(blk.ada[-1].weight)
            blk.ada[-1].bias.data.zero_()
            blk.ada[-1].bias.data[: 2 * self.cfg.dim] = 0.1
        nn.init.trunc_normal_(self.quality_embed.weight, std=0.02)
        nn.init.trunc_normal_(self.level_embed.weight, std=0.02)

    # ----- conditioning and layout -----
    def condition(
        self, deg_B4: torch.Tensor | None, quality_B: torch.Tensor, hq_size: tuple[int, int]
    ) -> torch.Tensor:
        """``cond_BD``; ``deg_B4`` None (or a row of NaN) means "no analysis": the learned null vector."""
        B = quality_B.shape[0]
        dev = quality_B.device
        if deg_B4 is None:
            deg_BD = self.deg_null.expand(B, -1)
        else:
            missing_B1 = deg_B4.isnan().any(-1, keepdim=True)
            deg_BD = torch.where(missing_B1, self.deg_null, self.deg_embed(deg_B4.nan_to_num().clamp_min(0).log1p()))
        size_B2 = torch.tensor([math.log2(hq_size[0]), math.log2(hq_size[1])], device=dev).expand(B, 2)
        res_BD = self.res_embed(torch.cat([_sinusoid(size_B2[:, 0], 8), _sinusoid(size_B2[:, 1], 8)], -1))
        return deg_BD + res_BD + self.quality_embed(quality_B)

    def layout(self, h: int, w: int, device: torch.device) -> tuple[list[tuple[int, int]], torch.Tensor, torch.Tensor]:
        """(grid of every scale, positions ``L x 2`` of prefix + scales, group ids ``L``) for an ``h x w`` latent."""
        hws = scale_hws(h, w, self.cfg.schedule)
        pos = [grid_positions(h, w, h, w)] + [grid_positions(gh, gw, h, w) for gh, gw in hws]
        groups = [torch.full((p.shape[0],), g, dtype=torch.long) for g, p in enumerate(pos)]
        return hws, torch.cat(pos).to(device), torch.cat(groups).to(device)

    def _tokens(self, level: int, map_BChw: torch.Tensor, lq_hat_BChw: torch.Tensor | None = None) -> torch.Tensor:
        """Level 0: prefix features; level k + 1: scale k's input map plus the LQ pyramid on its grid."""
        if level == 0:
            x_BLC = self.prefix_embed(map_BChw.flatten(2).transpose(1, 2))
        else:
            assert lq_hat_BChw is not None
            lq_BChw = F.interpolate(lq_hat_BChw, size=tuple(map_BChw.shape[-2:]), mode="area")
            x_BLC = self.word_embed(map_BChw.flatten(2).transpose(1, 2)) + self.lq_embed(
                lq_BChw.flatten(2).transpose(1, 2)
            )
        return x_BLC + self.level_embed.weight[level]

    def prior_logits(self, k: int, lq_hat_BChw: torch.Tensor, input_BChw: torch.Tensor | None) -> torch.Tensor:
        """``B x l x V``: ``-beta_k * |d - e_v|^2`` (up to a constant) with ``d`` the residual the LQ latent
        leaves at scale k (``pool(lq_hat) - input``; scale 0 has no coarser input).

        The transformer learns a correction on top of "quantize what the LQ frame says": with zero
        transformer logits, generation re-quantizes the LQ latent (the ``vq-lq`` output), as the CNN peer
        starts from bicubic, so training time goes into doing better than the LQ frame, not into
        rediscovering the codebook's geometry.
        """
        hw = tuple(input_BChw.shape[-2:]) if input_BChw is not None else None
        assert hw is not None
        # fp32 even under autocast: beta_k (about 148) scales the product, so bf16's rounding of it would
        # flip near ties between codes; it is about 1% of the FLOPs
        with torch.autocast(device_type=lq_hat_BChw.device.type, enabled=False):
            d_BChw = F.interpolate(lq_hat_BChw.float(), size=hw, mode="area")
            if k > 0:
                d_BChw = d_BChw - input_BChw.float()
            d_BlC = d_BChw.flatten(2).transpose(1, 2)
            e_VC = self.codebook_VC.float()
            return self.prior_log_beta[k].float().exp() * (2 * d_BlC @ e_VC.T - e_VC.square().sum(1))

    # ----- teacher-forced forward (training) -----
    def forward(
        self,
        prefix_BChw: torch.Tensor,
        inputs: list[torch.Tensor],
        cond_BD: torch.Tensor,
        lq_hat_BChw: torch.Tensor,
        causal: bool = True,
    ) -> torch.Tensor:
        """Logits ``B x L x V`` over all scales' positions (coarse to fine, row-major), prefix excluded.

        ``inputs``: the K code-space maps from :func:`next_scale_inputs` (start map first);
        ``lq_hat_BChw``: the LQ latent's quantized sum (the LQ token pyramid), added at every scale.
        ``causal=False`` lets every position see every scale (the one-step student's attention).
        """
        h, w = prefix_BChw.shape[-2:]
        _, pos_L2, group_L = self.layout(h, w, prefix_BChw.device)
        x_BLC = torch.cat(
            [self._tokens(0, prefix_BChw)] + [self._tokens(k + 1, m, lq_hat_BChw) for k, m in enumerate(inputs)], 1
        )
        rope = self.rope.angles(pos_L2)
        mask_LL = block_causal_mask(group_L) if causal else None
        for blk in self.blocks:
            x_BLC = blk(x_BLC, cond_BD, rope, mask_LL)
        n_prefix = h * w
        prior_BLV = torch.cat([self.prior_logits(k, lq_hat_BChw, m) for k, m in enumerate(inputs)], 1)
        return self.head(x_BLC[:, n_prefix:], cond_BD) + prior_BLV

    # ----- inference: one forward per scale with a KV cache -----
    @torch.no_grad()
    def generate(
        self,
        quant: MultiScaleQuantizer,
        prefix_BChw: torch.Tensor,
        lq_idx: list[torch.Tensor],
        deg_B4: torch.Tensor | None,
        hq_size: tuple[int, int],
        cfg_scale: float = 1.0,
        temperature: float = 0.0,
        top_k: int = 0,
        generator: torch.Generator | None = None,
        logits_out: list[torch.Tensor] | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(HQ token maps coarse to fine, the quantized latent ``fhat``) for the LQ frame behind ``prefix``.

        ``lq_idx``: the LQ latent's token maps; the first is the dynamic start token, their quantized sum
        conditions every scale. With
        ``cfg_scale`` != 1 the batch runs twice (HQ- and LQ-quality conditions) and the logits are guided.
        Each scale's (guided) logits are appended to ``logits_out`` when given.
        """
        B, _, h, w = prefix_BChw.shape
        dev = prefix_BChw.device
        hws, pos_L2, _ = self.layout(h, w, dev)
        guided = cfg_scale != 1.0
        quality = torch.full((B,), QUALITY_HQ, dtype=torch.long, device=dev)
        if guided:
            quality = torch.cat([quality, torch.full_like(quality, QUALITY_LQ)])
            prefix_BChw = torch.cat([prefix_BChw, prefix_BChw])
            deg_B4 = None if deg_B4 is None else torch.cat([deg_B4, deg_B4])
        cond_BD = self.condition(deg_B4, quality, hq_size)
        lq_hat = quant.tokens_to_fhat(lq_idx)
        lq_hat = torch.cat([lq_hat, lq_hat]) if guided else lq_hat
        cos, sin = self.rope.angles(pos_L2)
        cache = KVCache(len(self.blocks))
        n = h * w  # positions so far
        x_BLC = self._tokens(0, prefix_BChw)
        self._step(x_BLC, cond_BD, (cos[:n], sin[:n]), cache)  # the prefix fills the cache
        fhat = prefix_BChw.new_zeros(B, self.cfg.code_dim, h, w)
        idx_list: list[torch.Tensor] = []
        for k, (gh, gw) in enumerate(hws):
            if k == 0:
                m = quant.codebook(lq_idx[0]).permute(0, 3, 1, 2)
            else:
                m = F.interpolate(fhat, size=(gh, gw), mode="area")
            m = torch.cat([m, m]) if guided else m
            span = slice(n, n + gh * gw)
            x = self._step(self._tokens(k + 1, m, lq_hat), cond_BD, (cos[span], sin[span]), cache)
            logits = self.head(x, cond_BD) + self.prior_logits(k, lq_hat, m)
            logits = guide(logits[:B], logits[B:], cfg_scale) if guided else logits
            idx_Bhw = sample_tokens(logits, temperature, top_k, generator).view(B, gh, gw)
            fhat = fhat + quant._code_map_to_latent(k, idx_Bhw, (h, w))
            idx_list.append(idx_Bhw)
            n += gh * gw
            if logits_out is not None:
                logits_out.append(logits)
        return idx_list, fhat

    def _step(
        self, x_BLC: torch.Tensor, cond_BD: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor], cache: KVCache
    ) -> torch.Tensor:
        """New positions attend to everything cached plus themselves (a whole scale at once: no mask)."""
        for i, blk in enumerate(self.blocks):
            x_BLC = blk(x_BLC, cond_BD, rope, None, cache, i)
        return x_BLC


def save_var(model: nn.Module, path: Path | str, meta: dict | None = None, trainable_only: bool = False) -> None:
    """fp16 safetensors with the config (and ``meta``) in the header."""
    from safetensors.torch import save_file

    state = model.state_dict()
    if trainable_only:
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        state = {k: v for k, v in state.items() if k in names}
    tensors = {k: v.half().contiguous().cpu() for k, v in state.items()}
    header = {"config": json.dumps(asdict(model.cfg)), "kind": type(model).__name__}
    header.update({k: str(v) for k, v in (meta or {}).items()})
    save_file(tensors, str(path), metadata=header)


def load_var(path: Path | str, device: torch.device | str = "cpu") -> VARTeacher:
    """The teacher from a file written by :func:`save_var` (fp32, eval mode, frozen)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    if header.get("kind") != "VARTeacher":
        raise ValueError(f"{path} holds a {header.get('kind')}, not a VARTeacher")
    model = VARTeacher(VARConfig.from_json(header["config"]))
    model.load_state_dict({k: v.float() for k, v in load_file(str(path)).items()})
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device).eval()
