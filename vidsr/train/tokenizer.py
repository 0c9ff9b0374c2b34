"""Train the VAR tokenizer, then its degradation-robust LQ encoder, in one resumable command::

    python -m vidsr.train.tokenizer --out runs/tok --vq-minutes 35 --lq-minutes 15 --export vidsr/weights

Stage ``vq``: random crops of the training photographs (scale jitter, flips, rot90, a few aspect
ratios of equal area so the relative scale schedule sees non-square grids); loss = L1 + SSIM on pixels
+ codebook + commitment. The first ``--warmup`` share of the stage trains a plain auto-encoder; then
the codebook is initialised by k-means on the residuals of a batch of latents, and dead codes are
restarted every ``--restart-every`` steps.
Stage ``lq``: the HQ tokenizer is frozen; a copy of its encoder learns to map a degraded crop
(random training degradation at x2 or x4, bicubic-upsampled back to the HQ grid) near the HQ latent:
feature L2 + L1 of the decoded quantized latent against the HQ crop.

Both stages follow a cosine learning rate over a wall-time budget (``--*-minutes``; the shared CPU's
speed varies) or a step count, whichever ends first. ``OUT/ckpt.pt`` is written every
``--ckpt-every`` steps and picked up by the same command; batches depend only on (seed, stage, step).
Loss and held-out figures go to ``OUT/train.log``. Write a number to ``OUT/threads`` to change the
torch thread count of a running job (e.g. when a neighbour's job ends).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.losses import ssim_loss

from vidsr.data import eval_images, train_images
from vidsr.models.vqvae import VQVAE, LQEncoder, TokenizerConfig, save_weights
from vidsr.train.cnn import make_batch
from vidsr.train.evaluate import bicubic_up, evaluate, psnr_y, ssim_y, to_tensor
from vidsr.train.loop import Budget, Mean, Run, cosine_lr

__all__ = ["hq_batch", "vq_step", "recon_figures", "train_vq", "train_lq", "main"]

# crop shapes of equal area (4096 px): square, 4:3-ish and 16:9-ish both ways; all multiples of 16
CROP_SHAPES = ((64, 64), (48, 80), (80, 48), (32, 128), (128, 32))
CROP_SHAPE_P = (0.4, 0.2, 0.2, 0.1, 0.1)


def _crop(img: np.ndarray, hw: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
    """A ``3 x h x w`` crop with scale jitter (a region up to 2.5x larger, shrunk), flips and a transpose."""
    h, w = hw
    if rng.random() < 0.5:  # transpose the request, not the picture, so every shape sees both layouts
        h, w = w, h
    H, W = img.shape[:2]
    zoom = float(rng.uniform(1.0, 2.5)) if rng.random() < 0.7 else 1.0
    rh, rw = min(int(h * zoom), H), min(int(w * zoom), W)
    y, x = int(rng.integers(0, H - rh + 1)), int(rng.integers(0, W - rw + 1))
    crop = torch.from_numpy(np.ascontiguousarray(img[y : y + rh, x : x + rw])).permute(2, 0, 1)[None].float() / 255
    if (rh, rw) != (h, w):
        crop = F.interpolate(crop, size=(h, w), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    crop = crop[0]
    if rng.random() < 0.5:
        crop = crop.flip(-1)
    if rng.random() < 0.5:
        crop = crop.flip(-2)
    return crop if (h, w) == hw else crop.transpose(-2, -1)


def hq_batch(images: list[np.ndarray], batch: int, seed: int, step: int) -> torch.Tensor:
    """``B x 3 x h x w`` HQ crops, one shape per batch; a pure function of (seed, step)."""
    rng = np.random.default_rng([seed, 1, step])
    hw = CROP_SHAPES[int(rng.choice(len(CROP_SHAPES), p=CROP_SHAPE_P))]
    areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
    pick = rng.choice(len(images), size=batch, p=areas / areas.sum())
    return torch.stack([_crop(images[int(i)], hw, rng) for i in pick])


@torch.inference_mode()
def recon_figures(vq: VQVAE, held_out: list[tuple[str, np.ndarray]]) -> dict[str, float]:
    """Held-out reconstruction PSNR/SSIM (Y, 4-px border cropped), codebook usage share and perplexity."""
    psnrs, ssims, hits = [], [], torch.zeros(vq.cfg.codebook_size)
    for _, img in held_out:
        x = to_tensor(img)
        idx_list = vq.frame_to_tokens(x)
        rec = vq.tokens_to_frame(idx_list, tuple(x.shape[-2:]))
        psnrs.append(psnr_y(rec, x, 4))
        ssims.append(ssim_y(rec, x, 4))
        hits += torch.bincount(torch.cat([i.flatten() for i in idx_list]), minlength=hits.numel()).float()
    p = hits / hits.sum()
    perplexity = float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum()))
    return {
        "psnr": float(np.mean(psnrs)),
        "ssim": float(np.mean(ssims)),
        "usage": float((hits > 0).float().mean()),
        "perplexity": perplexity,
    }


def vq_step(
    vq: VQVAE, opt: torch.optim.Optimizer, x: torch.Tensor, quantize: bool, ssim_weight: float, vq_weight: float
) -> dict[str, float]:
    """One tokenizer step: L1 + SSIM on pixels + codebook/commitment; returns the terms."""
    rec, vq_loss = vq(x, quantize=quantize)
    l1 = F.l1_loss(rec, x)
    ls = ssim_loss(rec, x, window_size=11)
    loss = l1 + ssim_weight * ls + vq_weight * vq_loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return {"loss": loss.item(), "l1": l1.item(), "ssim_loss": ls.item(), "vq_loss": vq_loss.item()}


def _parse() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m vidsr.train.tokenizer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--out", type=Path, default=Path("runs/tok"))
    ap.add_argument("--widths", type=str, default="48,64", help="encoder widths per level; f = stem * 2**(levels-1)")
    ap.add_argument("--stem", type=int, default=2, help="pixel-unshuffle factor before the first conv")
    ap.add_argument("--blocks", type=int, default=1)
    ap.add_argument("--codebook-size", type=int, default=1024)
    ap.add_argument("--code-dim", type=int, default=16)
    ap.add_argument("--schedule", type=str, default="1,2,3,4,5,6,8,10,13,16")
    ap.add_argument("--vq-steps", type=int, default=100000)
    ap.add_argument("--vq-minutes", type=float, default=30.0)
    ap.add_argument("--lq-steps", type=int, default=100000)
    ap.add_argument("--lq-minutes", type=float, default=15.0, help="0 skips the LQ encoder stage")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--lq-lr", type=float, default=5e-4)
    ap.add_argument("--ssim-weight", type=float, default=0.2)
    ap.add_argument("--vq-weight", type=float, default=1.0)
    ap.add_argument("--feat-weight", type=float, default=1.0)
    ap.add_argument("--warmup", type=float, default=0.1, help="share of the vq stage trained without quantizer")
    ap.add_argument("--restart-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--max-side", type=int, default=1600, help="training photographs shrunk to this side")
    ap.add_argument("--eval-side", type=int, default=512)
    ap.add_argument("--export", type=Path, default=None, help="folder for tokenizer/lq_encoder .safetensors")
    return ap


BETAS = (0.9, 0.99)


def _checkpoint(
    run: Run, state: dict, vq: VQVAE, opt: torch.optim.Optimizer, lq_enc: LQEncoder | None = None
) -> None:
    ck = {"state": dict(state), "vq": vq.state_dict(), "hits_V": vq.quantize.hits_V, "opt": opt.state_dict()}
    if lq_enc is not None:
        ck["lq"] = lq_enc.state_dict()
    run.save(ck)


def train_vq(
    run: Run, args: argparse.Namespace, vq: VQVAE, opt: torch.optim.Optimizer, state: dict,
    images: list[np.ndarray], held_out: list[tuple[str, np.ndarray]],
) -> torch.optim.Optimizer:
    """Stage ``vq`` from ``state``'s step on: a plain auto-encoder for the first ``--warmup`` share, then
    k-means initialises the codebook (with fresh Adam moments, returned) and dead codes are restarted."""
    budget = Budget(args.vq_steps, args.vq_minutes, state["step"], state["elapsed"])
    vq.train()
    mean = Mean()
    budget.start_clock()
    while not budget.done():
        p, step = budget.progress(), budget.step
        quantize = p >= args.warmup
        if quantize and not state["kmeans_done"]:
            with torch.no_grad():
                f = vq.encoder(hq_batch(images, 4 * args.batch, args.seed + 7, 0))
                vq.quantize.kmeans_init(f)
            state["kmeans_done"] = True
            opt = torch.optim.Adam(vq.parameters(), lr=args.lr, betas=BETAS)  # fresh moments
            run.log({"event": "kmeans init", "step": step, "latents": int(f.numel() // f.shape[1])})
        lr = cosine_lr(opt, args.lr, p)
        terms = vq_step(vq, opt, hq_batch(images, args.batch, args.seed, step), quantize, args.ssim_weight,
                        args.vq_weight)
        mean.add(l1=terms["l1"], ssim_loss=terms["ssim_loss"], vq_loss=terms["vq_loss"])
        restarted = vq.quantize.restart_dead_codes() if quantize and (step + 1) % args.restart_every == 0 else 0
        budget.tick()
        state.update(budget.state_dict())
        if budget.step % 25 == 0:
            m = mean.pop()
            run.log({"stage": "vq", "step": budget.step, "l1": round(m["l1"], 5), "ssim_loss": round(m["ssim_loss"], 5),
                     "vq_loss": round(m["vq_loss"], 6), "lr": round(lr, 6), "restarted": restarted,
                     "elapsed_s": round(budget.elapsed), "threads": torch.get_num_threads()})
            run.poll_threads(budget.step)
        if budget.every(args.ckpt_every):
            _checkpoint(run, state, vq, opt)
        if quantize and budget.every(args.eval_every):
            vq.eval()
            r = recon_figures(vq, held_out)
            vq.train()
            run.log({"stage": "vq", "step": budget.step, "held_out": {k: round(v, 4) for k, v in r.items()}})
            budget.start_clock()  # evaluation is not training time
    return opt


def train_lq(
    run: Run, args: argparse.Namespace, vq: VQVAE, lq_enc: LQEncoder, opt: torch.optim.Optimizer, state: dict,
    images: list[np.ndarray], held_out: list[tuple[str, np.ndarray]],
) -> None:
    """Stage ``lq`` from ``state``'s step on: the frozen tokenizer's latent of the HQ crop is the target of the
    LQ encoder's latent of the degraded one (x2 and x4 in turn), plus L1 of the decoded quantized latent."""
    budget = Budget(args.lq_steps, args.lq_minutes, state["step"], state["elapsed"])
    lq_enc.train()
    mean = Mean()
    budget.start_clock()
    while not budget.done():
        step = budget.step
        lr = cosine_lr(opt, args.lq_lr, budget.progress())
        scale = (2, 4)[step % 2]
        lq, hq = make_batch(images, args.batch, 64 // scale, scale, args.seed + 1, step)
        with torch.no_grad():
            f_hq = vq.encoder(hq)
        f_lq = lq_enc(bicubic_up(lq, scale))
        fhat, _ = vq.quantize(f_lq)  # straight-through: the decoder's loss reaches the LQ encoder
        feat = F.mse_loss(f_lq, f_hq)
        pix = F.l1_loss(vq.decoder(fhat), hq)
        loss = args.feat_weight * feat + pix
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        mean.add(feat=feat.item(), pix=pix.item())
        budget.tick()
        state.update(budget.state_dict())
        if budget.step % 25 == 0:
            m = mean.pop()
            run.log({"stage": "lq", "step": budget.step, "feat_l2": round(m["feat"], 5), "pix_l1": round(m["pix"], 5),
                     "lr": round(lr, 6), "elapsed_s": round(budget.elapsed), "threads": torch.get_num_threads()})
            run.poll_threads(budget.step)
        if budget.every(args.ckpt_every):
            _checkpoint(run, state, vq, opt, lq_enc)
        if budget.every(args.eval_every):
            lq_enc.eval()
            r = {s: evaluate(_vq_lq_fn(vq, lq_enc, s), held_out, s, "medium") for s in (2, 4)}
            lq_enc.train()
            eval_medium = {s: {k: round(float(v), 4) for k, v in m.items()} for s, m in r.items()}
            run.log({"stage": "lq", "step": budget.step, "eval_medium": eval_medium})
            budget.start_clock()


def main(argv: list[str] | None = None) -> None:
    args = _parse().parse_args(argv)
    run = Run(args.out, args.threads, args.seed)
    cfg = TokenizerConfig(
        widths=tuple(int(v) for v in args.widths.split(",")),
        stem=args.stem,
        blocks=args.blocks,
        codebook_size=args.codebook_size,
        code_dim=args.code_dim,
        schedule=tuple(int(v) for v in args.schedule.split(",")),
    )
    vq = VQVAE(cfg)
    lq_enc: LQEncoder | None = None
    opt = torch.optim.Adam(vq.parameters(), lr=args.lr, betas=BETAS)
    state = {"stage": "vq", "step": 0, "elapsed": 0.0, "kmeans_done": False}
    if (ck := run.load()) is not None:
        state = ck["state"]
        vq.load_state_dict(ck["vq"])
        vq.quantize.hits_V.copy_(ck["hits_V"])
        if "lq" in ck:
            lq_enc = LQEncoder(cfg)
            lq_enc.load_state_dict(ck["lq"])
            opt = torch.optim.Adam(lq_enc.parameters(), lr=args.lq_lr, betas=BETAS)
        if state["stage"] != "done":
            opt.load_state_dict(ck["opt"])
        run.log({"event": "resume", **state})
    else:
        run.log({"event": "start", "params": sum(p.numel() for p in vq.parameters()), "config": str(cfg),
                 "args": {k: str(v) for k, v in vars(args).items()}})
    t0 = time.time()
    images = [img for _, img in train_images(args.data, max_side=args.max_side)]
    held_out = eval_images(args.data, max_side=args.eval_side)
    run.log({"event": "data", "train": len(images), "eval": len(held_out), "load_s": round(time.time() - t0, 1)})

    if state["stage"] == "vq":
        opt = train_vq(run, args, vq, opt, state, images, held_out)
        state.update(stage="lq" if args.lq_minutes > 0 else "done", vq_steps=state["step"],
                     vq_elapsed=state["elapsed"], step=0, elapsed=0.0)
        lq_enc = LQEncoder.from_vqvae(vq) if args.lq_minutes > 0 else None
        if lq_enc is not None:
            opt = torch.optim.Adam(lq_enc.parameters(), lr=args.lq_lr, betas=BETAS)
        _checkpoint(run, state, vq, opt, lq_enc)
    vq.eval().requires_grad_(False)
    if state["stage"] == "lq":
        assert lq_enc is not None
        train_lq(run, args, vq, lq_enc, opt, state, images, held_out)
        state.update(stage="done", lq_steps=state["step"], lq_elapsed=state["elapsed"])
        _checkpoint(run, state, vq, opt, lq_enc)
    if args.export is not None:
        args.export.mkdir(parents=True, exist_ok=True)
        meta = {"vq_steps": state.get("vq_steps"), "vq_train_seconds": round(state.get("vq_elapsed", 0))}
        save_weights(vq, args.export / "tokenizer.safetensors", meta=meta)
        if lq_enc is not None:
            meta.update(lq_steps=state.get("lq_steps"), lq_train_seconds=round(state.get("lq_elapsed", 0)))
            save_weights(lq_enc.eval(), args.export / "lq_encoder.safetensors", meta=meta)
        run.log({"event": "exported", "folder": str(args.export)})


def _vq_lq_fn(vq: VQVAE, lq_enc: LQEncoder, scale: int):
    """The ``vq-lq`` super-resolver as a plain function: bicubic up, LQ encoder, quantize, decode."""

    def sr(lq_BCHW: torch.Tensor) -> torch.Tensor:
        up = bicubic_up(lq_BCHW, scale)
        return vq.latent_to_frame(lq_enc.frame_to_latent(up), tuple(up.shape[-2:]))

    return sr


if __name__ == "__main__":
    main()
