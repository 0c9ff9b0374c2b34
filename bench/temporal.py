"""The ``var`` model's token cache off and on (and temporal-smoothing off and on), in one run.

Clips cut from real photographs with known motion (a static shot with fresh sensor noise each frame, a
pan, a small object moving over a still background, a hard cut between two pans), degraded with the
seeded ``medium`` preset at x2, analysed by degrade-analysis (degradation vectors and scene ids, as in
``vidsr run``). Timed: the SR stage on those decoded, analysed frames (what the cache changes; decode,
analysis and encode are the same either way and are reported apart: analysis ms per frame), as wall and
as process CPU time (the CPU figure does not move with other jobs on the machine). Measured: PSNR-Y
against the ground-truth HQ frames, the share of windows skipped, the largest per-window error of the
cache-on output against the cache-off output (mean absolute 8-bit error of each 32 x 32 HQ block, and
the largest pixel error), and with temporal-smoothing after the SR stage: its time, PSNR and flicker
(``vidsr.metrics.temporal``: warping error between consecutive output frames over non-occluded pixels,
the ground truth's own subtracted; the cut clip measured within each shot). Also recorded: how much of
the LQ token pyramid sensor noise alone changes (why the cache's change test is on pixels).

    python bench/temporal.py                       # 10-frame clips, 96 x 128 HQ (48 x 64 LQ: 6 windows a frame)
    python bench/temporal.py --weights /tmp/st/var.safetensors   # another student file of the same architecture
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidsr.data import eval_images
from vidsr.data.clips import Clip, cut_clip, object_clip, pan_clip, static_noise_clip
from vidsr.degrade import degrade
from vidsr.frame import Frame
from vidsr.metrics import psnr_y
from vidsr.metrics.temporal import flicker, reference_motion
from vidsr.pipeline_files import load_pipeline
from vidsr.sr.tiling import TileGrid
from vidsr.sr.var_sr import STUDENT_PATH, VarSR
from vidsr.stages.analysis import DegradeAnalysis
from vidsr.stages.sr import SRParams, SRStage

SEED = 2026
SCALE = 2
LEVEL = "medium"
ROOT = Path(__file__).resolve().parent.parent


def _tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def clips(n: int, size: tuple[int, int]) -> list[Clip]:
    imgs = dict(eval_images())
    chelsea, astronaut = imgs["skimage__chelsea"], imgs["skimage__astronaut"]
    obj = max(8, size[0] // 4)  # a small object crossing the top of the frame: the lower windows stay still
    return [
        static_noise_clip(chelsea, n, size),
        pan_clip(imgs["skimage__motorcycle_left"], n, size, (1, 3)),
        object_clip(chelsea, astronaut[:256, 128:384], n, size, obj_size=obj,
                    velocity=(0, max(1, (size[1] - obj - 8) // max(n - 1, 1)))),
        cut_clip(imgs["skimage__rocket"], imgs["skimage__coffee"], n, size, cut_at=n // 2),
    ]


def _shots(clip: Clip) -> list[tuple[int, int]]:
    edges = [0, *clip.truth.get("cuts", []), len(clip)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b - a >= 2]


def _flicker(out: list[np.ndarray], hq: list[np.ndarray], motions: list) -> float:
    """The flicker the output adds over the ground truth's own, pair-weighted over the shots (8-bit luma)."""
    total = pairs = 0.0
    for (a, b), motion in motions:
        total += flicker(out[a:b], hq[a:b], motion=motion).excess * (b - a - 1)
        pairs += b - a - 1
    return total / pairs


