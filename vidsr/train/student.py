"""Distil the one-step student from the frozen VAR teacher, then train its refiner, in one resumable command::

    python -m vidsr.train.student --teacher runs/teacher/var_teacher.safetensors --out runs/student \\
        --distill-minutes 25 --refine-minutes 10 --export runs/student/var.safetensors

Stage ``distill`` (only the low-rank adapters learn): per scale, KL(teacher || student) between the
frozen teacher's token distribution and the student's (VARestorer's distribution matching); the teacher
sees the coarser scales either as the ground-truth HQ tokens (``--teacher-inputs gt``) or as the
student's own argmax tokens (``self``: what the student will actually build on). Plus L1 between the
decoded HQ tile and the decode of the student's tokens through a straight-through relaxed sample
(soft code vectors forward-equal to the argmax codes), weighted by ``--pixel-weight``.

Stage ``refine`` (adapters frozen): the refiner learns the continuous residual ``f_hq - fhat`` of the
student's tokens (latent MSE) plus pixel L1 of the decoded refined latent.

Tiles come from ``vidsr.train.var_data`` (the teacher run's ``samples.pt`` is reused when given).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.data import eval_images, train_images
from vidsr.models.quant import MultiScaleQuantizer
from vidsr.models.var import QUALITY_HQ, load_var, next_scale_inputs
from vidsr.models.var_student import StudentConfig, VARStudent, save_student, split_tokens
from vidsr.models.vqvae import VQVAE
from vidsr.train.teacher import forced_walk, load_tokenizer, samples
from vidsr.train.var_data import VarSamples

__all__ = ["relaxed_fhat", "distill_losses", "student_figures", "main"]


def relaxed_fhat(quant: MultiScaleQuantizer, logits: list[torch.Tensor], hws: list[tuple[int, int]]) -> torch.Tensor:
    """The quantized latent of the argmax tokens, with the gradient of the softmax-expected code vectors
    (straight-through): ``logits[k]`` is ``B x (h_k w_k) x V``; the last grid is the latent's."""
    e_VC = quant.codebook.weight
    hw = hws[-1]
    fhat = None
    for si, (lg_BlV, (gh, gw)) in enumerate(zip(logits, hws)):
        soft = lg_BlV.softmax(-1) @ e_VC
        code_BlC = e_VC[lg_BlV.argmax(-1)] + soft - soft.detach()
        m = code_BlC.transpose(1, 2).reshape(code_BlC.shape[0], -1, gh, gw)
        if (gh, gw) != hw:
            m = F.interpolate(m, size=hw, mode="bicubic", align_corners=False)
        h = quant.phi(si)(m.contiguous())
        fhat = h if fhat is None else fhat + h
    assert fhat is not None
    return fhat


