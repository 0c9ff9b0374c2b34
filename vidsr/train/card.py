"""Measure a CNN weights file for its model card: ``python -m vidsr.train.card WEIGHTS``.

Held-out PSNR/SSIM (Y) of the model and of bicubic at every preset on the full-size evaluation
photographs, and the time for one 480p (854x480) input frame; printed as JSON and a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vidsr.analysis.batch import batch_degradations
from vidsr.data import eval_images
from vidsr.degrade import PRESETS
from vidsr.models.cnn import load_weights
from vidsr.train.evaluate import evaluate

__all__ = ["measure"]


def measure(weights: Path, data: Path, threads: int) -> dict:
    torch.set_num_threads(threads)
    net = load_weights(weights)
    scale = net.cfg.scale
    images = eval_images(data)
    vectors = (lambda x: batch_degradations(x)) if net.cfg.cond_dim else (lambda x: None)  # noqa: E731
    sr = lambda x: net(x, vectors(x)).clamp(0, 1)  # noqa: E731
    rows = {level: evaluate(sr, images, scale, level) for level in PRESETS}
    x = torch.rand(1, 3, 480, 854)
    with torch.inference_mode():
        sr(x[..., :64, :64])
        times = []
        for _ in range(3):
            t = time.perf_counter()
            sr(x)  # with the vector measured, as the model does when called directly
            times.append(time.perf_counter() - t)
    return {
        "weights": str(weights),
        "scale": scale,
        "params": sum(p.numel() for p in net.parameters()),
        "eval_images": [n for n, _ in images],
        "presets": {k: {m: round(float(v), 4) for m, v in r.items()} for k, r in rows.items()},
        "seconds_per_480p_frame": round(min(times), 3),
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.card")
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    r = measure(args.weights, args.data, args.threads)
    print(json.dumps(r, indent=1))
    print(f"\n| preset | cnn PSNR | cnn SSIM | bicubic PSNR | bicubic SSIM | gain dB |  (x{r['scale']}, Y)")
    print("| --- | --- | --- | --- | --- | --- |")
    for level, m in r["presets"].items():
        print(
            f"| {level} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['bicubic_psnr']:.2f} | "
            f"{m['bicubic_ssim']:.4f} | {m['gain_db']:+.2f} |"
        )


if __name__ == "__main__":
    main()