def _window_errors(a: np.ndarray, b: np.ndarray, win: int = 32) -> np.ndarray:
    d = np.abs(a.astype(np.float32) - b.astype(np.float32))
    T, H, W, C = d.shape
    return d[:, : H // win * win, : W // win * win].reshape(T, H // win, win, W // win, win, C).mean((2, 4, 5))


@torch.inference_mode()
def token_noise(model: VarSR, frames: list[Frame]) -> list[float]:
    """Per scale, the share of the base windows' tokens (what the detail stage starts from) that differ
    between consecutive frames (every window)."""
    from vidsr.models.detail import prepare_windows

    lq = _tensor([f.image for f in frames])
    base = model._base(lq, None).clamp(0, 1)
    grid = TileGrid.make(lq.shape[2], lq.shape[3], model.window - 2 * model.margin, model.margin, model.margin)
    crops = torch.cat([model._base_crop(base, grid, i) for i in range(len(grid.boxes))])  # window-major
    idx = prepare_windows(model.vq, crops, model.predictor.cfg.predicted).idx_list
    T = len(frames)
    return [round(float((i.view(-1, T, *i.shape[1:]).diff(dim=1) != 0).float().mean()), 3) for i in idx]


def run(weights: Path, n: int, size: tuple[int, int]) -> dict[str, Any]:
    from vidsr.stages.temporal_smoothing import TemporalSmoothing, TemporalSmoothingParams

    pipe = load_pipeline("default")
    sr_cfg, sm_cfg = pipe.stage("sr"), pipe.stage("temporal-smoothing")
    knobs = {k: v for k, v in (asdict(sr_cfg.params) if sr_cfg else {}).items() if k.startswith("cache_")}
    sm_params = sm_cfg.params if sm_cfg else TemporalSmoothingParams()
    rows = []
    for clip in clips(n, size):
        hq = clip.frames
        lq = degrade(_tensor(hq), SCALE, LEVEL, seed=SEED)[0]
        images = [(x.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy() for x in lq]
        frames = [Frame(image=im, pts=i, time_base=Fraction(1, 25), index=i) for i, im in enumerate(images)]
        analysis = DegradeAnalysis("degrade-analysis")
        frames = list(analysis.process(iter(frames)))
        motions = [((a, b), reference_motion(hq[a:b])) for a, b in _shots(clip)]
        row: dict[str, Any] = {"clip": clip.name, "frames": n, "lq_size": list(images[0].shape[:2]),
                               "analysis_ms_per_frame": analysis.summary()["ms_per_frame"],
                               "scene_ids": [f.scene_id for f in frames]}
        outs = {}
        for side in ("off", "on"):
            model = VarSR(weights, "var", SCALE, torch.device("cpu"))
            params = SRParams(model="var", scale=SCALE, device="cpu", tile=0, batch_frames=4,
                              token_cache=side == "on", **knobs)
            stage = SRStage("sr", params, model=model)
            w0, c0 = time.perf_counter(), time.process_time()
            out = list(stage.process(iter(frames)))
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            smoother = TemporalSmoothing("temporal-smoothing", sm_params)
            s0 = time.process_time()
            smoothed = list(smoother.process(iter(out)))
            sm_cpu = time.process_time() - s0
            outs[side] = np.stack([f.image for f in out])
            res: dict[str, Any] = {
                "fps_wall": round(n / wall, 3), "fps_cpu": round(n / cpu, 3),
                "psnr_y": round(float(psnr_y(_tensor([f.image for f in out]), _tensor(hq), crop=SCALE).mean()), 4),
                "flicker_excess": round(_flicker([f.image for f in out], hq, motions), 4),
                "smoothing": {
                    "fps_cpu_sr_plus_smoothing": round(n / (cpu + sm_cpu), 3),
                    "ms_per_frame_cpu": round(1000 * sm_cpu / n, 2),
                    "psnr_y": round(float(psnr_y(_tensor([f.image for f in smoothed]), _tensor(hq),
                                                 crop=SCALE).mean()), 4),
                    "flicker_excess": round(_flicker([f.image for f in smoothed], hq, motions), 4),
                },
            }
            if side == "on":
                res["token_cache"] = stage.summary()["token_cache"]
                res["skipped_share"] = res["token_cache"]["skipped_share"]
                ch = model.cache.stats.changes if model.cache else []
                res["change_stats_of_compared_windows"] = {
                    "block_change_max": round(max((c for c, _ in ch), default=0.0), 2),
                    "motion_px_max": round(max((v for _, v in ch), default=0.0), 3),
                } if clip.name == "static_noise" else None
            else:
                res["lq_token_change_per_scale"] = token_noise(model, frames)
            row[side] = res
            print(f"  {clip.name:13s} cache {side:3s}: {res['fps_cpu']:.3f} fps (CPU), {res['fps_wall']:.3f} (wall), "
                  f"PSNR {res['psnr_y']:.3f}, flicker+ {res['flicker_excess']:.3f}"
                  + (f", skipped {res['skipped_share']:.0%}" if side == "on" else "")
                  + f" | +smoothing PSNR {res['smoothing']['psnr_y']:.3f} flicker+ "
                  f"{res['smoothing']['flicker_excess']:.3f}", flush=True)
        err = _window_errors(outs["on"], outs["off"])
        row["max_window_error_vs_off"] = round(float(err.max()), 3)
        row["max_pixel_error_vs_off"] = int(np.abs(outs["on"].astype(int) - outs["off"].astype(int)).max())
        row["speedup_cpu"] = round(row["on"]["fps_cpu"] / row["off"]["fps_cpu"], 3)
        row["speedup_wall"] = round(row["on"]["fps_wall"] / row["off"]["fps_wall"], 3)
        row["psnr_delta"] = round(row["on"]["psnr_y"] - row["off"]["psnr_y"], 4)
        if clip.truth.get("cuts"):
            c = clip.truth["cuts"][0]
            row["first_frame_after_cut_equals_off"] = bool(np.array_equal(outs["on"][c], outs["off"][c]))
        rows.append(row)
        print(f"  {clip.name:13s} x{row['speedup_cpu']:.2f} (CPU), PSNR {row['psnr_delta']:+.4f} dB, "
              f"max window error vs off {row['max_window_error_vs_off']:.3f}", flush=True)
    return {"rows": rows, "cache_params": knobs, "smoothing_params": sm_params.__dict__}


def goals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by = {r["clip"]: r for r in rows}
    s = by["static_noise"]
    return {
        "static_skipped_ge_80pct": s["on"]["skipped_share"] >= 0.8,
        "static_psnr_within_0.1dB": abs(s["psnr_delta"]) <= 0.1,
        "static_fps_ge_3x_cpu": s["speedup_cpu"] >= 3.0,
        "static_fps_ge_3x_wall": s["speedup_wall"] >= 3.0,
        "pan_object_max_window_error_vs_off": {k: by[k]["max_window_error_vs_off"] for k in ("pan", "object")},
        "cut_first_frame_exact": by["cut"].get("first_frame_after_cut_equals_off"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", type=Path, default=STUDENT_PATH)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--size", default="96x128", help="HQ height x width")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_temporal.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    h, w = (int(v) for v in args.size.split("x"))
    t0 = time.time()
    print(f"token cache off/on, var x{SCALE}, {LEVEL} degradation, {args.frames} frames of {h}x{w} HQ:", flush=True)
    res = run(args.weights, args.frames, (h, w))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    report = {
        "command": " ".join(["python bench/temporal.py", *sys.argv[1:]]),
        "commit": commit.stdout.strip() or "unknown",
        "weights": str(args.weights.relative_to(ROOT) if args.weights.is_relative_to(ROOT) else args.weights),
        "machine": f"{platform.machine()}, {platform.system()}, torch threads 1",
        "timed": "SR stage on decoded, analysed frames (decode/analysis/encode excluded; analysis ms per frame given)",
        "degradation": {"level": LEVEL, "scale": SCALE, "seed": SEED},
        "goals": goals(res["rows"]),
        **res,
        "seconds": round(time.time() - t0, 1),
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["goals"], indent=1))
    print(f"wrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
