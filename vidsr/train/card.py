"""Measure a CNN weights file for its model card: ``python -m vidsr.train.card WEIGHTS``.

Held-out PSNR/SSIM (Y) of the model and of bicubic at every synthetic preset on the full-size evaluation
photographs, the gain over bicubic on every real source kind (``vidsr.degrade.sources``; each photograph a
short pan clip, the last, predicted frame scored: a second route beside ``bench/quality.py --real``), and
the time for one 480p (854x480) input frame; printed as JSON and Markdown tables. ``--json PATH`` writes the
JSON too, for ``docs/models/cnn_x{S}_measured.json`` beside the card (``docs/models/cnn_x{S}.md``): neither ships
in the wheel.
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
from vidsr.degrade.sources import SOURCE_KINDS
from vidsr.models.cnn import load_weights
from vidsr.train.evaluate import evaluate
from vidsr.train.source_data import evaluate_sources

__all__ = ["measure"]


def measure(weights: Path, data: Path, threads: int) -> dict:
    torch.set_num_threads(threads)
    net = load_weights(weights)
    scale = net.cfg.scale
    images = eval_images(data)
    vectors = (lambda x: batch_degradations(x)) if net.cfg.cond_dim else (lambda x: None)  # noqa: E731
    sr = lambda x: net(x, vectors(x)).clamp(0, 1)  # noqa: E731
    rows = {level: evaluate(sr, images, scale, level) for level in PRESETS}
    sources = evaluate_sources(sr, images, scale, SOURCE_KINDS)
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
        "real_source_gain_db": sources,
        "seconds_per_480p_frame": round(min(times), 3),
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m vidsr.train.card")
    ap.add_argument("weights", type=Path)
    ap.add_argument("--data", type=Path, default=Path("data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None,
                    help="write the JSON here too (the card's record: docs/models/cnn_x{S}_measured.json)")
    args = ap.parse_args()
    r = measure(args.weights, args.data, args.threads)
    print(json.dumps(r, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(r, indent=1) + "\n")
    print(f"\n| preset | cnn PSNR | cnn SSIM | bicubic PSNR | bicubic SSIM | gain dB |  (x{r['scale']}, Y)")
    print("| --- | --- | --- | --- | --- | --- |")
    for level, m in r["presets"].items():
        print(
            f"| {level} | {m['psnr']:.2f} | {m['ssim']:.4f} | {m['bicubic_psnr']:.2f} | "
            f"{m['bicubic_ssim']:.4f} | {m['gain_db']:+.2f} |"
        )
    kinds = r["real_source_gain_db"]
    print("\n| " + " | ".join(kinds) + " |  (gain over bicubic, dB, PSNR-Y)")
    print("|" + " --- |" * len(kinds))
    print("| " + " | ".join(f"{v:+.2f}" for v in kinds.values()) + " |")


if __name__ == "__main__":
    main()
