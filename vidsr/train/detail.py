"""Train the VAR detail stage (``vidsr.models.detail``) in stages on windows of restored frames.

    python -m vidsr.train.detail pool    --data data --out runs/detail
    python -m vidsr.train.detail teacher --out runs/detail --minutes 30
    python -m vidsr.train.detail student --out runs/detail --minutes 12 --cfg 1.5
    python -m vidsr.train.detail decoder --out runs/detail --minutes 20
    python -m vidsr.train.detail fusion  --out runs/detail --minutes 12
    python -m vidsr.train.detail export  --out runs/detail --export vidsr/weights/var.safetensors
    python -m vidsr.train.detail select  --out runs/detail --weights A.safetensors B.safetensors

``pool`` makes real-source pairs (``vidsr.train.source_data``: a real scaler, 4:2:0, a real encoder)
at x2 and x4, restores every LQ region with the shipped default CNN (the base the stage is served on)
and stores base / HQ regions; a validation pool comes from training photographs held out of it (model
selection never looks at the evaluation photographs). Every stage cuts 64 x 64 windows from those
regions and tokenizes them with ``prepare_windows``, the function the server uses.

- teacher: cross-entropy on the HQ tokens of the predicted scales (teacher-forced), 20% of items with
  the base's own tokens under quality BASE (the negative of classifier-free guidance).
- student: from ``--student-depth`` of the teacher's blocks (``student_layers``); KL(guided teacher ||
  student) per scale, the teacher run on the student's own tokens (it scores what the student will build
  on), plus 0.1 x cross-entropy to HQ.
- decoder: the student frozen; the tiny conditional decoder on its output as served (``student_change``),
  L1 of ``base + change`` to HQ plus ``--hf-weight`` x the L1 between the output's and the HQ's local
  texture energy (``texture_energy``); ``--distill W`` adds W x the L1 to the teacher route's change,
  ``--grid-weight W`` W x the L1 between the patterns locked to its 4-px grid (``grid_pattern``: the
  checkerboard); ``--init`` fine-tunes a trained decoder.
- fusion: the teacher's route to pixels, the same loss on the teacher's generated tokens as served.
- select: validation figures of exported files at each ``--levels`` detail (PSNR-Y, NIQE) and the prefix
  ablation, to choose a variant and its default without the evaluation photographs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.models.detail import (
    QUALITY_BASE,
    QUALITY_HQ,
    DetailConfig,
    DetailStudent,
    DetailTeacher,
    Fusion,
    hq_targets,
    prepare_windows,
    proposal,
    save_detail,
    student_change,
    tiny_decoder,
)
from vidsr.sr.var_sr import window_changes
from vidsr.sr.vq_lq import load_shipped
from vidsr.train.loop import Budget, Mean, Run, cosine_lr

WINDOW = 64


# ----- data -----
def build_pool(data: str, out: Path, sizes: dict[int, int], val_photos: int, seed: int) -> None:
    """Base / HQ regions (uint8, 192 x 192) for training and validation, restored by the shipped CNN."""
    from vidsr.data import train_images
    from vidsr.sr.batch import SRBatch
    from vidsr.sr.cnn import CNN
    from vidsr.train.source_data import PoolSpec, SourcePool

    photos = [im for _, im in train_images(data, max_side=1600)]
    split = {"train": photos[:-val_photos], "val": photos[-val_photos:]}
    arrays: dict[str, np.ndarray] = {}
    for part, images in split.items():
        bases, hqs, scales = [], [], []
        for scale, n in sizes.items():
            n = n if part == "train" else max(16, n // 10)
            pool = SourcePool(
                images, PoolSpec(scale=scale, size=n, region=192 // scale), seed=seed + scale + (part == "val")
            )
            cnn = CNN(scale, torch.device("cpu"))
            for i in range(0, n, 64):
                lq = torch.from_numpy(pool.lq[i : i + 64]).permute(0, 3, 1, 2).float() / 255.0
                vectors = torch.as_tensor(np.asarray(pool.vec[i : i + 64], np.float32))
                with torch.no_grad():
                    base = cnn(SRBatch(lq, vectors))
                bases.append((base * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())
            hqs.append(pool.hq)
            scales.append(np.full(n, scale, np.uint8))
            print(json.dumps({"pool": part, "scale": scale, "regions": n}), flush=True)
        arrays[f"{part}_base"] = np.concatenate(bases)
        arrays[f"{part}_hq"] = np.concatenate(hqs)
        arrays[f"{part}_scale"] = np.concatenate(scales)
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "pool.npz", **arrays)


class Windows:
    """Random 64 x 64 windows cut at the same place from base and HQ regions."""

    def __init__(self, path: Path, part: str) -> None:
        z = np.load(path)
        self.base, self.hq = z[f"{part}_base"], z[f"{part}_hq"]

    def batch(self, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, len(self.base), n)
        R = self.base.shape[1]
        ys, xs = rng.integers(0, R - WINDOW + 1, n), rng.integers(0, R - WINDOW + 1, n)
        cut = lambda a: np.stack([a[i, y : y + WINDOW, x : x + WINDOW] for i, y, x in zip(idx, ys, xs)])  # noqa: E731
        to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255.0  # noqa: E731
        return to_t(cut(self.base)), to_t(cut(self.hq))


def texture_energy(x_BCHW: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Local RMS of the luma's high band (the luma minus its 3 x 3 box blur) per ``block`` x ``block``
    block: how much fine texture a region has, whatever its phase. Matching it to the HQ's rewards detail
    an L1 loss alone would average away (a plausible texture at the wrong phase costs L1 twice)."""
    y = (x_BCHW * x_BCHW.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    high = y - F.avg_pool2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), 3, 1)
    return (F.avg_pool2d(high.square(), block) + 1e-8).sqrt()


