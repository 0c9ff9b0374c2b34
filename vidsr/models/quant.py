"""The multi-scale residual quantizer (VAR) on DVAR's relative scale schedule, with codebook upkeep.

Scale k quantizes what the coarser scales left unexplained: the residual is area-pooled to the
scale's grid, each position takes its nearest code, the code map is upsampled (bicubic) back to the
latent grid, refined by a ``phi`` convolution and added to the running reconstruction ``fhat``.
The grids are fractions of the latent's own h and w (``schedule / schedule[-1]``, rounded, at least
1), so one set of weights serves every frame size and aspect ratio; the last grid is the latent's.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["scale_hws", "Phi", "MultiScaleQuantizer", "kmeans"]


def scale_hws(h: int, w: int, schedule: tuple[int, ...]) -> list[tuple[int, int]]:
    """Token-map sizes of every scale for an ``h x w`` latent: ``round(h * s / s_K)``, at least 1.

    Rounding is half-up (not Python's half-to-even) so that a size never depends on parity quirks.
    """
    top = schedule[-1]
    return [(max(1, math.floor(h * s / top + 0.5)), max(1, math.floor(w * s / top + 0.5))) for s in schedule]


class Phi(nn.Conv2d):
    """``phi(h) = (1 - r) h + r conv(h)``: a 3x3 refinement of an upsampled code map (VAR)."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__(dim, dim, 3, padding=1)
        self.ratio = ratio

    def forward(self, h_BChw: torch.Tensor) -> torch.Tensor:
        return h_BChw * (1.0 - self.ratio) + super().forward(h_BChw) * self.ratio


def kmeans(x_NC: torch.Tensor, k: int, iters: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Lloyd's k-means, ``k x C`` centres; an emptied cluster is re-seeded with a random sample."""
    N = x_NC.shape[0]
    c_kC = x_NC[torch.randperm(N, generator=generator)[:k]].clone()
    if c_kC.shape[0] < k:  # fewer samples than codes: repeat with a little jitter
        extra = c_kC[torch.randint(0, c_kC.shape[0], (k - c_kC.shape[0],), generator=generator)]
        c_kC = torch.cat([c_kC, extra + 1e-3 * torch.randn(extra.shape, generator=generator)])
    for _ in range(iters):
        idx_N = torch.cdist(x_NC, c_kC).argmin(1)
        count_k = torch.bincount(idx_N, minlength=k).float()
        sum_kC = torch.zeros_like(c_kC).index_add_(0, idx_N, x_NC)
        alive = count_k > 0
        c_kC[alive] = sum_kC[alive] / count_k[alive, None]
        n_dead = int((~alive).sum())
        if n_dead:
            c_kC[~alive] = x_NC[torch.randint(0, N, (n_dead,), generator=generator)]
    return c_kC


class MultiScaleQuantizer(nn.Module):
    """Residual quantization of ``f_BChw`` over the scales of ``schedule`` with one shared codebook.

    ``phi_count`` refinement convs are shared by consecutive groups of scales (VAR's partial sharing).
    Token maps are ``idx_Bhw`` (long) so that non-square grids keep their shape.
    """

    def __init__(
        self,
        codebook_size: int,
        code_dim: int,
        schedule: tuple[int, ...],
        phi_count: int,
        phi_ratio: float,
        beta: float,
    ) -> None:
        super().__init__()
        self.V, self.C, self.schedule, self.beta = codebook_size, code_dim, tuple(schedule), beta
        # 1. the shared codebook
        self.codebook = nn.Embedding(codebook_size, code_dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / codebook_size, 1.0 / codebook_size)
        # 2. phi refinements, shared by groups of consecutive scales
        self.phis = nn.ModuleList([Phi(code_dim, phi_ratio) for _ in range(phi_count)])
        # 3. codebook health: hits per code since the last restart check (training only), and a
        #    sample of recent residuals to restart dead codes on
        self.register_buffer("hits_V", torch.zeros(codebook_size), persistent=False)
        self._recent_NC: torch.Tensor | None = None

    @property
    def K(self) -> int:
        return len(self.schedule)

    def phi(self, si: int) -> Phi:
        return self.phis[min(si * len(self.phis) // self.K, len(self.phis) - 1)]

    def _nearest(self, z_NC: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code (squared L2) for every row."""
        e_VC = self.codebook.weight.detach()
        d_NV = (z_NC.square().sum(1, keepdim=True) + e_VC.square().sum(1)).addmm_(z_NC, e_VC.T, alpha=-2.0)
        return d_NV.argmin(1)

    def _code_map_to_latent(self, si: int, idx_Bhw: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """Look up, upsample to the latent grid, refine: the contribution ``h_BChw`` of scale ``si``."""
        h_BChw = self.codebook(idx_Bhw).permute(0, 3, 1, 2)
        if tuple(h_BChw.shape[-2:]) != hw:
            h_BChw = F.interpolate(h_BChw, size=hw, mode="bicubic", align_corners=False)
        return self.phi(si)(h_BChw.contiguous())

    def _walk(self, f_BChw: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """Quantize scale by scale: (token maps, ``fhat`` after each scale, pooled residuals per scale)."""
        B, C, h, w = f_BChw.shape
        rest = f_BChw.detach().clone()
        fhat = torch.zeros_like(rest)
        idx_list, fhat_list, rest_list = [], [], []
        for si, (ph, pw) in enumerate(scale_hws(h, w, self.schedule)):
            r_BChw = F.interpolate(rest, size=(ph, pw), mode="area") if (ph, pw) != (h, w) else rest
            r_NC = r_BChw.permute(0, 2, 3, 1).reshape(-1, C)
            idx_Bhw = self._nearest(r_NC).view(B, ph, pw)
            h_BChw = self._code_map_to_latent(si, idx_Bhw, (h, w))
            fhat = fhat + h_BChw
            rest = rest - h_BChw.detach()
            idx_list.append(idx_Bhw)
            fhat_list.append(fhat)
            rest_list.append(r_NC)
        return idx_list, fhat_list, rest_list

    def forward(self, f_BChw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training: (``fhat`` with a straight-through gradient to ``f``, codebook + commitment loss)."""
        idx_list, fhat_list, rest_list = self._walk(f_BChw)
        # every prefix of scales should approximate f (VAR): codebook term pulls fhat, commitment pulls f
        loss = sum(
            F.mse_loss(fh, f_BChw.detach()) + self.beta * F.mse_loss(f_BChw, fh.detach()) for fh in fhat_list
        ) / len(fhat_list)
        if self.training:
            self._record(idx_list, rest_list)
        fhat = fhat_list[-1]
        return f_BChw + (fhat - f_BChw).detach(), loss

    @torch.no_grad()
    def _record(self, idx_list: list[torch.Tensor], rest_list: list[torch.Tensor]) -> None:
        self.hits_V += torch.bincount(torch.cat([i.flatten() for i in idx_list]), minlength=self.V).float()
        rest_NC = torch.cat(rest_list).detach()
        self._recent_NC = rest_NC[torch.randperm(rest_NC.shape[0])[: 4 * self.V]]

    @torch.no_grad()
    def restart_dead_codes(self, rel_threshold: float = 0.03) -> int:
        """Codes hit far less than the average since the last call jump to recent residuals (so they
        sit where the data is); returns how many moved. Call it every few dozen steps."""
        if self._recent_NC is None or float(self.hits_V.sum()) == 0:
            return 0
        dead = self.hits_V < rel_threshold * self.hits_V.mean()
        n = int(dead.sum())
        if n:
            pick = self._recent_NC[torch.randint(0, self._recent_NC.shape[0], (n,))]
            self.codebook.weight.data[dead] = pick + 1e-4 * torch.randn_like(pick)
        self.hits_V.zero_()
        return n

    @torch.no_grad()
    def kmeans_init(self, f_BChw: torch.Tensor, rounds: int = 3, iters: int = 10, max_samples: int = 32768) -> None:
        """Initialise the codebook from data: k-means on the residuals the scales actually see.

        Round 1 starts from an all-zero codebook, so its residuals are the pooled latents themselves;
        later rounds re-run the walk with the new codebook, so the finer scales' (smaller) residuals
        get their share of codes.
        """
        g = torch.Generator().manual_seed(0)
        self.codebook.weight.data.zero_()
        for _ in range(rounds):
            rest_NC = torch.cat(self._walk(f_BChw)[2])
            rest_NC = rest_NC[torch.randperm(rest_NC.shape[0], generator=g)[:max_samples]]
            self.codebook.weight.data.copy_(kmeans(rest_NC, self.V, iters, g))
        self.hits_V.zero_()

    # ----- inference conversions -----
    @torch.no_grad()
    def f_to_tokens(self, f_BChw: torch.Tensor) -> list[torch.Tensor]:
        """Token maps ``idx_Bhw``, coarse to fine."""
        return self._walk(f_BChw)[0]

    @torch.no_grad()
    def f_to_fhat(self, f_BChw: torch.Tensor) -> torch.Tensor:
        """The quantized latent the decoder gets (the sum of all scales' contributions)."""
        return self._walk(f_BChw)[1][-1]

    def tokens_to_fhat_pyramid(self, idx_list: list[torch.Tensor]) -> list[torch.Tensor]:
        """``fhat`` after each scale, rebuilt from token maps alone (the finest map gives h, w)."""
        hw = tuple(idx_list[-1].shape[-2:])
        fhat, out = None, []
        for si, idx_Bhw in enumerate(idx_list):
            h_BChw = self._code_map_to_latent(si, idx_Bhw, hw)
            fhat = h_BChw if fhat is None else fhat + h_BChw
            out.append(fhat)
        return out

    def tokens_to_fhat(self, idx_list: list[torch.Tensor]) -> torch.Tensor:
        return self.tokens_to_fhat_pyramid(idx_list)[-1]
