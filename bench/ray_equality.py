"""How close a lossy ``--ray`` output is to the single-process one, and what the encoder restarts cost.

Issue 10's goal: decoded-frame PSNR >= 50 dB between ``vidsr run ... --ray`` and ``vidsr run ...`` with the
same encoder settings. One run measures, side by side on one input:

- ``restart``: the default pipeline as shipped (its encoder restarts at every scene cut, so segments that
  start on scene cuts are the local run's encodes), local run against a Ray run;
- ``continuous``: the same with ``encode.restart_at_scene_cuts: false`` (one encoder through the cuts
  locally, a fresh one per segment on Ray: the behaviour before the restarts);
- ``fast``: the ``fast`` pipeline, which has no degrade-analysis, so its segments are cut on keyframes and
  its encoder never restarts;
- the restarts' price: each local output against the lossless encode of the same enhanced frames
  (PSNR-Y and file size, restart against continuous).

Both sides use ``encode.threads: 1``: x264 codes differently with another thread count, and a one-CPU
actor would otherwise use 1 thread against the local run's automatic count (``--threads 0`` shows that).
The SR model does not enter the comparison (both sides run the same model on the same frames), so the
default is ``bicubic`` for speed; ``--model cnn`` runs the shipped one.

    RAY_AUTH_MODE=disabled python bench/ray_equality.py [--input examples/sample.mp4] [--model bicubic]
        [--segment-seconds 2] [--json bench/results_ray_scaling.json --key lossy_equality_restarts]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import av  # noqa: E402
import numpy as np  # noqa: E402
import ray  # noqa: E402

from vidsr.config import PipelineConfig  # noqa: E402
from vidsr.media.segments import SegmentConfig  # noqa: E402
from vidsr.pipeline import configure, enhance  # noqa: E402
from workers.config import RayConfig  # noqa: E402
from workers.executor import run_on_ray  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def decoded(path: Path, fmt: str = "rgb24") -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def compare(a: Path, b: Path) -> dict[str, Any]:
    """Per-frame PSNR of the RGB24 decodes (identical frames count as 99 dB), its mean, its minimum and the
    pooled figure (one MSE over all frames), plus whether the video packets are byte-equal."""
    fa, fb = decoded(a), decoded(b)
    if len(fa) != len(fb):
        raise SystemExit(f"{a.name} has {len(fa)} frames, {b.name} {len(fb)}")
    mse = [float(np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)) for x, y in zip(fa, fb)]
    per = [99.0 if m == 0 else 10 * np.log10(255.0**2 / m) for m in mse]
    pooled = float(np.mean(mse))
    return {"frames": len(per), "mean_db": round(float(np.mean(per)), 2), "min_db": round(float(min(per)), 2),
            "pooled_db": 99.0 if pooled == 0 else round(10 * np.log10(255.0**2 / pooled), 2),
            "identical_frames": sum(m == 0 for m in mse), "packets_identical": packets(a) == packets(b)}


def psnr_y(reference: Path, test: Path) -> float:
    """Pooled PSNR of the luma planes: what the encoder spends its bits on."""
    ra, ta = decoded(reference, "gray"), decoded(test, "gray")
    mse = np.mean([np.mean((r.astype(np.float64) - t.astype(np.float64)) ** 2) for r, t in zip(ra, ta)])
    return round(float(10 * np.log10(255.0**2 / mse)), 3)


def pipeline(name: str, model: str, threads: int, restart: bool, crf: int = 18) -> PipelineConfig:
    config = configure(name, model=model, crf=crf, preset="medium", device="cpu")
    config.encode.threads = threads
    config.encode.restart_at_scene_cuts = restart
    return config


def case(src: Path, tmp: Path, name: str, config: PipelineConfig, seg: SegmentConfig) -> dict[str, Any]:
    local, joined = tmp / f"{name}-local.mp4", tmp / f"{name}-ray.mp4"
    report = enhance(src, local, pipeline=config)
    (ray_report,) = run_on_ray([(src, joined)], pipeline=config, ray_config=RayConfig(segment=seg))
    segments = ray_report["segments"]
    return {
        "pipeline": config.name, "encode_threads": config.encode.threads,
        "restart_at_scene_cuts": config.encode.restart_at_scene_cuts,
        "local_encoder_restarts": report["output_video"]["encoder_restarts"],
        "segments": len(segments), "segments_on_scene_cuts": sum(s["on_scene_cut"] for s in segments[1:]),
        "segment_starts_s": [s["start_s"] for s in segments],
        "local_bytes": local.stat().st_size,
        **compare(local, joined),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=REPO / "examples" / "sample.mp4")
    ap.add_argument("--model", default="bicubic")
    ap.add_argument("--segment-seconds", type=float, default=2.0)
    ap.add_argument("--threads", type=int, default=1, help="encode.threads on both sides (0: x264's own choice)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--key", default=None)
    args = ap.parse_args()
    seg = SegmentConfig(seconds=args.segment_seconds, min_seconds=args.segment_seconds / 2,
                        max_seconds=args.segment_seconds * 1.5)
    results: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv), "input": str(args.input), "model": args.model,
        "segments": f"{seg.seconds} s (min {seg.min_seconds}, max {seg.max_seconds})",
        "encoder": "libx264 crf 18 preset medium", "cases": {},
    }
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp_s:
            tmp = Path(tmp_s)
            for name, config in (
                ("restart", pipeline("default", args.model, args.threads, True)),
                ("continuous", pipeline("default", args.model, args.threads, False)),
                ("fast", pipeline("fast", args.model, args.threads, True)),
            ):
                results["cases"][name] = case(args.input, tmp, name, config, seg)
                print(name, json.dumps(results["cases"][name]), flush=True)
            lossless = tmp / "lossless.mp4"
            enhance(args.input, lossless, pipeline=pipeline("default", args.model, args.threads, False, crf=0))
            on, off = tmp / "restart-local.mp4", tmp / "continuous-local.mp4"
            results["restart_cost"] = {
                "what": "the local outputs against the lossless encode of the same enhanced frames",
                "psnr_y_restart": psnr_y(lossless, on), "psnr_y_continuous": psnr_y(lossless, off),
                "bytes_restart": on.stat().st_size, "bytes_continuous": off.stat().st_size,
            }
    finally:
        ray.shutdown()
    cost = results["restart_cost"]
    cost["psnr_y_change_db"] = round(cost["psnr_y_restart"] - cost["psnr_y_continuous"], 3)
    cost["bytes_change_pct"] = round(100 * (cost["bytes_restart"] / cost["bytes_continuous"] - 1), 2)
    print(json.dumps(results, indent=2))
    if args.json:
        kept = json.loads(args.json.read_text()) if args.json.exists() else {}
        args.json.write_text(json.dumps({**kept, args.key or "lossy_equality_restarts": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