def grid_pattern(x_BCHW: torch.Tensor, cell: int = 4, span: int = 4) -> torch.Tensor:
    """The luma's pattern locked to the decoder's ``cell``-pixel sub-pixel grid: each cell minus its mean,
    averaged over ``span`` x ``span`` neighbouring cells. Natural texture has no phase preferred by that grid
    and averages out; a sub-pixel map's checkerboard repeats in every cell and stays (window-aligned input,
    as training and serving cut windows on the same grid)."""
    y = (x_BCHW * x_BCHW.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1)
    B, H, W = y.shape
    c = y.view(B, H // cell, cell, W // cell, cell).permute(0, 2, 4, 1, 3)  # B, cell, cell, h, w
    c = c - c.mean((1, 2), keepdim=True)
    return F.avg_pool2d(c.reshape(B, cell * cell, H // cell, W // cell), span)


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    from vidsr.train.evaluate import psnr_y

    return psnr_y(a.clamp(0, 1), b, 4)


# ----- the loop pieces every stage shares -----
def train(net: torch.nn.Module, loss_fn, args, stage: str, evaluate) -> None:
    """One stage's loop on :mod:`vidsr.train.loop`: ``--minutes`` of training time (evaluation excluded), AdamW
    on a cosine LR with clipped gradients, the JSON log and a checkpoint in ``OUT/STAGE/`` (``--resume``
    continues from it), the stage's weights in ``OUT/STAGE.pt`` at each evaluation and at the end."""
    run = Run(args.out / stage, threads=args.threads)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.98))
    budget = Budget(steps=10**9, minutes=args.minutes)  # a time budget: the CPU is shared
    if args.resume and (ck := run.load()) is not None:
        net.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        budget.load_state_dict(ck)
        run.log({"stage": stage, "event": "resume", "step": budget.step})
    else:
        run.log({"stage": stage, "step": 0, **evaluate()})
    mean = Mean()
    budget.start_clock()
    while not budget.done():
        lr = cosine_lr(opt, args.lr, budget.progress())
        loss, parts = loss_fn(budget.step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        mean.add(loss=loss.item(), **parts)
        budget.tick()
        if budget.step % 25 == 0:
            terms = {k: round(v, 5) for k, v in mean.pop().items()}
            run.log({"stage": stage, "step": budget.step, "s": round(budget.elapsed), **terms, "lr": lr})
            run.poll_threads(budget.step)
        if budget.every(args.eval_every):
            run.log({"stage": stage, "step": budget.step, **({"end": True} if budget.done() else {}), **evaluate()})
            run.save({"model": net.state_dict(), "opt": opt.state_dict(), **budget.state_dict()})
            torch.save(net.state_dict(), args.out / f"{stage}.pt")
            budget.start_clock()  # evaluation is not training time


# ----- stages -----
def teacher_stage(args) -> None:
    vq, _ = load_shipped()
    cfg = DetailConfig(student_depth=args.student_depth)
    net = DetailTeacher(cfg)
    net.set_codebook(vq.quantize)
    tr, va = Windows(args.out / "pool.npz", "train"), Windows(args.out / "pool.npz", "val")
    val = va.batch(128, 0)

    def loss_fn(step: int):
        base, hq = tr.batch(args.batch, 1000 + step)
        bt = prepare_windows(vq, base, cfg.predicted)
        with torch.no_grad():
            tgt = hq_targets(vq.quantize, bt, vq.encoder(hq))
        quality = (torch.rand(base.shape[0], generator=torch.Generator().manual_seed(step)) < 0.2).long()
        own = bt.idx_list[-cfg.predicted :]
        tgt = [torch.where(quality.view(-1, 1, 1) == QUALITY_BASE, o, t) for o, t in zip(own, tgt)]
        logits = net(bt, vq.quantize, tgt, quality)
        ces = [F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1)) for lg, t in zip(logits, tgt)]
        return sum(ces) / len(ces), {f"ce{p}": round(c.item(), 3) for p, c in enumerate(ces)}

    @torch.no_grad()
    def evaluate() -> dict:
        net.eval()
        base, hq = val
        bt = prepare_windows(vq, base, cfg.predicted)
        tgt = hq_targets(vq.quantize, bt, vq.encoder(hq))
        q = torch.zeros(base.shape[0], dtype=torch.long)
        logits = net(bt, vq.quantize, tgt, q)
        ce = float(
            np.mean([F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1)) for lg, t in zip(logits, tgt)])
        )
        acc = float(np.mean([(lg.argmax(-1).view_as(t) == t).float().mean() for lg, t in zip(logits, tgt)]))
        row = {"val_ce": round(ce, 4), "val_acc": round(acc, 4), "base_psnr": round(psnr(base, hq), 3)}
        for s in args.eval_cfg:
            _, fhat, soft = net.generate(bt, vq.quantize, cfg_scale=s)
            prop = proposal(vq, bt, fhat, soft)
            row[f"half_cfg{s}"] = round(psnr(base + 0.5 * prop[:, :3], hq), 3)
            row[f"soft_cfg{s}"] = round(psnr(base + prop[:, 3:], hq), 3)
        net.train()
        return row

    net.train()
    train(net, loss_fn, args, "teacher", evaluate)
    save_detail(args.out / "teacher.safetensors", cfg, {"teacher": net})


