"""Measure the tokenizer weights for their model card: ``python -m vidsr.train.tokenizer_card [FOLDER]``.

Held-out reconstruction PSNR/SSIM (Y) after each scale of the schedule (fidelity against token count),
codebook usage and perplexity, encode + decode seconds per megapixel, and ``vq-lq`` against bicubic
(and the CNN peer where its weights ship) at x2 and x4 on the medium preset. Printed as JSON, for the card
in ``docs/models/tokenizer.md`` (FOLDER holds the weights: ``vidsr/weights`` by default).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vidsr.data import eval_images
from vidsr.models.vqvae import VQVAE, load_lq_encoder, load_vqvae
from vidsr.sr.registry import available_models, build_model
from vidsr.train.evaluate import evaluate, psnr_y, to_tensor
from vidsr.train.tokenizer import _vq_lq_fn, recon_figures

__all__ = ["measure"]


@torch.inference_mode()
def per_scale_psnr(vq: VQVAE, images: list[tuple[str, np.ndarray]]) -> list[dict[str, float]]:
    """Mean held-out PSNR/SSIM when decoding ``fhat`` after scale k (k = 1..K) and the tokens so far."""
    rows = []
    for _, img in images:
        x = to_tensor(img)
        pyramid = vq.quantize.tokens_to_fhat_pyramid(vq.frame_to_tokens(x))
        rows.append([(psnr_y(vq.fhat_to_frame(f, tuple(x.shape[-2:])), x, 4),) for f in pyramid])
    out = []
    for k, hw in enumerate(vq.token_hws(480, 854)):
        tokens = sum(a * b for a, b in vq.token_hws(480, 854)[: k + 1])
        out.append(
            {
                "scale": k + 1,
                "grid_480p": list(hw),
                "tokens_480p": tokens,
                "psnr": round(float(np.mean([r[k][0] for r in rows])), 3),
            }
        )
    return out


@torch.inference_mode()
def smaller_codebooks(vq: VQVAE, images: list[tuple[str, np.ndarray]], sizes: tuple[int, ...]) -> dict[int, float]:
    """Held-out PSNR when only the ``n`` most used codes may be chosen: what a smaller V would keep
    (an upper bound for V = n without retraining, measured on the same encoder and decoder)."""
    hits = torch.zeros(vq.cfg.codebook_size)
    for _, img in images:
        for idx in vq.frame_to_tokens(to_tensor(img)):
            hits += torch.bincount(idx.flatten(), minlength=hits.numel()).float()
    order = hits.argsort(descending=True)
    weight = vq.quantize.codebook.weight.data
    saved = weight.clone()
    out = {}
    for n in sizes:
        weight.copy_(saved)
        weight[order[n:]] = 1e4  # never the nearest
        out[n] = round(
            float(np.mean([psnr_y(vq.frame_to_frame(x), x, 4) for x in (to_tensor(i) for _, i in images)])), 3
        )
    weight.copy_(saved)
    return out


@torch.inference_mode()
def seconds_per_megapixel(vq: VQVAE, threads: int) -> float:
    """Encode + quantize + decode of one 854x480 frame, best of 3, per megapixel."""
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, 480, 854)
    vq.frame_to_frame(x[..., :64, :64])
    times = []
    for _ in range(3):
        t = time.perf_counter()
        vq.frame_to_frame(x)
        times.append(time.perf_counter() - t)
    return min(times) / (480 * 854 / 1e6)


def measure(folder: Path, data: Path, threads: int, max_side: int, parts: tuple[str, ...] = ("vq", "sr")) -> dict:
    """``parts``: "vq" (the tokenizer's own figures) and/or "sr" (``vq-lq`` against its peers)."""
    torch.set_num_threads(threads)
    vq = load_vqvae(folder / "tokenizer.safetensors")
    images = eval_images(data, max_side=max_side)
    r = {
        "config": str(vq.cfg),
        "params": sum(p.numel() for p in vq.parameters()),
        "eval_images": [n for n, _ in images],
        "eval_max_side": max_side,
        "threads": threads,
    }
    if "vq" in parts:
        r["recon"] = {k: round(v, 4) for k, v in recon_figures(vq, images).items()}
        r["per_scale"] = per_scale_psnr(vq, images)
        r["smaller_codebooks_psnr"] = smaller_codebooks(vq, images, (64, 256, vq.cfg.codebook_size // 2))
        r["seconds_per_megapixel"] = round(seconds_per_megapixel(vq, threads), 3)
        torch.set_num_threads(threads)
    lq_path = folder / "lq_encoder.safetensors"
    if "sr" in parts and lq_path.exists():
        lq = load_lq_encoder(lq_path)
        peers = {"vq-lq": lambda s: _vq_lq_fn(vq, lq, s)}
        cnn_scales = available_models().get("cnn", ())
        r["sr_medium"] = {}
        for s in (2, 4):
            row = {k: round(float(v), 4) for k, v in evaluate(peers["vq-lq"](s), images, s, "medium").items()}
            if s in cnn_scales:
                cnn = build_model("cnn", s, torch.device("cpu"))
                row["cnn_psnr"] = round(float(evaluate(cnn, images, s, "medium")["psnr"]), 4)
            r["sr_medium"][f"x{s}"] = row
    return r


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.tokenizer_card")
    ap.add_argument("folder", type=Path, nargs="?", default=Path(__file__).resolve().parent.parent / "weights")
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-side", type=int, default=512, help="held-out photographs shrunk to this side")
    ap.add_argument("--parts", default="vq,sr", help="vq: reconstruction figures; sr: vq-lq against peers")
    args = ap.parse_args()
    parts = tuple(args.parts.split(","))
    print(json.dumps(measure(args.folder, args.data, args.threads, args.max_side, parts), indent=1))


if __name__ == "__main__":
    main()