def distill_losses(
    student: VARStudent,
    teacher,
    vq: VQVAE,
    b: dict[str, torch.Tensor],
    teacher_inputs: str,
    pixel_weight: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """KL per scale (teacher || student) + pixel L1 of the straight-through decode."""
    quant = vq.quantize
    lq_idx = quant.f_to_tokens(b["lq_lat"])
    hws = [tuple(i.shape[-2:]) for i in lq_idx]
    lq_hat = quant.tokens_to_fhat(lq_idx)
    logits_s = student(b["lq_feat"], student.pyramid_inputs(quant, lq_idx), lq_hat, b["deg"], (64, 64))
    start = quant.codebook(lq_idx[0]).permute(0, 3, 1, 2)
    with torch.no_grad():
        if teacher_inputs == "gt":
            targets, inputs = forced_walk(quant, b["f_hq"], start)
        else:
            own = split_tokens(logits_s.detach().argmax(-1), hws)
            inputs = next_scale_inputs(quant, own, start)
            targets, _ = forced_walk(quant, b["f_hq"], start)
        B = start.shape[0]
        cond = teacher.condition(b["deg"], torch.full((B,), QUALITY_HQ), (64, 64))
        logp_t = teacher(b["lq_feat"], inputs, cond, lq_hat).log_softmax(-1)
    logp_s = logits_s.log_softmax(-1)
    kl = (logp_t.exp() * (logp_t - logp_s)).sum(-1).mean()
    per_scale = logits_s.split([h * w for h, w in hws], dim=1)
    fhat = relaxed_fhat(quant, list(per_scale), hws)
    pix = F.l1_loss(vq.decoder(fhat), b["hq"])
    tgt = torch.cat([t.flatten(1) for t in targets], 1)
    acc = float((logits_s.detach().argmax(-1) == tgt).float().mean())
    return kl + pixel_weight * pix, {"kl": kl.item(), "pix_l1": pix.item(), "acc_gt": acc}


@torch.no_grad()
def student_figures(student: VARStudent, vq: VQVAE, ev: VarSamples) -> dict[str, float]:
    """Held-out tile PSNR (RGB) of the decoded one-step output without and with the refiner, and of the
    LQ latent's own quantized decode (what ``vq-lq`` gives) for reference."""
    student.eval()
    rows = []
    for i in range(0, len(ev), 64):
        b = ev.take(torch.arange(i, min(i + 64, len(ev))))
        lq_idx = vq.quantize.f_to_tokens(b["lq_lat"])
        _, fhat = student.predict(vq.quantize, b["lq_feat"], lq_idx, b["deg"], (64, 64), refine=False)
        refined = fhat + student.refiner(b["lq_feat"], fhat)
        outs = [vq.fhat_to_frame(fhat), vq.fhat_to_frame(refined), vq.fhat_to_frame(vq.quantize.tokens_to_fhat(lq_idx))]
        rows.append(torch.stack([(o - b["hq"]).square().mean((1, 2, 3)) for o in outs], 1))
    mse = torch.cat(rows)
    psnr = (10 * torch.log10(1 / mse)).mean(0)
    return {"psnr_tokens": round(float(psnr[0]), 3), "psnr_refined": round(float(psnr[1]), 3),
            "psnr_vq_lq": round(float(psnr[2]), 3)}


def _log(path: Path, record: dict) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def _parse() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.student", description=__doc__)
    ap.add_argument("--teacher", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("runs/student"))
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--samples-from", type=Path, default=None, help="a teacher run folder with samples.pt")
    ap.add_argument("--tokenizer", type=Path, default=None)
    ap.add_argument("--regions", type=int, default=400)
    ap.add_argument("--eval-regions", type=int, default=24)
    ap.add_argument("--teacher-inputs", choices=("gt", "self"), default="self")
    ap.add_argument("--rank", type=int, default=2)
    ap.add_argument("--distill-minutes", type=float, default=25.0)
    ap.add_argument("--distill-steps", type=int, default=100000)
    ap.add_argument("--refine-minutes", type=float, default=10.0)
    ap.add_argument("--refine-steps", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--refine-lr", type=float, default=2e-3)
    ap.add_argument("--pixel-weight", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--ckpt-every", type=int, default=25)
    ap.add_argument("--export", type=Path, default=None)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = _parse().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "train.log"
    vq, lq = load_tokenizer(args.tokenizer)
    if args.samples_from is not None:
        for name in ("samples.pt", "eval_samples.pt"):
            if not (args.out / name).exists() and (args.samples_from / name).exists():
                shutil.copyfile(args.samples_from / name, args.out / name)
    train = samples(args.out, "samples", vq, lq, [im for _, im in train_images(args.data)], args.regions, args.seed)
    ev = samples(args.out, "eval_samples", vq, lq, [im for _, im in eval_images(args.data)], args.eval_regions, 99)
    teacher = load_var(args.teacher)
    student = VARStudent(StudentConfig(teacher=teacher.cfg, rank=args.rank), teacher)
    adapters = student.adapter_parameters()
    opt_d = torch.optim.AdamW(adapters, lr=args.lr, weight_decay=0.0)
    opt_r = torch.optim.AdamW(student.refiner.parameters(), lr=args.refine_lr, weight_decay=0.0)
    state = {"stage": "distill", "step": 0, "elapsed": 0.0}
    ckpt = args.out / "ckpt.pt"
    if ckpt.exists():
        c = torch.load(ckpt, weights_only=False)
        student.load_state_dict(c["model"])
        opt_d.load_state_dict(c["opt_d"])
        opt_r.load_state_dict(c["opt_r"])
        state = c["state"]
        _log(log, {"event": "resumed", "state": state})
    n_all = sum(p.numel() for p in student.var.parameters())
    n_ad = sum(p.numel() for p in adapters)
    _log(log, {"event": "start", "transformer_params": n_all, "adapter_params": n_ad,
               "adapter_share": round(n_ad / n_all, 5),
               "refiner_params": sum(p.numel() for p in student.refiner.parameters()),
               "config": {k: str(v) for k, v in vars(args).items()}})

    def checkpoint() -> None:
        tmp = ckpt.with_suffix(".tmp")
        torch.save({"model": student.state_dict(), "opt_d": opt_d.state_dict(), "opt_r": opt_r.state_dict(),
                    "state": state}, tmp)
        tmp.replace(ckpt)

    def progress(steps: int, minutes: float) -> float:
        return max(state["step"] / steps, state["elapsed"] / (60 * minutes))

    for stage, steps, minutes in (("distill", args.distill_steps, args.distill_minutes),
                                  ("refine", args.refine_steps, args.refine_minutes)):
        if state["stage"] != stage:
            continue
        opt = opt_d if stage == "distill" else opt_r
        base_lr = args.lr if stage == "distill" else args.refine_lr
        student.train()
        acc: dict[str, float] = {}
        n, t_last = 0, time.time()
        while (p := progress(steps, minutes)) < 1.0:
            step = state["step"]
            lr = base_lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * p))
            for g in opt.param_groups:
                g["lr"] = lr
            rng = np.random.default_rng([args.seed, 7 if stage == "distill" else 8, step])
            b = train.take(torch.from_numpy(rng.choice(len(train), args.batch, replace=False)))
            if stage == "distill":
                loss, terms = distill_losses(student, teacher, vq, b, args.teacher_inputs, args.pixel_weight)
            else:
                with torch.no_grad():
                    lq_idx = vq.quantize.f_to_tokens(b["lq_lat"])
                    _, fhat = student.predict(vq.quantize, b["lq_feat"], lq_idx, b["deg"], (64, 64), refine=False)
                res = student.refiner(b["lq_feat"], fhat)
                lat = F.mse_loss(fhat + res, b["f_hq"])
                pix = F.l1_loss(vq.decoder(fhat + res), b["hq"])
                loss, terms = lat + pix, {"latent_mse": lat.item(), "pix_l1": pix.item()}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for k, v in terms.items():
                acc[k] = acc.get(k, 0.0) + v
            n += 1
            state["step"] = step + 1
            now = time.time()
            state["elapsed"], t_last = state["elapsed"] + (now - t_last), now
            done = progress(steps, minutes) >= 1.0
            if state["step"] % 25 == 0 or done:
                _log(log, {"stage": stage, "step": state["step"], **{k: round(v / n, 4) for k, v in acc.items()},
                           "lr": round(lr, 6), "elapsed_s": round(state["elapsed"])})
                acc, n = {}, 0
                threads = args.out / "threads"
                if threads.exists():
                    torch.set_num_threads(int(threads.read_text().strip() or args.threads))
            if state["step"] % args.ckpt_every == 0 or done:
                checkpoint()
            if state["step"] % args.eval_every == 0 or done:
                _log(log, {"stage": stage, "step": state["step"], "held_out": student_figures(student, vq, ev)})
                student.train()
                t_last = time.time()
        state.update({f"{stage}_steps": state["step"], f"{stage}_seconds": round(state["elapsed"]),
                      "stage": "refine" if stage == "distill" else "done", "step": 0, "elapsed": 0.0})
        checkpoint()
    if args.export is not None:
        meta = {k: state.get(k) for k in ("distill_steps", "distill_seconds", "refine_steps", "refine_seconds")}
        meta["teacher_inputs"] = args.teacher_inputs
        save_student(student.eval(), args.export, meta=meta)
        _log(log, {"event": "exported", "file": str(args.export)})


if __name__ == "__main__":
    main()