def _load_nets(args, names: tuple[str, ...]):
    vq, _ = load_shipped()
    cfg = DetailConfig(student_depth=args.student_depth)
    nets = {}
    for name in names:
        net = {"teacher": DetailTeacher, "student": DetailStudent}[name](cfg)
        net.load_state_dict(torch.load(args.out / f"{name}.pt", weights_only=True))
        nets[name] = net
    return vq, cfg, nets


def student_stage(args) -> None:
    vq, cfg, nets = _load_nets(args, ("teacher",))
    teacher = nets["teacher"].eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = DetailStudent.from_teacher(teacher)
    tr, va = Windows(args.out / "pool.npz", "train"), Windows(args.out / "pool.npz", "val")
    val = va.batch(128, 0)
    B = args.batch

    def guided(bt, idx) -> list[torch.Tensor]:
        hq = teacher(bt, vq.quantize, idx, torch.full((idx[0].shape[0],), QUALITY_HQ))
        if args.cfg == 1.0:
            return hq
        neg = teacher(bt, vq.quantize, idx, torch.full((idx[0].shape[0],), QUALITY_BASE))
        return [n + args.cfg * (h - n) for h, n in zip(hq, neg)]

    def loss_fn(step: int):
        base, hq = tr.batch(B, 5000 + step)
        bt = prepare_windows(vq, base, cfg.predicted)
        logits = student(bt, vq.quantize)
        own = [lg.argmax(-1).view(-1, *hw) for lg, hw in zip(logits, bt.predicted_hws)]
        with torch.no_grad():
            t_logits = guided(bt, own)
            tgt = hq_targets(vq.quantize, bt, vq.encoder(hq))
        kls = [
            F.kl_div(s.log_softmax(-1), t.log_softmax(-1), log_target=True, reduction="batchmean") / s.shape[1]
            for s, t in zip(logits, t_logits)
        ]
        ces = [F.cross_entropy(lg.reshape(-1, lg.shape[-1]), t.reshape(-1)) for lg, t in zip(logits, tgt)]
        loss = sum(kls) / len(kls) + 0.1 * sum(ces) / len(ces)
        kl, ce = (sum(v.item() for v in vs) / len(vs) for vs in (kls, ces))
        return loss, {"kl": round(kl, 4), "ce": round(ce, 3)}

    @torch.no_grad()
    def evaluate() -> dict:
        student.eval()
        base, hq = val
        bt = prepare_windows(vq, base, cfg.predicted)
        out = student.predict(bt, vq.quantize)
        ps = proposal(vq, bt, out.fhat_BChw, out.soft_BChw)
        t_idx, t_fhat, t_soft = teacher.generate(bt, vq.quantize, cfg_scale=args.cfg)
        pt = proposal(vq, bt, t_fhat, t_soft)
        agree = float(np.mean([(a == b).float().mean() for a, b in zip(out.idx, t_idx)]))
        row = {
            "base_psnr": round(psnr(base, hq), 3),
            "agree_teacher": round(agree, 4),
            "student_half": round(psnr(base + 0.5 * ps[:, :3], hq), 3),
            "teacher_half": round(psnr(base + 0.5 * pt[:, :3], hq), 3),
            "student_soft": round(psnr(base + ps[:, 3:], hq), 3),
            "teacher_soft": round(psnr(base + pt[:, 3:], hq), 3),
        }
        student.train()
        return row

    student.train()
    train(student, loss_fn, args, "student", evaluate)


