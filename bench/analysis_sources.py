"""Does degrade-analysis's vector tell real source kinds apart? Measured against the known truth.

Held-out photographs (16, spread over the set) are each made into a short pan clip (480x360 at most)
and into each real source kind (``vidsr.degrade.sources``: clean, x264/x265/VP9/AV1 at everyday CRFs,
camera-like noise); the vector is measured on the last (predicted) frame, as the analysis stage
measures a frame. Per field and kind: mean and spread over the pictures; per pair of kinds that differ
in one known factor: how often the field moves the right way on the same picture, and the separation
(difference of means over the pooled spread: below 1 the field cannot tell the two kinds apart from one
frame of an unknown picture).

    python bench/analysis_sources.py            # writes bench/results_analysis_sources.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from vidsr.analysis.estimators import DEGRADATION_FIELDS, degradation_vector
from vidsr.data import eval_images
from vidsr.degrade.sources import SOURCE_KINDS, make_source, pan_clip, source_kind

# (field, kind with less of the factor, kind with more of it): what the truth says should move
CHECKS = (
    ("noise", "clean", "camera"),
    ("blockiness", "clean", "x264-crf28"),
    ("blockiness", "x264-crf23", "x264-crf28"),
    ("ringing", "clean", "x264-crf28"),
    ("blur", "clean", "x264-crf28"),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--pictures", type=int, default=16, help="held-out photographs used (spread over the set)")
    ap.add_argument("--out", type=Path, default=Path("bench/results_analysis_sources.json"))
    args = ap.parse_args()
    t0 = time.time()
    data = args.data if (Path(args.data) / "manifest.json").exists() else None
    photos = [(n, im) for n, im in eval_images(data, max_side=1024) if min(im.shape[:2]) >= 128]
    photos = photos[:: max(1, len(photos) // args.pictures)][: args.pictures]
    vec = {k: [] for k in SOURCE_KINDS}
    for i, (_, img) in enumerate(photos):
        h, w = min(img.shape[0], 360) // 4 * 4, min(img.shape[1], 480) // 4 * 4
        clip = pan_clip(img, (h, w), 3, np.random.default_rng(i))
        for k in SOURCE_KINDS:
            vec[k].append(degradation_vector(make_source(clip, source_kind(k, 2, seed=i))[-1]).tolist())
    arr = {k: np.array(v) for k, v in vec.items()}
    table = {k: {f: {"mean": round(float(a[:, j].mean()), 4), "std": round(float(a[:, j].std()), 4)}
                 for j, f in enumerate(DEGRADATION_FIELDS)} for k, a in arr.items()}
    checks = []
    for field, lo, hi in CHECKS:
        j = DEGRADATION_FIELDS.index(field)
        a, b = arr[lo][:, j], arr[hi][:, j]
        pooled = float(np.sqrt((a.var() + b.var()) / 2)) or 1e-9
        checks.append({"field": field, "less": lo, "more": hi,
                       "right_way_on_same_picture": round(float(np.mean(b > a)), 3),
                       "separation": round(float((b.mean() - a.mean()) / pooled), 3)})
        print(f"{field:10s} {lo:>10s} -> {hi:<10s} right way {checks[-1]['right_way_on_same_picture']:.0%} "
              f"separation {checks[-1]['separation']:+.2f}", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    args.out.write_text(json.dumps({
        "command": " ".join(["python bench/analysis_sources.py", *sys.argv[1:]]), "commit": commit,
        "pictures": len(photos), "seconds": round(time.time() - t0, 1), "kinds": table, "checks": checks,
        "vectors": vec}, indent=1) + "\n")
    for k, t in table.items():
        print(f"{k:11s} " + "  ".join(f"{f} {v['mean']:.3f}±{v['std']:.3f}" for f, v in t.items()))


if __name__ == "__main__":
    main()
