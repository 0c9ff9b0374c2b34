"""The VAR detail stage: the finest token scales predicted on top of the restored frame.

The papers restore first and let the VAR add (VARestorer); they start generation from the input's own
token map rather than from 1x1 (DVAR). Here the restored frame ``base`` (the default CNN's output) is
tokenized by the shipped tokenizer; its coarse scales are kept as they are (the dynamic start) and only
the finest ``predicted`` scales are generated, so a 64 x 64 window is 169 + 256 = 425 teacher tokens
instead of 936.

Every predicted position sees three things about the base at its place (pooled to its grid): the
next-scale input map (``fhat`` so far, VAR), the base's own continuous latent and the encoder's
penultimate features (the prefix, VARSR). The logits sit on a nearest-code prior: with zero transformer
logits a scale re-quantizes what the base latent leaves, so generation starts as "the base's own tokens"
and learns only the change.

- ``DetailTeacher``: block-causal over the predicted scales, one KV-cached step per scale, image-based
  classifier-free guidance (quality HQ against quality BASE: "more than the base's own tokens").
- ``DetailStudent``: ``student_depth`` of the teacher's blocks (evenly spaced, the first and the last;
  with its embeddings and head), one bidirectional pass over the finest grid only (256 positions); each
  predicted scale's logits come from the hidden state area-pooled to its grid. No per-scale loop runs
  through the blocks.
- ``Fusion``: the teacher's route to pixels. The tokenizer's decoder turns the predicted and the base's
  own quantized latents into pixels; their difference is the VAR's proposed detail, free of the
  tokenizer's own reconstruction error; a small conv net sees it with the base frame and returns the
  change to the base (zero at init: the untrained stage is the base).
- ``TinyDecoder`` (``vidsr.models.tiny_decoder``): the student's route, on the latent grid from its
  hidden state and latent proposals, beside the base window (``student_change``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from vidsr.models.basic_var import AdaLNBlock, AdaLNHead, KVCache, RoPE2D, grid_positions
from vidsr.models.quant import MultiScaleQuantizer
from vidsr.models.tiny_decoder import TinyDecoder
from vidsr.models.vqvae import VQVAE

__all__ = [
    "DetailConfig",
    "BaseTokens",
    "prepare_windows",
    "hq_targets",
    "DetailTeacher",
    "DetailStudent",
    "StudentOutput",
    "Fusion",
    "student_change",
    "tiny_decoder",
    "QUALITY_HQ",
    "QUALITY_BASE",
    "save_detail",
    "load_detail",
]

QUALITY_HQ, QUALITY_BASE = 0, 1


@dataclass(frozen=True)
class DetailConfig:
    """Transformer size, the tokenizer it works with (``vocab``, ``code_dim``, ``feat_dim``, ``schedule``
    must match it) and how many of the finest scales it predicts."""

    dim: int = 128
    depth: int = 6
    heads: int = 4
    mlp_ratio: float = 2.0
    vocab: int = 1024
    code_dim: int = 16
    feat_dim: int = 64
    schedule: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    predicted: int = 2
    rope_ref: float = 16.0
    downsample: int = 4
    fusion_width: int = 32
    fusion_blocks: int = 3
    student_depth: int = 3
    decoder_width: int = 64
    decoder_fine: int = 16

    def __post_init__(self) -> None:
        if not 1 <= self.student_depth <= self.depth:
            raise ValueError(f"student_depth {self.student_depth} must be 1..depth ({self.depth})")

    @classmethod
    def from_json(cls, text: str) -> DetailConfig:
        d = json.loads(text)
        if unknown := sorted(set(d) - set(cls.__dataclass_fields__)):
            raise ValueError(f"the file's detail config has fields this version does not know: {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


@dataclass
class BaseTokens:
    """What the tokenizer says about a batch of base windows (one code path for training and serving)."""

    base_BCHW: torch.Tensor  # the restored windows, float in [0, 1]
    feat_BFhw: torch.Tensor  # encoder's penultimate features: the prefix
    f_BChw: torch.Tensor  # continuous latent
    fhat_list: list[torch.Tensor]  # quantized sum after each scale (the base's own tokens)
    idx_list: list[torch.Tensor]  # the base's own token maps
    predicted_hws: list[tuple[int, int]]  # grids of the predicted scales

    def with_prefix_of(self, perm_B: torch.Tensor) -> BaseTokens:
        """The same windows conditioned on other windows' prefix (features and latent): the prefix ablation,
        which says how much of the change comes through the tokens rather than the base window itself."""
        return replace(self, feat_BFhw=self.feat_BFhw[perm_B], f_BChw=self.f_BChw[perm_B])

    @property
    def start_BChw(self) -> torch.Tensor:
        """``fhat`` after the kept (coarse) scales: where prediction starts."""
        return self.fhat_list[len(self.fhat_list) - len(self.predicted_hws) - 1]


@torch.no_grad()
def prepare_windows(vq: VQVAE, base_BCHW: torch.Tensor, predicted: int) -> BaseTokens:
    """Tokenize base windows (H and W multiples of the tokenizer's f); each window is encoded on its own,
    exactly as the server cuts and encodes them."""
    feat = vq.encoder.features(base_BCHW)
    f = vq.encoder.conv_out(feat)
    idx_list, fhat_list, _ = vq.quantize._walk(f)
    hws = [tuple(i.shape[-2:]) for i in idx_list[-predicted:]]
    return BaseTokens(base_BCHW, feat, f, fhat_list, idx_list, hws)


@torch.no_grad()
def hq_targets(quant: MultiScaleQuantizer, bt: BaseTokens, f_hq_BChw: torch.Tensor) -> list[torch.Tensor]:
    """The HQ latent's token maps at the predicted scales, quantizing what the base's coarse scales leave."""
    K, P = quant.K, len(bt.predicted_hws)
    h, w = f_hq_BChw.shape[-2:]
    rest = f_hq_BChw - bt.start_BChw
    out = []
    for p, hw in enumerate(bt.predicted_hws):
        r = F.interpolate(rest, size=hw, mode="area") if hw != (h, w) else rest
        B, C = r.shape[:2]
        idx = quant._nearest(r.permute(0, 2, 3, 1).reshape(-1, C)).view(B, *hw)
        rest = rest - quant._code_map_to_latent(K - P + p, idx, (h, w))
        out.append(idx)
    return out


def _pool(x_BChw: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    return x_BChw if tuple(x_BChw.shape[-2:]) == hw else F.interpolate(x_BChw, size=hw, mode="area")


def _flat(x_BChw: torch.Tensor) -> torch.Tensor:
    return x_BChw.flatten(2).transpose(1, 2)


class _DetailNet(nn.Module):
    """Embeddings, blocks, head and prior shared by the teacher and the student."""

    def __init__(self, cfg: DetailConfig, depth: int) -> None:
        super().__init__()
        self.cfg = cfg
        D = cfg.dim
        # 1. what a position sees of the base: next-scale input, continuous latent, prefix features
        self.word_embed = nn.Linear(cfg.code_dim, D)
        self.base_embed = nn.Linear(cfg.code_dim, D)
        self.prefix_embed = nn.Linear(cfg.feat_dim, D)
        self.level_embed = nn.Embedding(cfg.predicted, D)
        # 2. conditioning: the quality label of the target (HQ or the base's own tokens) for guidance
        self.quality_embed = nn.Embedding(2, D)
        # 3. blocks with scale-aligned RoPE
        self.rope = RoPE2D(D // cfg.heads, cfg.rope_ref)
        self.blocks = nn.ModuleList([AdaLNBlock(D, cfg.heads, cfg.mlp_ratio, D) for _ in range(depth)])
        # 4. head on top of the nearest-code prior
        self.head = AdaLNHead(D, D, cfg.vocab)
        self.register_buffer("codebook_VC", torch.zeros(cfg.vocab, cfg.code_dim))
        self.prior_log_beta = nn.Parameter(torch.full((cfg.predicted,), 3.0))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        for blk in self.blocks:
            nn.init.zeros_(blk.ada[-1].weight)
            blk.ada[-1].bias.data.zero_()
            blk.ada[-1].bias.data[: 2 * self.cfg.dim] = 0.1
        nn.init.zeros_(self.head.out.weight)  # zero logits: the prior alone, i.e. the base's own tokens
        nn.init.trunc_normal_(self.level_embed.weight, std=0.02)
        nn.init.trunc_normal_(self.quality_embed.weight, std=0.02)

    def set_codebook(self, quant: MultiScaleQuantizer) -> None:
        self.codebook_VC.copy_(quant.codebook.weight.detach())

    def embed(self, p: int, input_BChw: torch.Tensor, bt: BaseTokens) -> torch.Tensor:
        """Tokens of predicted scale ``p`` whose next-scale input map is ``input_BChw`` (on its grid)."""
        hw = tuple(input_BChw.shape[-2:])
        return (
            self.word_embed(_flat(input_BChw))
            + self.base_embed(_flat(_pool(bt.f_BChw, hw)))
            + self.prefix_embed(_flat(_pool(bt.feat_BFhw, hw)))
            + self.level_embed.weight[p]
        )

    def logits(self, p: int, x_BlD: torch.Tensor, cond_BD: torch.Tensor, residual_BChw: torch.Tensor) -> torch.Tensor:
        """``B x l x V`` logits of predicted scale p: the head's plus the nearest-code prior
        ``-beta_p |r - e_v|^2`` (up to a per-position constant), as ONE matrix product
        ``[h, r] @ [W; 2 beta e^T] + (b - beta |e|^2)``, so the B x l x V tensor, the largest the stage makes,
        is written once. fp32 even under bf16 autocast: the prior, scaled by beta, would flip near ties."""
        h_BlD = self.head.features(x_BlD, cond_BD)
        with torch.autocast(device_type=x_BlD.device.type, enabled=False):
            beta = self.prior_log_beta[p].float().exp()
            e_VC = self.codebook_VC.float()
            w_KV = torch.cat([self.head.out.weight.float().T, (2.0 * beta) * e_VC.T])
            b_V = self.head.out.bias.float() - beta * e_VC.square().sum(1)
            hr_BlK = torch.cat([h_BlD.float(), _flat(residual_BChw).float()], -1)
            return torch.addmm(b_V, hr_BlK.flatten(0, 1), w_KV).view(*hr_BlK.shape[:2], -1)

    def cond(self, quality_B: torch.Tensor) -> torch.Tensor:
        return self.quality_embed(quality_B)

    def positions(self, hws: list[tuple[int, int]], h: int, w: int, device: torch.device) -> torch.Tensor:
        return torch.cat([grid_positions(gh, gw, h, w) for gh, gw in hws]).to(device)


class DetailTeacher(_DetailNet):
    """Block-causal next-scale prediction over the finest ``predicted`` scales."""

    def __init__(self, cfg: DetailConfig) -> None:
        super().__init__(cfg, cfg.depth)

    def residual_input(self, p: int, fhat_BChw: torch.Tensor, bt: BaseTokens) -> tuple[torch.Tensor, torch.Tensor]:
        """(next-scale input map, residual the base latent leaves) on scale p's grid, given ``fhat`` so far."""
        hw = bt.predicted_hws[p]
        return _pool(fhat_BChw, hw), _pool(bt.f_BChw - fhat_BChw, hw)

    def forward(
        self, bt: BaseTokens, quant: MultiScaleQuantizer, idx_list: list[torch.Tensor], quality_B: torch.Tensor
    ) -> list[torch.Tensor]:
        """Teacher-forced logits of every predicted scale given the target tokens ``idx_list``."""
        h, w = bt.f_BChw.shape[-2:]
        K, P = quant.K, self.cfg.predicted
        fhat = bt.start_BChw
        xs, priors = [], []
        for p in range(P):
            inp, res = self.residual_input(p, fhat, bt)
            xs.append(self.embed(p, inp, bt))
            priors.append(res)
            fhat = fhat + quant._code_map_to_latent(K - P + p, idx_list[p], (h, w))
        x_BLC = torch.cat(xs, 1)
        lens = [x.shape[1] for x in xs]
        group = torch.cat([torch.full((n,), g, dtype=torch.long) for g, n in enumerate(lens)]).to(x_BLC.device)
        mask = group[None, :] <= group[:, None]
        rope = self.rope.angles(self.positions(bt.predicted_hws, h, w, x_BLC.device))
        cond = self.cond(quality_B)
        for blk in self.blocks:
            x_BLC = blk(x_BLC, cond, rope, mask)
        return [self.logits(p, x, cond, r) for p, (x, r) in enumerate(zip(x_BLC.split(lens, 1), priors))]

    @torch.no_grad()
    def generate(
        self,
        bt: BaseTokens,
        quant: MultiScaleQuantizer,
        cfg_scale: float = 1.5,
        temperature: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """(token maps of the predicted scales, final ``fhat``, the expected ``fhat`` under each step's
        distribution): one KV-cached step per scale; with ``cfg_scale`` != 1 each step also runs under
        quality BASE and moves past it."""
        h, w = bt.f_BChw.shape[-2:]
        K, P = quant.K, self.cfg.predicted
        B = bt.f_BChw.shape[0]
        guided = cfg_scale != 1.0
        quality = torch.full((B,), QUALITY_HQ, dtype=torch.long, device=bt.f_BChw.device)
        if guided:
            quality = torch.cat([quality, torch.full_like(quality, QUALITY_BASE)])
        cond = self.cond(quality)
        cache = KVCache(self.cfg.depth)
        fhat = bt.start_BChw
        out: list[torch.Tensor] = []
        probs: list[torch.Tensor] = []
        for p, (gh, gw) in enumerate(bt.predicted_hws):
            inp, res = self.residual_input(p, fhat, bt)
            x = self.embed(p, inp, bt)
            rope = self.rope.angles(grid_positions(gh, gw, h, w).to(x.device))
            if guided:
                x = torch.cat([x, x])
            for i, blk in enumerate(self.blocks):
                x = blk(x, cond, rope, None, cache, i)
            logits = self.logits(p, x, cond, torch.cat([res, res]) if guided else res)
            if guided:
                pos, neg = logits.chunk(2)
                logits = neg + cfg_scale * (pos - neg)
            probs.append(logits.softmax(-1))
            if temperature <= 0:
                idx = logits.argmax(-1)
            else:
                probs = (logits / temperature).softmax(-1).reshape(-1, logits.shape[-1])
                idx = torch.multinomial(probs, 1, generator=generator).view(logits.shape[:-1])
            idx = idx.view(B, gh, gw)
            out.append(idx)
            fhat = fhat + quant._code_map_to_latent(K - P + p, idx, (h, w))
        return out, fhat, tokens_to_fhat(quant, bt, out, soft=probs)


@dataclass
class StudentOutput:
    """What one student pass gives: greedy token maps, the ``fhat`` they build, the expected ``fhat`` under
    the predicted distributions (a fidelity signal the argmax throws away) and the hidden state on the
    finest grid (what the tiny decoder reads)."""

    idx: list[torch.Tensor]
    fhat_BChw: torch.Tensor
    soft_BChw: torch.Tensor
    hid_BDhw: torch.Tensor


def student_layers(depth: int, student_depth: int) -> list[int]:
    """The teacher's blocks a student starts from: evenly spaced, the first and the last always in."""
    if student_depth == 1:
        return [depth - 1]
    return [round(i * (depth - 1) / (student_depth - 1)) for i in range(student_depth)]


class DetailStudent(_DetailNet):
    """One pass over the finest grid; each predicted scale read from the pooled hidden state."""

    def __init__(self, cfg: DetailConfig) -> None:
        super().__init__(cfg, cfg.student_depth)

    @classmethod
    def from_teacher(cls, teacher: DetailTeacher) -> DetailStudent:
        """Embeddings, head and prior as the teacher's; blocks from ``student_layers`` of its own."""
        student = cls(teacher.cfg)
        keep = student_layers(teacher.cfg.depth, teacher.cfg.student_depth)
        state = {}
        for k, v in teacher.state_dict().items():
            if k.startswith("blocks."):
                i, rest = k[len("blocks.") :].split(".", 1)
                if int(i) not in keep:
                    continue
                k = f"blocks.{keep.index(int(i))}.{rest}"
            state[k] = v
        student.load_state_dict(state)
        return student

    def run(self, bt: BaseTokens, quant: MultiScaleQuantizer) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(logits of every predicted scale, the normalised hidden state ``B x D x h x w``). The input is the
        base's own pyramid (DVAR's dynamic start): the start map, the base's latent and features on the
        finest grid; scale p's prior is the residual the base leaves after its own scales before p."""
        h, w = bt.f_BChw.shape[-2:]
        P = self.cfg.predicted
        x_BLC = self.embed(P - 1, bt.start_BChw, bt)
        rope = self.rope.angles(grid_positions(h, w, h, w).to(x_BLC.device))
        cond = self.cond(torch.full((x_BLC.shape[0],), QUALITY_HQ, dtype=torch.long, device=x_BLC.device))
        for blk in self.blocks:
            x_BLC = blk(x_BLC, cond, rope, None)
        hid_BDhw = x_BLC.transpose(1, 2).reshape(x_BLC.shape[0], -1, h, w)
        first = len(bt.fhat_list) - P - 1
        out = []
        for p, hw in enumerate(bt.predicted_hws):
            hid = _flat(_pool(hid_BDhw, hw)) + self.level_embed.weight[p]
            res = _pool(bt.f_BChw - bt.fhat_list[first + p], hw)
            out.append(self.logits(p, hid, cond, res))
        norm = F.layer_norm(x_BLC.float(), (x_BLC.shape[-1],))
        return out, norm.transpose(1, 2).reshape(x_BLC.shape[0], -1, h, w)

    def forward(self, bt: BaseTokens, quant: MultiScaleQuantizer) -> list[torch.Tensor]:
        """Logits of every predicted scale (``run`` without the hidden state)."""
        return self.run(bt, quant)[0]

    @torch.no_grad()
    def predict(
        self, bt: BaseTokens, quant: MultiScaleQuantizer, keep: list[torch.Tensor] | None = None, margin: float = 0.0
    ) -> StudentOutput:
        """One pass, greedy tokens. ``keep``: the window's previous tokens, kept where their logit is within
        ``margin`` of the best (hysteresis: near-ties do not flip frame to frame)."""
        logits, hid = self.run(bt, quant)
        idx, probs = [], []
        for p, (lg, hw) in enumerate(zip(logits, bt.predicted_hws)):
            probs.append(lg.softmax(-1))
            best = lg.argmax(-1)
            if keep is not None and margin > 0:
                k = keep[p].reshape(best.shape)
                near = lg.gather(-1, k[..., None])[..., 0] >= lg.amax(-1) - margin
                best = torch.where(near, k, best)
            idx.append(best.view(-1, *hw))
        return StudentOutput(idx, tokens_to_fhat(quant, bt, idx), tokens_to_fhat(quant, bt, idx, soft=probs), hid)


def student_change(decoder: TinyDecoder, bt: BaseTokens, out: StudentOutput) -> torch.Tensor:
    """The change the student proposes for each base window: one code path for training and serving."""
    own = bt.fhat_list[-1]
    return decoder(bt.base_BCHW, out.hid_BDhw.float(), out.soft_BChw.float() - own, out.fhat_BChw.float() - own)


def tokens_to_fhat(
    quant: MultiScaleQuantizer, bt: BaseTokens, idx_list: list[torch.Tensor], soft: list[torch.Tensor] | None = None
) -> torch.Tensor:
    """The start map plus the predicted scales' contributions (``soft``: probability-weighted code maps
    instead of hard tokens, for a gradient through the choice)."""
    h, w = bt.f_BChw.shape[-2:]
    K, P = quant.K, len(idx_list)
    fhat = bt.start_BChw
    for p, idx in enumerate(idx_list):
        if soft is None:
            fhat = fhat + quant._code_map_to_latent(K - P + p, idx, (h, w))
        else:
            codes = (soft[p] @ quant.codebook.weight).transpose(1, 2).reshape(idx.shape[0], -1, *idx.shape[-2:])
            up = (
                F.interpolate(codes, size=(h, w), mode="bicubic", align_corners=False)
                if codes.shape[-2:] != (h, w)
                else codes
            )
            fhat = fhat + quant.phi(K - P + p)(up.contiguous())
    return fhat


class Fusion(nn.Module):
    """(base window, the proposals) -> the change to the base. The proposals are the greedy tokens'
    decoded difference (sharp, sampled-looking detail) and the expected latent's (the posterior mean:
    where the model is unsure it fades rather than guesses)."""

    def __init__(self, width: int, blocks: int) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(9, width, 3, padding=1)
        self.body = nn.ModuleList([nn.Conv2d(width, width, 3, padding=1) for _ in range(blocks)])
        self.conv_out = nn.Conv2d(width, 3, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, base_BCHW: torch.Tensor, proposal_BCHW: torch.Tensor) -> torch.Tensor:
        h = F.silu(self.conv_in(torch.cat([base_BCHW - 0.5, proposal_BCHW], 1)))
        for conv in self.body:
            h = h + F.silu(conv(h))
        return self.conv_out(h)


def proposal(vq: VQVAE, bt: BaseTokens, fhat_BChw: torch.Tensor, soft_BChw: torch.Tensor) -> torch.Tensor:
    """The VAR's proposed detail in pixels, 6 channels: decode(greedy) and decode(expected), each minus
    decode(the base's own quantized latent), so the tokenizer's own reconstruction error cancels."""
    own = vq.decoder(bt.fhat_list[-1])
    return torch.cat([vq.decoder(fhat_BChw) - own, vq.decoder(soft_BChw) - own], 1)


def tiny_decoder(cfg: DetailConfig) -> TinyDecoder:
    """The student's decoder as the config sizes it."""
    return TinyDecoder(cfg.dim, cfg.code_dim, cfg.decoder_width, cfg.decoder_fine, cfg.downsample)


def save_detail(path: Path | str, cfg: DetailConfig, nets: dict[str, nn.Module], meta: dict | None = None) -> None:
    """fp16 safetensors: each net's state under its name (``teacher``, ``student``, ``fusion``, ``decoder``)."""
    from safetensors.torch import save_file

    tensors = {
        f"{name}.{k}": v.half().contiguous().cpu() for name, net in nets.items() for k, v in net.state_dict().items()
    }
    header = {"config": json.dumps(asdict(cfg)), "kind": "Detail", "nets": ",".join(nets)}
    header.update({k: str(v) for k, v in (meta or {}).items()})
    save_file(tensors, str(path), metadata=header)


def load_detail(path: Path | str, device: torch.device | str = "cpu") -> tuple[DetailConfig, dict[str, nn.Module]]:
    """The nets of a file written by ``save_detail``, fp32, eval mode, frozen."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    if header.get("kind") != "Detail":
        raise ValueError(f"{path} holds a {header.get('kind')}, not a detail stage")
    cfg = DetailConfig.from_json(header["config"])
    state = load_file(str(path))
    nets: dict[str, nn.Module] = {}
    for name in header["nets"].split(","):
        net: nn.Module = {
            "teacher": lambda: DetailTeacher(cfg),
            "student": lambda: DetailStudent(cfg),
            "fusion": lambda: Fusion(cfg.fusion_width, cfg.fusion_blocks),
            "decoder": lambda: tiny_decoder(cfg),
        }[name]()
        try:
            net.load_state_dict({k[len(name) + 1 :]: v.float() for k, v in state.items() if k.startswith(name + ".")})
        except RuntimeError as e:  # a file from a version whose nets were built differently
            raise ValueError(f"{path}: its {name} does not fit this version's {type(net).__name__} "
                             f"({str(e).splitlines()[1].strip()}); re-export it with this version") from None
        for prm in net.parameters():
            prm.requires_grad_(False)
        nets[name] = net.to(device).eval()
    return cfg, nets