def _pixel_stage(args, stage: str, net: torch.nn.Module, served, target=None) -> None:
    """Train the route from tokens to pixels on windows as served: ``served(base)`` is the change;
    ``target(base)``, when given, another route's change to imitate with weight ``--distill``."""
    tr, va = Windows(args.out / "pool.npz", "train"), Windows(args.out / "pool.npz", "val")
    val = va.batch(128, 0)

    def loss_fn(step: int):
        base, hq = tr.batch(args.batch, 9000 + step)
        change = served(base)
        out = base + change
        l1 = F.l1_loss(out, hq)
        hf = F.l1_loss(texture_energy(out), texture_energy(hq))
        parts = {"l1": round(l1.item(), 5), "hf": round(hf.item(), 5)}
        loss = l1 + args.hf_weight * hf
        if args.grid_weight:
            grid = F.l1_loss(grid_pattern(out), grid_pattern(hq))
            loss = loss + args.grid_weight * grid
            parts["grid"] = round(grid.item(), 5)
        if target is not None:
            with torch.no_grad():
                want = target(base)
            imitate = F.l1_loss(change, want)
            loss = loss + args.distill * imitate
            parts["imitate"] = round(imitate.item(), 5)
        return loss, parts

    @torch.no_grad()
    def evaluate() -> dict:
        net.eval()
        base, hq = val
        change = served(base)
        row = {"base_psnr": round(psnr(base, hq), 3),
               "hf_gap_base": round(float(F.l1_loss(texture_energy(base), texture_energy(hq))), 5)}
        row["grid_gap_base"] = round(float(F.l1_loss(grid_pattern(base), grid_pattern(hq))), 5)
        for d in (0.5, 1.0):
            row[f"detail{d}"] = round(psnr(base + d * change, hq), 3)
            row[f"grid_gap{d}"] = round(float(F.l1_loss(grid_pattern(base + d * change), grid_pattern(hq))), 5)
            row[f"hf_gap{d}"] = round(float(F.l1_loss(texture_energy(base + d * change), texture_energy(hq))), 5)
        net.train()
        return row

    net.train()
    train(net, loss_fn, args, stage, evaluate)


def decoder_stage(args) -> None:
    """The student's tiny conditional decoder, the student frozen; with ``--distill`` it also imitates the
    teacher's route (its tokens through three tokenizer decodes and its fusion), as FlashVSR distils its
    tiny decoder from the full one."""
    vq, cfg, nets = _load_nets(args, ("student", "teacher") if args.distill else ("student",))
    for net in nets.values():
        net.eval().requires_grad_(False)
    student = nets["student"]
    decoder = tiny_decoder(cfg)
    if args.init:  # fine-tune a trained decoder (its state dict) rather than start from zero
        decoder.load_state_dict(torch.load(args.init, weights_only=True))

    def served(base: torch.Tensor) -> torch.Tensor:
        bt = prepare_windows(vq, base, cfg.predicted)
        return student_change(decoder, bt, student.predict(bt, vq.quantize))

    target = None
    if args.distill:
        teacher, fusion = nets["teacher"], Fusion(cfg.fusion_width, cfg.fusion_blocks)
        fusion.load_state_dict(torch.load(args.out / "fusion.pt", weights_only=True))
        fusion.eval().requires_grad_(False)

        def target(base: torch.Tensor) -> torch.Tensor:
            return window_changes(vq, teacher, fusion, base, args.cfg)[1]  # the teacher's route as served

    _pixel_stage(args, "decoder", decoder, served, target)


