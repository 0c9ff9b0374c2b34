"""Train the compact CNN peer: ``python -m vidsr.train.cnn --scale 2 --out runs/cnn_x2 ...``.

Random crops of the training photographs (scale jitter, flips, rot90) are degraded on the fly by the
random second-order sampler; L1 loss, Adam, cosine learning rate. Resumable: ``OUT/ckpt.pt`` is written
every ``--ckpt-every`` steps and picked up by the same command. Batches depend only on (seed, step), so
a resumed run sees the same data as an uninterrupted one. Loss and held-out PSNR go to ``OUT/train.log``;
a number written to ``OUT/threads`` changes the thread count of the running job (``vidsr.train.loop``).
On a shared CPU, ``--minutes`` fits the learning-rate schedule to a wall-time budget instead of a step
count, so the run always ends annealed.

``--cond``: the net is conditioned on degrade-analysis's vector. Then each pair of crops is cut from one
degraded region of ``--region`` LQ pixels a side, and the vector is measured on that whole region with
the inference-time estimators (on its 8-bit values), as the analysis stage measures a frame: the net
learns from the same estimates it will be given, not from the true parameters.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis.batch import batch_degradations
from vidsr.analysis.estimators import DEGRADATION_FIELDS
from vidsr.data import eval_images, train_footage, train_images
from vidsr.degrade import degrade, preset, sample_params
from vidsr.models.cnn import CNNConfig, CompactSR, save_weights
from vidsr.train.evaluate import evaluate
from vidsr.train.loop import Budget, Mean, Run, cosine_lr
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
    """(LQ, HQ, degradation vectors ``B x F``): two crops per degraded ``region`` x ``region`` LQ area."""
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


def _parse() -> argparse.ArgumentParser:
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
    ap.add_argument("--cond-fields", type=int, default=4, choices=range(1, len(DEGRADATION_FIELDS) + 1),
                    help="with --cond: how many of its fields (DEGRADATION_FIELDS order; 5 adds detail_loss)")
    ap.add_argument("--region", type=int, default=128, help="with --cond: LQ side of each degraded region")
    ap.add_argument("--footage-share", type=float, default=0.0,
                    help="with --sources real: share of the pool's clips cut from the training footage of --data")
    ap.add_argument("--warmup", type=int, default=0, help="steps of linear learning-rate ramp (a run from --init)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--export", type=Path, default=None, help="write fp16 safetensors here when done")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (checkpointed) after this long; 0 = never")
    return ap


def _init_from(model: CompactSR, path: Path) -> None:
    """Start from another net: everything but the scale-specific tail transfers; residual blocks the source
    lacks (a deeper net) start as identities, so the start is exactly the source net."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        src = {k: v.float() for k, v in load_file(str(path)).items()}
    else:
        src = torch.load(path, map_location="cpu", weights_only=True)["model"]
    own = model.state_dict()
    film_in = src.get("film.0.weight")
    if film_in is not None and "film.0.weight" in own and film_in.shape[1] < own["film.0.weight"].shape[1]:
        # a field appended to the vector: its column starts at zero, so the start is exactly the source net
        wider = torch.zeros_like(own["film.0.weight"])
        wider[:, : film_in.shape[1]] = film_in
        src = {**src, "film.0.weight": wider}
    model.load_state_dict({k: v for k, v in src.items() if k in own and own[k].shape == v.shape}, strict=False)
    for i, block in enumerate(model.body):
        if f"body.{i}.conv2.weight" not in src:
            torch.nn.init.zeros_(block.conv2.weight)
            torch.nn.init.zeros_(block.conv2.bias)


Batches = Callable[[int], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]


