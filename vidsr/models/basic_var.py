"""The next-scale transformer's building blocks: scale-aligned 2D RoPE, attention with a key/value
cache, the MLP, and the AdaLN block that conditions both on one vector per sample (VAR).

Positions are not tokens' indices but where they sit in the picture: the centre of cell (i, j) of a
``gh x gw`` grid over an ``h x w`` latent is ``((i + .5) / gh, (j + .5) / gw)``, scaled per axis by
``side / sqrt(h * w)`` so that both axes use the same unit (a 1:3 frame spans 0.58 x 1.73, a square
one 1 x 1). A spot therefore has the same rotation at every scale (DVAR's scale alignment), the
rotation depends on the position in the frame, not on the frame's pixel count, and there is no
position table: every frame size and aspect ratio is valid with one set of weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["grid_positions", "RoPE2D", "KVCache", "SelfAttention", "FFN", "AdaLNBlock", "AdaLNHead"]


def grid_positions(gh: int, gw: int, h: int, w: int) -> torch.Tensor:
    """``(gh * gw) x 2`` normalised (y, x) centres of a ``gh x gw`` grid laid over an ``h x w`` latent."""
    unit = math.sqrt(h * w)
    ys = (torch.arange(gh, dtype=torch.float32) + 0.5) / gh * (h / unit)
    xs = (torch.arange(gw, dtype=torch.float32) + 0.5) / gw * (w / unit)
    return torch.stack(torch.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)


class RoPE2D(nn.Module):
    """Rotary encoding with half the head's channel pairs turning with y and half with x.

    ``ref`` converts normalised positions to "latent cells of a reference-size frame": at ``ref`` = 16
    neighbouring tokens of a 16 x 16 latent are one radian apart at the fastest frequency.
    """

    def __init__(self, head_dim: int, ref: float = 16.0, base: float = 100.0) -> None:
        super().__init__()
        assert head_dim % 4 == 0, "head_dim must split into (y, x) x (cos, sin) pairs"
        n = head_dim // 4
        self.ref = ref
        self.register_buffer("freq_n", base ** (-torch.arange(n, dtype=torch.float32) / n), persistent=False)

    def angles(self, pos_L2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(cos, sin), each ``L x head_dim/2``: y angles then x angles."""
        a_Ln = torch.cat([pos_L2[:, :1] * self.freq_n, pos_L2[:, 1:] * self.freq_n], dim=1) * self.ref
        return a_Ln.cos(), a_Ln.sin()

    @staticmethod
    def rotate(x_BHLc: torch.Tensor, cos_Lh: torch.Tensor, sin_Lh: torch.Tensor) -> torch.Tensor:
        """Rotate channel pairs (first half, second half) of every head by the position's angles."""
        x1, x2 = x_BHLc.chunk(2, dim=-1)
        return torch.cat([x1 * cos_Lh - x2 * sin_Lh, x1 * sin_Lh + x2 * cos_Lh], dim=-1)


class KVCache:
    """Keys and values of every layer for the positions seen so far (one forward per scale)."""

    def __init__(self, depth: int) -> None:
        self.k: list[torch.Tensor | None] = [None] * depth
        self.v: list[torch.Tensor | None] = [None] * depth

    def extend(self, layer: int, k_BHLc: torch.Tensor, v_BHLc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k[layer] is not None:
            k_BHLc = torch.cat([self.k[layer], k_BHLc], dim=2)
            v_BHLc = torch.cat([self.v[layer], v_BHLc], dim=2)
        self.k[layer], self.v[layer] = k_BHLc, v_BHLc
        return k_BHLc, v_BHLc


class SelfAttention(nn.Module):
    """Multi-head attention with RoPE on queries and keys; ``mask_LL`` True where attending is allowed."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self,
        x_BLC: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask_LL: torch.Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        B, L, C = x_BLC.shape
        q, k, v = self.qkv(x_BLC).view(B, L, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q, k = RoPE2D.rotate(q, *rope), RoPE2D.rotate(k, *rope)
        if cache is not None:
            k, v = cache.extend(layer, k, v)
        out_BHLc = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_LL)
        return self.proj(out_BHLc.transpose(1, 2).reshape(B, L, C))


class FFN(nn.Sequential):
    def __init__(self, dim: int, ratio: float) -> None:
        hidden = int(dim * ratio)
        super().__init__(nn.Linear(dim, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, dim))


class AdaLNBlock(nn.Module):
    """Pre-norm attention + MLP whose norms' scale/shift and residual gates come from ``cond_BD``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.attn = SelfAttention(dim, heads)
        self.ffn = FFN(dim, mlp_ratio)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 6 * dim))

    def forward(
        self,
        x_BLC: torch.Tensor,
        cond_BD: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor],
        mask_LL: torch.Tensor | None,
        cache: KVCache | None = None,
        layer: int = 0,
    ) -> torch.Tensor:
        g1, g2, s1, s2, b1, b2 = self.ada(cond_BD)[:, None, :].chunk(6, dim=-1)
        x_BLC = x_BLC + g1 * self.attn(self.norm(x_BLC) * (1 + s1) + b1, rope, mask_LL, cache, layer)
        return x_BLC + g2 * self.ffn(self.norm(x_BLC) * (1 + s2) + b2)


class AdaLNHead(nn.Module):
    """Final AdaLN norm and the projection to codebook logits."""

    def __init__(self, dim: int, cond_dim: int, vocab: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(cond_dim, 2 * dim))
        self.out = nn.Linear(dim, vocab)

    def features(self, x_BLC: torch.Tensor, cond_BD: torch.Tensor) -> torch.Tensor:
        """What ``out`` projects: the modulated norm (callers that fold more into the projection use it)."""
        s, b = self.ada(cond_BD)[:, None, :].chunk(2, dim=-1)
        return self.norm(x_BLC) * (1 + s) + b

    def forward(self, x_BLC: torch.Tensor, cond_BD: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(x_BLC, cond_BD))
