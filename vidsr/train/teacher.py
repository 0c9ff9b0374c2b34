"""Train the VAR teacher with teacher forcing and DVAR's dynamic sampling scheduler, in one resumable command::

    python -m vidsr.train.teacher --out runs/teacher --minutes 45 --export runs/teacher/var_teacher.safetensors

Each step takes tiles from ``OUT/samples.pt`` (built once by ``vidsr.train.var_data``), re-derives the
HQ tokens by walking the frozen quantizer over the HQ latent, and learns cross-entropy on every scale.

Dynamic sampling scheduler (DVAR): after ``--dss-start`` of the budget, while walking, each token that
feeds the finer scales is, with probability ``--dss-p``, swapped for its v-th nearest codebook
neighbour, v drawn from a per-scale count book: an EMA of how often the model's own argmax is the v-th
neighbour of the truth (v = 0: right). The finer scales' targets are re-quantized from the residual the
swapped tokens leave, so the model learns to correct the errors inference makes, not only to copy.

Image-based CFG labels: with ``--neg-p`` a tile's target is the latent of its degraded version
(quality "LQ"); with ``--null-p`` the label is dropped (null); the rest are "HQ". ``--deg-drop``
hides the degradation vector (the learned null) so the model also works without analysis.

``--init-from CKPT`` starts from another run's checkpoint (the ablation branches from one shared
teacher-forcing phase). Logs go to ``OUT/train.log`` (loss, accuracy per scale, count books, held-out).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.data import eval_images, train_images
from vidsr.models.quant import MultiScaleQuantizer, scale_hws
from vidsr.models.var import QUALITY_HQ, QUALITY_LQ, QUALITY_NULL, VARConfig, VARTeacher, save_var
from vidsr.models.vqvae import VQVAE, LQEncoder
from vidsr.train.var_data import VarSamples, build_samples

__all__ = ["codebook_neighbours", "forced_walk", "CountBook", "teacher_batch", "held_out_figures", "main"]


def codebook_neighbours(quant: MultiScaleQuantizer, k: int) -> torch.Tensor:
    """``V x k`` indices of each code's k nearest codes (L2), the code itself first."""
    e_VC = quant.codebook.weight.detach()
    return torch.cdist(e_VC, e_VC).topk(k, largest=False).indices


class CountBook:
    """Per-scale EMA of how often the model's argmax is the v-th nearest neighbour of the true token."""

    def __init__(self, scales: int, k: int, momentum: float = 0.98) -> None:
        self.counts_Kk = torch.zeros(scales, k)
        self.counts_Kk[:, 0] = 1.0  # before any evidence: the model is right (no swaps)
        self.momentum = momentum
        self.outside_K = torch.zeros(scales)  # share of argmaxes not among the k neighbours (logged)

    def update(self, si: int, pred_N: torch.Tensor, true_N: torch.Tensor, knn_Vk: torch.Tensor) -> None:
        hit_Nk = knn_Vk[true_N] == pred_N[:, None]
        inside = hit_Nk.any(1)
        hist = torch.bincount(hit_Nk[inside].float().argmax(1), minlength=knn_Vk.shape[1]).float()
        if hist.sum() > 0:
            self.counts_Kk[si] = self.momentum * self.counts_Kk[si] + (1 - self.momentum) * hist / hist.sum()
        self.outside_K[si] = self.momentum * self.outside_K[si] + (1 - self.momentum) * (1 - inside.float().mean())

    def state_dict(self) -> dict:
        return {"counts": self.counts_Kk, "outside": self.outside_K}

    def load_state_dict(self, d: dict) -> None:
        self.counts_Kk, self.outside_K = d["counts"], d["outside"]


