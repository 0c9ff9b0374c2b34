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
import json
import math
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

__all__ = ["hq_batch", "vq_step", "recon_figures", "main"]

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


def _log(path: Path, record: dict) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


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


def main(argv: list[str] | None = None) -> None:
    args = _parse().parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log, ckpt_path, threads_file = args.out / "train.log", args.out / "ckpt.pt", args.out / "threads"
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
    opt = torch.optim.Adam(vq.parameters(), lr=args.lr, betas=(0.9, 0.99))
    state = {"stage": "vq", "step": 0, "elapsed": 0.0, "kmeans_done": False}
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        state = ck["state"]
        vq.load_state_dict(ck["vq"])
        vq.quantize.hits_V.copy_(ck["hits_V"])
        if "lq" in ck:
            lq_enc = LQEncoder(cfg)
            lq_enc.load_state_dict(ck["lq"])
            opt = torch.optim.Adam(lq_enc.parameters(), lr=args.lq_lr, betas=(0.9, 0.99))
        if state["stage"] != "done":
            opt.load_state_dict(ck["opt"])
        _log(log, {"event": "resume", **state})
    else:
        n_params = sum(p.numel() for p in vq.parameters())
        _log(
            log,
            {
                "event": "start",
                "params": n_params,
                "config": str(cfg),
                "args": {k: str(v) for k, v in vars(args).items()},
            },
        )

    t0 = time.time()
    images = [img for _, img in train_images(args.data, max_side=args.max_side)]
    held_out = eval_images(args.data, max_side=args.eval_side)
    _log(log, {"event": "data", "train": len(images), "eval": len(held_out), "load_s": round(time.time() - t0, 1)})

    def checkpoint() -> None:
        ck = {
            "state": dict(state),
            "vq": vq.state_dict(),
            "hits_V": vq.quantize.hits_V,
            "opt": opt.state_dict(),
        }
        if lq_enc is not None:
            ck["lq"] = lq_enc.state_dict()
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(ck, tmp)
        tmp.rename(ckpt_path)

    def progress(steps: int, minutes: float) -> float:
        by_time = state["elapsed"] / (minutes * 60) if minutes else 0.0
        return min(max(state["step"] / steps, by_time), 1.0)

    def set_lr(base: float, p: float) -> float:
        lr = base * 0.5 * (1 + math.cos(math.pi * p))
        for g in opt.param_groups:
            g["lr"] = lr
        return lr

    def poll_threads() -> None:
        if threads_file.exists():
            try:
                n = int(threads_file.read_text().strip())
            except ValueError:
                return
            if n != torch.get_num_threads():
                torch.set_num_threads(n)
                _log(log, {"event": "threads", "n": n, "step": state["step"]})

    # ---- stage 1: the tokenizer ----
    if state["stage"] == "vq":
        vq.train()
        t_last, acc = time.time(), np.zeros(4)
        while (p := progress(args.vq_steps, args.vq_minutes)) < 1.0:
            step = state["step"]
            quantize = p >= args.warmup
            if quantize and not state["kmeans_done"]:
                with torch.no_grad():
                    f = vq.encoder(hq_batch(images, 4 * args.batch, args.seed + 7, 0))
                    vq.quantize.kmeans_init(f)
                state["kmeans_done"] = True
                opt = torch.optim.Adam(vq.parameters(), lr=args.lr, betas=(0.9, 0.99))  # fresh moments
                _log(log, {"event": "kmeans init", "step": step, "latents": int(f.numel() // f.shape[1])})
            lr = set_lr(args.lr, p)
            x = hq_batch(images, args.batch, args.seed, step)
            losses = vq_step(vq, opt, x, quantize, args.ssim_weight, args.vq_weight)
            state["step"] = step + 1
            acc += np.array([1, losses["l1"], losses["ssim_loss"], losses["vq_loss"]])
            restarted = vq.quantize.restart_dead_codes() if quantize and state["step"] % args.restart_every == 0 else 0
            now = time.time()
            state["elapsed"], t_last = state["elapsed"] + (now - t_last), now
            if state["step"] % 25 == 0:
                n, l1m, lsm, vqm = acc
                _log(
                    log,
                    {
                        "stage": "vq",
                        "step": state["step"],
                        "l1": round(l1m / n, 5),
                        "ssim_loss": round(lsm / n, 5),
                        "vq_loss": round(vqm / n, 6),
                        "lr": round(lr, 6),
                        "restarted": restarted,
                        "elapsed_s": round(state["elapsed"]),
                        "threads": torch.get_num_threads(),
                    },
                )
                acc[:] = 0
                poll_threads()
            done = progress(args.vq_steps, args.vq_minutes) >= 1.0
            if state["step"] % args.ckpt_every == 0 or done:
                checkpoint()
            if quantize and (state["step"] % args.eval_every == 0 or done):
                vq.eval()
                r = recon_figures(vq, held_out)
                vq.train()
                _log(log, {"stage": "vq", "step": state["step"], "held_out": {k: round(v, 4) for k, v in r.items()}})
                t_last = time.time()  # evaluation is not training time
        state.update(
            stage="lq" if args.lq_minutes > 0 else "done",
            vq_steps=state["step"],
            vq_elapsed=state["elapsed"],
            step=0,
            elapsed=0.0,
        )
        lq_enc = LQEncoder.from_vqvae(vq) if args.lq_minutes > 0 else None
        if lq_enc is not None:
            opt = torch.optim.Adam(lq_enc.parameters(), lr=args.lq_lr, betas=(0.9, 0.99))
        checkpoint()

    # ---- stage 2: the degradation-robust LQ encoder ----
    vq.eval()
    for prm in vq.parameters():
        prm.requires_grad_(False)
    if state["stage"] == "lq":
        assert lq_enc is not None
        lq_enc.train()
        t_last, acc = time.time(), np.zeros(3)
        while (p := progress(args.lq_steps, args.lq_minutes)) < 1.0:
            step = state["step"]
            lr = set_lr(args.lq_lr, p)
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
            state["step"] = step + 1
            acc += np.array([1, feat.item(), pix.item()])
            now = time.time()
            state["elapsed"], t_last = state["elapsed"] + (now - t_last), now
            if state["step"] % 25 == 0:
                n, fm, pm = acc
                _log(
                    log,
                    {
                        "stage": "lq",
                        "step": state["step"],
                        "feat_l2": round(fm / n, 5),
                        "pix_l1": round(pm / n, 5),
                        "lr": round(lr, 6),
                        "elapsed_s": round(state["elapsed"]),
                        "threads": torch.get_num_threads(),
                    },
                )
                acc[:] = 0
                poll_threads()
            done = progress(args.lq_steps, args.lq_minutes) >= 1.0
            if state["step"] % args.ckpt_every == 0 or done:
                checkpoint()
            if state["step"] % args.eval_every == 0 or done:
                lq_enc.eval()
                r = {s: evaluate(_vq_lq_fn(vq, lq_enc, s), held_out, s, "medium") for s in (2, 4)}
                lq_enc.train()
                _log(
                    log,
                    {
                        "stage": "lq",
                        "step": state["step"],
                        "eval_medium": {s: {k: round(float(v), 4) for k, v in m.items()} for s, m in r.items()},
                    },
                )
                t_last = time.time()
        state.update(stage="done", lq_steps=state["step"], lq_elapsed=state["elapsed"])
        checkpoint()

    if args.export is not None:
        args.export.mkdir(parents=True, exist_ok=True)
        meta = {"vq_steps": state.get("vq_steps"), "vq_train_seconds": round(state.get("vq_elapsed", 0))}
        save_weights(vq, args.export / "tokenizer.safetensors", meta=meta)
        if lq_enc is not None:
            meta.update(lq_steps=state.get("lq_steps"), lq_train_seconds=round(state.get("lq_elapsed", 0)))
            save_weights(lq_enc.eval(), args.export / "lq_encoder.safetensors", meta=meta)
        _log(log, {"event": "exported", "folder": str(args.export)})


def _vq_lq_fn(vq: VQVAE, lq_enc: LQEncoder, scale: int):
    """The ``vq-lq`` super-resolver as a plain function: bicubic up, LQ encoder, quantize, decode."""

    def sr(lq_BCHW: torch.Tensor) -> torch.Tensor:
        up = bicubic_up(lq_BCHW, scale)
        return vq.latent_to_frame(lq_enc.frame_to_latent(up), tuple(up.shape[-2:]))

    return sr


if __name__ == "__main__":
    main()