def fusion_stage(args) -> None:
    """The teacher's fusion on its generated tokens, the teacher frozen."""
    vq, cfg, nets = _load_nets(args, ("teacher",))
    teacher = nets["teacher"].eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    fusion = Fusion(cfg.fusion_width, cfg.fusion_blocks)

    def served(base: torch.Tensor) -> torch.Tensor:
        bt = prepare_windows(vq, base, cfg.predicted)
        with torch.no_grad():
            prop = proposal(vq, bt, *teacher.generate(bt, vq.quantize, cfg_scale=args.cfg)[1:])
        return fusion(base, prop)

    _pixel_stage(args, "fusion", fusion, served)


def export_stage(args) -> None:
    vq, cfg, nets = _load_nets(args, ("teacher", "student"))
    fusion, decoder = Fusion(cfg.fusion_width, cfg.fusion_blocks), tiny_decoder(cfg)
    fusion.load_state_dict(torch.load(args.out / "fusion.pt", weights_only=True))
    decoder.load_state_dict(torch.load(args.out / "decoder.pt", weights_only=True))
    nets["fusion"], nets["decoder"] = fusion, decoder
    meta = {"cfg_scale": args.cfg, "detail": args.detail}
    if args.suite:  # the real-source suite's verdict, read by ``auto`` (vidsr.sr.var_sr.earns_auto)
        table = json.loads(Path(args.suite).read_text())["summary"]["2"]
        var, base = table[f"var d={args.detail}"], table["base (cnn)"]
        meta["suite_psnr_vs_base"] = round(var["psnr_y"] - base["psnr_y"], 3)
        meta["suite_niqe_vs_base"] = round(var["niqe"] - base["niqe"], 3)
    save_detail(args.export, cfg, nets, meta)


