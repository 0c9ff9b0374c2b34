"""Train the compact CNN peer: ``python -m vidsr.train.cnn --scale 2 --out runs/cnn_x2 ...``.

Random crops of the training photographs (scale jitter, flips, rot90) are degraded on the fly by the
random second-order sampler; L1 loss, Adam, cosine learning rate. Resumable: ``OUT/ckpt.pt`` is written
every ``--ckpt-every`` steps and picked up by the same command. Batches depend only on (seed, step), so
a resumed run sees the same data as an uninterrupted one. Loss and held-out PSNR go to ``OUT/train.log``.
On a shared CPU, ``--minutes`` fits the learning-rate schedule to a wall-time budget instead of a step
count, so the run always ends annealed.

``--cond``: the net is conditioned on degrade-analysis's vector. Then each pair of crops is cut from one
degraded region of ``--region`` LQ pixels a side, and the vector is measured on that whole region with
the inference-time estimators (on its 8-bit values), as the analysis stage measures a frame: the net
learns from the same estimates it will be given, not from the true parameters.
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

from vidsr.analysis.batch import batch_degradations
from vidsr.data import eval_images, train_images
from vidsr.degrade import degrade, preset, sample_params
from vidsr.models.cnn import CNNConfig, CompactSR, save_weights
from vidsr.train.evaluate import evaluate
from vidsr.train.source_data import PoolSpec, SourcePool, evaluate_sources

__all__ = ["make_batch", "make_conditioned_batch", "main"]


def _random_hq_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> torch.Tensor:
    """A ``3 x size x size`` crop: scale jitter (a region up to 3x larger, shrunk), flips, rot90."""
    H, W = img.shape[:2]
    zoom = float(rng.uniform(1.0, 3.0)) if rng.random() < 0.8 else 1.0
    region = min(int(size * zoom), H, W)
    y, x = int(rng.integers(0, H - region + 1)), int(rng.integers(0, W - region + 1))
    crop = torch.from_numpy(np.ascontiguousarray(img[y : y + region, x : x + region])).permute(2, 0, 1)
    crop = crop[None].float() / 255.0
    if region != size:
        crop = F.interpolate(crop, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    crop = crop.clamp(0, 1)[0]
    if rng.random() < 0.5:
        crop = crop.flip(-1)
    if rng.random() < 0.5:
        crop = crop.flip(-2)
    return torch.rot90(crop, int(rng.integers(0, 4)), dims=(-2, -1))


def _degraded_crop(
    images: list[np.ndarray], size: int, scale: int, rng: np.random.Generator, degradation: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """(LQ, HQ ``1 x 3 x size x size``): a random crop of a random photograph, degraded. Photographs are
    picked in proportion to their area, so every crop position is equally likely."""
    areas = np.array([im.shape[0] * im.shape[1] for im in images], dtype=np.float64)
    img = images[int(rng.choice(len(images), p=areas / areas.sum()))]
    hq = _random_hq_crop(img, size, rng)[None]
    params = (
        sample_params(scale, rng)
        if degradation == "sampled"
        else preset(degradation, scale, seed=int(rng.integers(2**31)))
    )
    lq, _ = degrade(hq, scale, params)
    return lq, hq


def make_batch(
    images: list[np.ndarray],
    batch: int,
    patch: int,
    scale: int,
    seed: int,
    step: int,
    degradation: str = "sampled",
) -> tuple[torch.Tensor, torch.Tensor]:
    """(LQ ``B x 3 x patch x patch``, HQ ``B x 3 x s*patch x s*patch``), a pure function of (seed, step).

    ``degradation``: ``sampled`` draws each crop's degradation from the random second-order sampler;
    a preset name (``medium``...) applies that fixed preset with fresh noise (a diagnostic: how much
    of the gap to a matched model is the blind training distribution).
    """
    rng = np.random.default_rng([seed, step])
    lqs, hqs = [], []
    for _ in range(batch):
        lq, hq = _degraded_crop(images, patch * scale, scale, rng, degradation)
        lqs.append(lq)
        hqs.append(hq)
    return torch.cat(lqs), torch.cat(hqs)


def make_conditioned_batch(
    images: list[np.ndarray],
    batch: int,
    patch: int,
    scale: int,
    seed: int,
    step: int,
    degradation: str = "sampled",
    region: int = 128,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(LQ, HQ, degradation vectors ``B x 4``): two crops per degraded ``region`` x ``region`` LQ area."""
    rng = np.random.default_rng([seed, 2, step])
    lqs, hqs, degs = [], [], []
    for _ in range((batch + 1) // 2):
        lq, hq = _degraded_crop(images, region * scale, scale, rng, degradation)
        deg = batch_degradations(lq)
        for _ in range(2):
            y, x = (int(v) for v in rng.integers(0, region - patch + 1, size=2))
            lqs.append(lq[..., y : y + patch, x : x + patch])
            hqs.append(hq[..., y * scale : (y + patch) * scale, x * scale : (x + patch) * scale])
            degs.append(deg)
    return torch.cat(lqs)[:batch], torch.cat(hqs)[:batch], torch.cat(degs)[:batch]


def _log(path: Path, record: dict) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.cnn", description=__doc__)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--out", type=Path, default=Path("runs/cnn_x2"))
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument(
        "--minutes",
        type=float,
        default=0,
        help="training-time budget: the cosine schedule follows max(step/steps, time/budget); 0 = steps only",
    )
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--patch", type=int, default=48, help="LQ patch side")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--channels", type=int, default=48)
    ap.add_argument("--blocks", type=int, default=6)
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from a checkpoint (ckpt.pt of a run of yours: it is unpickled, so trust it) or a shipped "
        ".safetensors file (safe)",
    )
    ap.add_argument(
        "--train-degradation",
        default="sampled",
        choices=("sampled", "light", "medium", "heavy"),
        help="sampled: the random second-order sampler (shipped weights); a preset: that preset, fresh noise",
    )
    ap.add_argument(
        "--sources",
        default="synthetic",
        choices=("synthetic", "real"),
        help="real: pairs made as real sources are (real scalers and encoders; vidsr.train.source_data), "
        "from a pool refreshed while training; synthetic: the on-the-fly second-order chain",
    )
    ap.add_argument("--pool", type=int, default=3000, help="with --sources real: pool entries")
    ap.add_argument("--refresh-every", type=int, default=200, help="with --sources real: steps between refreshes")
    ap.add_argument("--refresh", type=float, default=0.1, help="with --sources real: share of the pool renewed")
    ap.add_argument("--cond", action="store_true", help="condition the net on degrade-analysis's vector")
    ap.add_argument("--region", type=int, default=128, help="with --cond: LQ side of each degraded region")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--export", type=Path, default=None, help="write fp16 safetensors here when done")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (checkpointed) after this long; 0 = never")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / "train.log"
    cfg = CNNConfig(scale=args.scale, channels=args.channels, blocks=args.blocks, cond_dim=4 if args.cond else 0)
    model = CompactSR(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    step, elapsed = 0, 0.0
    ckpt_path = args.out / "ckpt.pt"
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed = ck["step"], ck["elapsed"]
        _log(log, {"event": "resume", "step": step})
    elif args.init is not None:
        if args.init.suffix == ".safetensors":
            from safetensors.torch import load_file

            src = {k: v.float() for k, v in load_file(str(args.init)).items()}
        else:
            src = torch.load(args.init, map_location="cpu", weights_only=True)["model"]
        own = model.state_dict()
        # everything but the scale-specific tail transfers
        model.load_state_dict({k: v for k, v in src.items() if k in own and own[k].shape == v.shape}, strict=False)
        # residual blocks the source lacks (a deeper net) start as identities, so the start is the source net
        for i, block in enumerate(model.body):
            if f"body.{i}.conv2.weight" not in src:
                torch.nn.init.zeros_(block.conv2.weight)
                torch.nn.init.zeros_(block.conv2.bias)
        _log(log, {"event": "init", "from": str(args.init)})
    else:
        _log(log, {"event": "start", "args": {k: str(v) for k, v in vars(args).items()}})

    t0 = time.time()
    images = [img for _, img in train_images(args.data, max_side=2560)]
    held_out = eval_images(args.data, max_side=512)
    pool = None
    if args.sources == "real":
        pool = SourcePool(images, PoolSpec(args.scale, size=args.pool), args.seed)
        pool.refresh(args.refresh, step // args.refresh_every)  # a resumed run continues from a fresh pool
    _log(
        log,
        {"event": "data", "train": len(images), "eval": len(held_out), "load_s": round(time.time() - t0, 1)},
    )

    def checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, tmp)
        tmp.rename(ckpt_path)

    def run_eval() -> None:
        model.eval()
        sr = lambda x: model(x, batch_degradations(x) if args.cond else None)  # noqa: E731
        if pool is not None:
            r = evaluate_sources(sr, held_out, args.scale, ("clean", "x264-crf28", "camera"))
            model.train()
            _log(log, {"step": step, "eval_sources_gain_db": r})
            return
        r = evaluate(sr, held_out, args.scale)
        model.train()
        _log(log, {"step": step, "eval_medium": {k: round(float(v), 4) for k, v in r.items()}})

    model.train()
    t_start, loss_acc, n_acc = time.time(), 0.0, 0

    def progress() -> float:
        """Where the cosine schedule is: by steps on a quiet machine, by time on a shared one."""
        by_time = elapsed / (args.minutes * 60) if args.minutes else 0.0
        return min(max(step / args.steps, by_time), 1.0)

    while progress() < 1.0:
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * progress()))
        for g in opt.param_groups:
            g["lr"] = lr
        if pool is not None:
            if step and step % args.refresh_every == 0:
                pool.refresh(args.refresh, step // args.refresh_every)
            lq, hq, deg = pool.batch(args.batch, args.patch, step)
            deg = deg if args.cond else None
        elif args.cond:
            lq, hq, deg = make_conditioned_batch(
                images, args.batch, args.patch, args.scale, args.seed, step, args.train_degradation, args.region
            )
        else:
            lq, hq = make_batch(images, args.batch, args.patch, args.scale, args.seed, step, args.train_degradation)
            deg = None
        loss = F.l1_loss(model(lq, deg), hq)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_acc, n_acc = loss_acc + loss.item(), n_acc + 1
        now = time.time()
        elapsed, t_start = elapsed + (now - t_start), now
        if step % 25 == 0:
            _log(log, {"step": step, "loss": round(loss_acc / n_acc, 5), "lr": lr, "elapsed_s": round(elapsed)})
            loss_acc, n_acc = 0.0, 0
        if step % args.ckpt_every == 0 or progress() >= 1.0:
            checkpoint()
        if step % args.eval_every == 0 or progress() >= 1.0:
            run_eval()
            t_start = time.time()  # evaluation is not training time
        if args.max_minutes and (time.time() - t0) > args.max_minutes * 60:
            checkpoint()
            _log(log, {"event": "time limit", "step": step})
            break
    if args.export is not None:
        model.eval()
        save_weights(model, args.export, meta={"steps": step, "train_seconds": round(elapsed)})
        _log(log, {"event": "exported", "path": str(args.export), "step": step})


if __name__ == "__main__":
    main()