@torch.no_grad()
def forced_walk(
    quant: MultiScaleQuantizer,
    f_BChw: torch.Tensor,
    start_BCgg: torch.Tensor,
    knn_Vk: torch.Tensor | None = None,
    book: CountBook | None = None,
    p: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(targets per scale ``idx_Bhw``, next-scale input maps per scale) for latents ``f_BChw``.

    With ``p`` > 0 the tokens that build ``fhat`` are swapped for neighbours drawn from ``book``;
    targets are always the nearest codes of the residual that is actually left.
    """
    B, C, h, w = f_BChw.shape
    rest, fhat = f_BChw.clone(), torch.zeros_like(f_BChw)
    targets, inputs = [], [start_BCgg]
    hws = scale_hws(h, w, quant.schedule)
    for si, (gh, gw) in enumerate(hws):
        r_BChw = F.interpolate(rest, size=(gh, gw), mode="area") if (gh, gw) != (h, w) else rest
        true_Bhw = quant._nearest(r_BChw.permute(0, 2, 3, 1).reshape(-1, C)).view(B, gh, gw)
        used = true_Bhw
        if p > 0 and knn_Vk is not None and book is not None and si + 1 < len(hws):
            swap = torch.rand(true_Bhw.shape, generator=generator) < p
            rank = torch.multinomial(book.counts_Kk[si], true_Bhw.numel(), replacement=True, generator=generator)
            used = torch.where(swap, knn_Vk[true_Bhw, rank.view_as(true_Bhw)], true_Bhw)
        h_BChw = quant._code_map_to_latent(si, used, (h, w))
        fhat, rest = fhat + h_BChw, rest - h_BChw
        targets.append(true_Bhw)
        if si + 1 < len(hws):
            inputs.append(F.interpolate(fhat, size=hws[si + 1], mode="area"))
    return targets, inputs


def teacher_batch(
    vq: VQVAE,
    b: dict[str, torch.Tensor],
    rng: np.random.Generator,
    neg_p: float,
    null_p: float,
    deg_drop: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(target latent, quality labels, degradation vectors with NaN rows dropped, dynamic start map,
    the LQ token pyramid's quantized sum)."""
    B = b["f_hq"].shape[0]
    u = rng.random(B)
    quality = np.where(u < neg_p, QUALITY_LQ, np.where(u < neg_p + null_p, QUALITY_NULL, QUALITY_HQ))
    quality_B = torch.from_numpy(quality).long()
    f = torch.where((quality_B == QUALITY_LQ)[:, None, None, None], b["f_neg"], b["f_hq"])
    deg = b["deg"].clone()
    deg[torch.from_numpy(rng.random(B) < deg_drop)] = float("nan")
    lq_idx = vq.quantize.f_to_tokens(b["lq_lat"])
    start = vq.quantize.codebook(lq_idx[0]).permute(0, 3, 1, 2)
    return f, quality_B, deg, start, vq.quantize.tokens_to_fhat(lq_idx)


def _split(logits_BLV: torch.Tensor, hws: list[tuple[int, int]]) -> list[torch.Tensor]:
    return list(logits_BLV.split([gh * gw for gh, gw in hws], dim=1))


@torch.no_grad()
def held_out_figures(
    model: VARTeacher, vq: VQVAE, ev: VarSamples, free_running: int = 64, cfg_scale: float = 1.0
) -> dict:
    """Teacher-forced CE and accuracy per scale, free-running accuracy per scale (the exposure-bias gap),
    and the PSNR of the decoded free-running output on HQ tiles (greedy)."""
    model.eval()
    n = len(ev)
    idx = torch.arange(n)
    tf_acc, tf_ce, fr_acc, psnrs = [], [], [], []
    for i in range(0, n, 32):
        b = ev.take(idx[i : i + 32])
        lq_idx = vq.quantize.f_to_tokens(b["lq_lat"])
        start = vq.quantize.codebook(lq_idx[0]).permute(0, 3, 1, 2)
        targets, inputs = forced_walk(vq.quantize, b["f_hq"], start)
        B = targets[0].shape[0]
        cond = model.condition(b["deg"], torch.full((B,), QUALITY_HQ), (64, 64))
        logits = model(b["lq_feat"], inputs, cond, vq.quantize.tokens_to_fhat(lq_idx))
        hws = [tuple(t.shape[-2:]) for t in targets]
        for lg, t in zip(_split(logits, hws), targets):
            tf_acc.append((lg.argmax(-1) == t.flatten(1)).float().mean(1))
            tf_ce.append(F.cross_entropy(lg.transpose(1, 2), t.flatten(1), reduction="none").mean(1))
        if i < free_running:
            gen, fhat = model.generate(vq.quantize, b["lq_feat"], lq_idx, b["deg"], (64, 64), cfg_scale)
            for g, t in zip(gen, targets):
                fr_acc.append((g == t).flatten(1).float().mean(1))
            out = vq.fhat_to_frame(fhat)
            mse = (out - b["hq"]).square().mean((1, 2, 3))
            psnrs.append(10 * torch.log10(1 / mse))
    K = model.cfg.K
    tf_acc_K = torch.stack([torch.cat(tf_acc[k::K]).mean() for k in range(K)])
    fr_acc_K = torch.stack([torch.cat(fr_acc[k::K]).mean() for k in range(K)])
    return {
        "tf_ce": float(torch.stack([torch.cat(tf_ce[k::K]).mean() for k in range(K)]).mean()),
        "tf_acc": [round(float(a), 4) for a in tf_acc_K],
        "fr_acc": [round(float(a), 4) for a in fr_acc_K],
        "fr_psnr_rgb": round(float(torch.cat(psnrs).mean()), 3),
    }


def _log(path: Path, record: dict) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def _parse() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.teacher", description=__doc__)
    ap.add_argument("--out", type=Path, default=Path("runs/teacher"))
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--tokenizer", type=Path, default=None, help="default: the shipped tokenizer and LQ encoder")
    ap.add_argument("--regions", type=int, default=400, help="training regions (16 tiles each)")
    ap.add_argument("--eval-regions", type=int, default=24)
    ap.add_argument("--minutes", type=float, default=45.0)
    ap.add_argument("--steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--mlp-ratio", type=float, default=2.0)
    ap.add_argument("--dss-p", type=float, default=0.5)
    ap.add_argument("--dss-k", type=int, default=8)
    ap.add_argument("--dss-start", type=float, default=0.3, help="share of the budget before swaps begin")
    ap.add_argument("--no-dss", action="store_true", help="plain teacher forcing (the ablation)")
    ap.add_argument("--neg-p", type=float, default=0.15)
    ap.add_argument("--null-p", type=float, default=0.1)
    ap.add_argument("--deg-drop", type=float, default=0.1)
    ap.add_argument("--init-from", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--export", type=Path, default=None)
    return ap


def load_tokenizer(folder: Path | None) -> tuple[VQVAE, LQEncoder]:
    from vidsr.models.vqvae import load_lq_encoder, load_vqvae
    from vidsr.sr.vq_lq import load_shipped

    if folder is None:
        return load_shipped()
    return load_vqvae(folder / "tokenizer.safetensors"), load_lq_encoder(folder / "lq_encoder.safetensors")


def samples(out: Path, name: str, vq: VQVAE, lq: LQEncoder, images: list[np.ndarray], regions: int, seed: int):
    """The cached sample set ``OUT/name.pt``, built on first use."""
    path = out / f"{name}.pt"
    if path.exists():
        return VarSamples.load(str(path))
    t = time.time()
    s = build_samples(vq, lq, images, regions, seed)
    s.save(str(path))
    _log(out / "train.log", {"event": f"built {name}", "tiles": len(s), "seconds": round(time.time() - t)})
    return s


def main(argv: list[str] | None = None) -> None:
    args = _parse().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "train.log"
    vq, lq = load_tokenizer(args.tokenizer)
    train = samples(args.out, "samples", vq, lq, [im for _, im in train_images(args.data)], args.regions, args.seed)
    ev = samples(args.out, "eval_samples", vq, lq, [im for _, im in eval_images(args.data)], args.eval_regions, 99)

    cfg = VARConfig(dim=args.dim, depth=args.depth, heads=args.heads, mlp_ratio=args.mlp_ratio,
                    vocab=vq.cfg.codebook_size, code_dim=vq.cfg.code_dim, prefix_dim=vq.cfg.widths[-1],
                    schedule=vq.cfg.schedule, downsample=vq.cfg.downsample)
    torch.manual_seed(args.seed)
    model = VARTeacher(cfg)
    model.codebook_VC.copy_(vq.quantize.codebook.weight)  # the nearest-code prior's geometry
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.05)
    knn = codebook_neighbours(vq.quantize, args.dss_k)
    book = CountBook(cfg.K, args.dss_k)
    state = {"step": 0, "elapsed": 0.0}
    ckpt = args.out / "ckpt.pt"
    src = ckpt if ckpt.exists() else args.init_from
    if src is not None:
        c = torch.load(src, weights_only=False)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["opt"])
        book.load_state_dict(c["book"])
        state = c["state"] if src == ckpt else {**c["state"], "branched_from": str(src)}
        _log(log, {"event": "resumed" if src == ckpt else "branched", "from": str(src), "step": state["step"]})
    _log(log, {"event": "start", "params": sum(p.numel() for p in model.parameters()), "config": vars(args) | {
        "out": str(args.out), "data": str(args.data), "tokenizer": str(args.tokenizer),
        "init_from": str(args.init_from), "export": str(args.export)}})

    def checkpoint(path: Path = ckpt) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "book": book.state_dict(),
                    "state": state, "config": cfg}, tmp)
        tmp.replace(path)

    def progress() -> float:
        return max(state["step"] / args.steps, state["elapsed"] / (60 * args.minutes))

    model.train()
    acc_K, n_acc, loss_acc, t_last = torch.zeros(cfg.K), 0, 0.0, time.time()
    gen = torch.Generator().manual_seed(args.seed)
    while (p := progress()) < 1.0:
        step = state["step"]
        lr = args.lr * min(1.0, (step + 1) / 100) * 0.5 * (1 + math.cos(math.pi * p))
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([args.seed, step])
        b = train.take(torch.from_numpy(rng.choice(len(train), args.batch, replace=False)))
        f, quality, deg, start, lq_hat = teacher_batch(vq, b, rng, args.neg_p, args.null_p, args.deg_drop)
        dss_on = not args.no_dss and p >= args.dss_start
        if dss_on and not state.get("dss_started"):  # the shared teacher-forcing phase: the ablation's root
            state["dss_started"] = step
            checkpoint(args.out / "ckpt_tf.pt")
        targets, inputs = forced_walk(vq.quantize, f, start, knn, book, args.dss_p if dss_on else 0.0, gen)
        logits = model(b["lq_feat"], inputs, model.condition(deg, quality, (64, 64)), lq_hat)
        tgt = torch.cat([t.flatten(1) for t in targets], 1)
        loss = F.cross_entropy(logits.reshape(-1, cfg.vocab), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        opt.step()
        with torch.no_grad():
            hws = [tuple(t.shape[-2:]) for t in targets]
            for si, (lg, t) in enumerate(zip(_split(logits.detach(), hws), targets)):
                pred = lg.argmax(-1).flatten()
                acc_K[si] += (pred == t.flatten()).float().mean()
                book.update(si, pred, t.flatten(), knn)
        n_acc += 1
        loss_acc += loss.item()
        state["step"] = step + 1
        now = time.time()
        state["elapsed"], t_last = state["elapsed"] + (now - t_last), now
        done = progress() >= 1.0
        if state["step"] % 25 == 0 or done:
            _log(log, {"step": state["step"], "loss": round(loss_acc / n_acc, 4),
                       "acc": [round(float(a / n_acc), 3) for a in acc_K], "dss": dss_on, "lr": round(lr, 6),
                       "elapsed_s": round(state["elapsed"]),
                       "book_v0": [round(float(c[0]), 3) for c in book.counts_Kk],
                       "book_outside": [round(float(o), 3) for o in book.outside_K]})
            acc_K.zero_()
            n_acc, loss_acc = 0, 0.0
            threads = args.out / "threads"
            if threads.exists():
                torch.set_num_threads(int(threads.read_text().strip() or args.threads))
        if state["step"] % args.ckpt_every == 0 or done:
            checkpoint()
        if state["step"] % args.eval_every == 0 or done:
            r = held_out_figures(model, vq, ev)
            model.train()
            _log(log, {"step": state["step"], "held_out": r})
            t_last = time.time()
    checkpoint()
    if args.export is not None:
        args.export.parent.mkdir(parents=True, exist_ok=True)
        meta = {"steps": state["step"], "train_seconds": round(state["elapsed"]), "dss": not args.no_dss}
        save_var(model.eval(), args.export, meta=meta)
        _log(log, {"event": "exported", "file": str(args.export)})


if __name__ == "__main__":
    main()