def _batches(args: argparse.Namespace, images: list[np.ndarray], pool: SourcePool | None) -> Batches:
    """``step -> (LQ, HQ, vector or None)``: from the pool of real sources (renewed every ``--refresh-every``
    steps, so call it once per step, in order), or degraded on the fly as a pure function of (seed, step)."""

    def batch(step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if pool is not None:
            if step and step % args.refresh_every == 0:
                pool.refresh(args.refresh, step // args.refresh_every)
            lq, hq, deg = pool.batch(args.batch, args.patch, step)
            return lq, hq, deg if args.cond else None
        if args.cond:
            return make_conditioned_batch(
                images, args.batch, args.patch, args.scale, args.seed, step, args.train_degradation, args.region
            )
        lq, hq = make_batch(images, args.batch, args.patch, args.scale, args.seed, step, args.train_degradation)
        return lq, hq, None

    return batch


def _held_out(
    model: CompactSR, args: argparse.Namespace, held_out: list[tuple[str, np.ndarray]], real: bool
) -> dict:
    """The log record of an evaluation: gain over bicubic on real source kinds, or the medium preset's figures."""
    model.eval()
    sr = lambda x: model(x, batch_degradations(x) if args.cond else None)  # noqa: E731
    if real:
        r = evaluate_sources(sr, held_out, args.scale, ("clean", "x264-crf28", "camera"))
        model.train()
        return {"eval_sources_gain_db": r}
    r = evaluate(sr, held_out, args.scale)
    model.train()
    return {"eval_medium": {k: round(float(v), 4) for k, v in r.items()}}


def main(argv: list[str] | None = None) -> None:
    args = _parse().parse_args(argv)
    run = Run(args.out, args.threads, args.seed)
    cond_dim = args.cond_fields if args.cond else 0
    model = CompactSR(CNNConfig(scale=args.scale, channels=args.channels, blocks=args.blocks, cond_dim=cond_dim))
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.99))
    budget = Budget(args.steps, args.minutes)
    if (ck := run.load()) is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        budget.load_state_dict(ck)
        run.log({"event": "resume", "step": budget.step})
    elif args.init is not None:
        _init_from(model, args.init)
        run.log({"event": "init", "from": str(args.init)})
    else:
        run.log({"event": "start", "args": {k: str(v) for k, v in vars(args).items()}})

    t0 = time.time()
    images = [img for _, img in train_images(args.data, max_side=2560)]
    held_out = eval_images(args.data, max_side=512)
    pool = None
    if args.sources == "real":
        footage = [runs for _, runs in train_footage(args.data)] if args.footage_share else None
        spec = PoolSpec(args.scale, size=args.pool, footage_share=args.footage_share)
        pool = SourcePool(images, spec, args.seed, footage)
        pool.refresh(args.refresh, budget.step // args.refresh_every)  # a resumed run continues from a fresh pool
    run.log({"event": "data", "train": len(images), "eval": len(held_out), "load_s": round(time.time() - t0, 1)})
    batch = _batches(args, images, pool)

    def checkpoint() -> None:
        run.save({"model": model.state_dict(), "opt": opt.state_dict(), **budget.state_dict()})

    model.train()
    mean = Mean()
    budget.start_clock()
    while not budget.done():
        lr = cosine_lr(opt, args.lr, budget.progress(), args.warmup, budget.step)
        lq, hq, deg = batch(budget.step)
        loss = F.l1_loss(model(lq, deg), hq)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        mean.add(loss=loss.item())
        budget.tick()
        if budget.step % 25 == 0:
            run.log({"step": budget.step, "loss": round(mean.pop()["loss"], 5), "lr": lr,
                     "elapsed_s": round(budget.elapsed)})
            run.poll_threads(budget.step)
        if budget.every(args.ckpt_every):
            checkpoint()
        if budget.every(args.eval_every):
            run.log({"step": budget.step, **_held_out(model, args, held_out, pool is not None)})
            budget.start_clock()  # evaluation is not training time
        if args.max_minutes and (time.time() - t0) > args.max_minutes * 60:
            checkpoint()
            run.log({"event": "time limit", "step": budget.step})
            break
    if args.export is not None:
        model.eval()
        save_weights(model, args.export, meta={"steps": budget.step, "train_seconds": round(budget.elapsed)})
        run.log({"event": "exported", "path": str(args.export), "step": budget.step})


if __name__ == "__main__":
    main()