@torch.no_grad()
def select_stage(args) -> None:
    """Validation figures of exported files (``--weights``), to choose a variant and its default ``detail``
    without the evaluation photographs: each validation region (192 x 192, training photographs held out
    of the pairs; the first ``--regions``, x2 ones) is cut into 64 x 64 windows side by side, each served
    as ``var`` serves a window (``window_changes``), put back together and scored at every detail level:
    PSNR-Y against the HQ and NIQE of the region. Per route it ends with the rule's choice of default: the level
    with the lowest NIQE among those within 0.2 dB PSNR-Y of detail 0 (the base alone)."""
    from safetensors import safe_open

    from vidsr.metrics import niqe
    from vidsr.models.detail import load_detail

    z = np.load(args.out / "pool.npz")
    n = min(args.regions, len(z["val_base"]))
    to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255.0  # noqa: E731
    base, hq = to_t(z["val_base"][:n]), to_t(z["val_hq"][:n])
    R, k = base.shape[-1], base.shape[-1] // WINDOW
    vq, _ = load_shipped()
    levels = sorted({0.0, *args.levels})

    def u8(x: torch.Tensor) -> np.ndarray:
        return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()

    def untile(c_NCHW: torch.Tensor) -> torch.Tensor:
        """k x k windows per region, in row order, back into their regions."""
        B = len(c_NCHW) // (k * k)
        return c_NCHW.view(B, k, k, 3, WINDOW, WINDOW).permute(0, 3, 1, 4, 2, 5).reshape(B, 3, R, R)

    for path in args.weights:
        _, nets = load_detail(path)
        with safe_open(str(path), framework="pt") as f:
            cfg_scale = float((f.metadata() or {}).get("cfg_scale", 1.0))  # the teacher's guidance as served
        routes = [("var", nets["student"], nets["decoder"])]
        routes += [("var-teacher", nets["teacher"], nets["fusion"])] if args.teacher else []
        for name, pred, dec in routes:
            change, shuffled = torch.zeros_like(base), torch.zeros_like(base)
            for i in range(0, n, 8):
                b = base[i : i + 8]
                crops = b.unfold(2, WINDOW, WINDOW).unfold(3, WINDOW, WINDOW).permute(0, 2, 3, 1, 4, 5)
                crops = crops.reshape(-1, 3, WINDOW, WINDOW)
                _, ch = window_changes(vq, pred, dec, crops, cfg_scale)
                change[i : i + 8] = untile(ch)
                if name == "var":  # the prefix ablation, as bench/detail_suite.py does it: each window's neighbour's
                    bt = prepare_windows(vq, crops, pred.cfg.predicted).with_prefix_of(
                        torch.roll(torch.arange(len(crops)), 1))
                    sh = student_change(dec, bt, pred.predict(bt, vq.quantize))
                    shuffled[i : i + 8] = untile(sh)
            if name == "var":
                own, other = psnr((base + change).clamp(0, 1), hq), psnr((base + shuffled).clamp(0, 1), hq)
                print(json.dumps({"weights": str(path), "model": name, "detail": 1.0, "prefix_own": round(own, 3),
                                  "prefix_shuffled": round(other, 3), "prefix_drop": round(own - other, 3)}))
            rows = []
            for d in levels:
                out = (base + d * change).clamp(0, 1)
                rows.append({"weights": str(path), "model": name, "detail": d, "psnr_y": round(psnr(out, hq), 3),
                             "niqe": round(float(np.mean([niqe(u8(o)) for o in out])), 3)})
                print(json.dumps(rows[-1]), flush=True)
            within = [r for r in rows if r["psnr_y"] >= rows[0]["psnr_y"] - 0.2]
            best = min(within, key=lambda r: (r["niqe"], r["detail"]))
            print(json.dumps({"weights": str(path), "model": name, "choice": best["detail"],
                              "psnr_vs_base": round(best["psnr_y"] - rows[0]["psnr_y"], 3),
                              "niqe_vs_base": round(best["niqe"] - rows[0]["niqe"], 3)}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("stage", choices=("pool", "teacher", "student", "decoder", "fusion", "export", "select"))
    ap.add_argument("--data", default="data")
    ap.add_argument("--out", type=Path, default=Path("runs/detail"))
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--cfg", type=float, default=1.5, help="guidance scale the student is distilled at")
    ap.add_argument("--eval-cfg", type=float, nargs="*", default=[1.0, 1.5, 2.5])
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--x2-regions", type=int, default=1200)
    ap.add_argument("--x4-regions", type=int, default=400)
    ap.add_argument("--val-photos", type=int, default=12)
    ap.add_argument("--student-depth", type=int, default=3, help="the student's blocks (of the teacher's 6)")
    ap.add_argument("--grid-weight", type=float, default=0.0,
                    help="decoder/fusion: weight of the match of the pattern locked to the 4-px grid (checkerboard)")
    ap.add_argument("--init", type=Path, help="decoder: a trained decoder's state dict to start from")
    ap.add_argument("--distill", type=float, default=0.0,
                    help="decoder: weight of the L1 to the teacher route's change (0: none)")
    ap.add_argument("--hf-weight", type=float, default=0.5, help="fusion: weight of the texture-energy match")
    ap.add_argument("--detail", type=float, default=1.0, help="export: the default detail written in the file")
    ap.add_argument("--suite", help="export: bench/detail_suite.py's JSON, whose x2 verdict goes in the header")
    ap.add_argument("--export", type=Path)
    ap.add_argument("--weights", type=Path, nargs="*", default=[], help="select: exported files to compare")
    ap.add_argument("--regions", type=int, default=96, help="select: validation regions scored")
    ap.add_argument("--teacher", action="store_true", help="select: score the teacher too")
    ap.add_argument("--levels", type=float, nargs="*", default=[0.25, 0.5, 0.75, 1.0],
                    help="select: detail levels scored (detail 0, the base, always is)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.stage == "pool":
        build_pool(args.data, args.out, {2: args.x2_regions, 4: args.x4_regions}, args.val_photos, args.seed)
    else:
        stages = {"teacher": teacher_stage, "student": student_stage, "decoder": decoder_stage,
                  "fusion": fusion_stage, "export": export_stage, "select": select_stage}
        stages[args.stage](args)


if __name__ == "__main__":
    main()
