"""Does degrade-analysis's vector tell real source kinds apart? Measured against the known truth.

Held-out photographs (all of them by default) are each made into a short pan clip (480x360 at most) and
into each real source kind (``vidsr.degrade.sources``: clean, x264/x265/VP9/AV1 at everyday CRFs,
camera-like noise), plus three variants of the camera kind that tell where its noise goes: the same
source encoded without the noise (``camera-nonoise``), the noise under a light encode (CRF 16,
``camera-crf16``) and the noise with no codec (4:2:0 only, ``camera-raw``). The analysis vector
(``ANALYSIS_FIELDS``: noise, blur, blockiness, ringing, ``detail_loss``) is measured on the last
(predicted) frame, as the analysis stage measures a frame. Per field and kind: mean and spread over the
pictures; per pair of kinds that differ in one known factor: how often the field moves the right way
on the same picture, and the separation (difference of means over the pooled spread: below 1 the field
cannot tell the two kinds apart from one frame of an unknown picture). ``fine_band_rms`` (not a field:
the RMS of Immerkaer's mask over the frame's tiles, in noise-sigma units) is the oracle for the noise:
how much fine-band energy the noise leaves in the pixels, against the same source without it.

Also timed: the analysis per 480p frame (the held-out photographs resized to 854x480): the conditioning
fields alone (``degradation_vector``, what the stage computed before ``detail_loss``) and the whole
vector (``analysis_vector``, what the stage computes now).

    python bench/analysis_sources.py            # writes bench/results_analysis_sources.json (~15 s)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from vidsr.analysis.estimators import ANALYSIS_FIELDS, analysis_vector, degradation_vector, luma_tiles
from vidsr.data import eval_images
from vidsr.degrade.sources import SOURCE_KINDS, SourceParams, make_source, pan_clip, source_kind

# the camera kind's variants: (name, how its SourceParams differ from the camera kind's)
CAMERA_VARIANTS = (
    ("camera-nonoise", {"noise_sigma": 0.0}),
    ("camera-crf16", {"crf": 16}),
    ("camera-raw", {"codec": None, "crf": 0}),
)
KINDS = SOURCE_KINDS + tuple(n for n, _ in CAMERA_VARIANTS)

# (field, kind with less of the factor, kind with more of it): what the truth says should move
CHECKS = (
    ("noise", "clean", "camera"),  # the truth: the CRF 24 encode removes the noise (see fine_band_rms)
    ("noise", "camera-nonoise", "camera"),
    ("noise", "clean", "camera-crf16"),
    ("noise", "clean", "camera-raw"),
    ("noise", "camera-nonoise", "camera-crf16"),
    ("blockiness", "clean", "x264-crf23"),
    ("blockiness", "x264-crf23", "x264-crf28"),
    ("blockiness", "clean", "x264-crf28"),
    ("ringing", "clean", "x264-crf28"),
    ("blur", "clean", "x264-crf28"),
    ("detail_loss", "clean", "x264-crf23"),
    ("detail_loss", "x264-crf23", "x264-crf28"),
    ("detail_loss", "clean", "x264-crf28"),
    ("detail_loss", "clean", "x265-crf30"),
    ("detail_loss", "clean", "vp9-crf42"),
    ("detail_loss", "clean", "av1-crf40"),
    ("detail_loss", "clean", "camera"),
)
SECOND_DIFF = np.float32([1, -2, 1])  # its outer product is Immerkaer's mask
# clean < x264 CRF 23 < x264 CRF 28 on the same picture, both steps at once
ORDERED = ("clean", "x264-crf23", "x264-crf28")


def kind_params(kind: str, scale: int, seed: int) -> SourceParams:
    variants = dict(CAMERA_VARIANTS)
    if kind in variants:
        return dataclasses.replace(source_kind("camera", scale, seed=seed), name=kind, **variants[kind])
    return source_kind(kind, scale, seed=seed)


def fine_band_rms(frame: np.ndarray) -> float:
    """RMS of Immerkaer's mask over the frame's luma tiles, in 8-bit noise-sigma units (white noise of
    std s reads s; content adds to it)."""
    r = cv2.sepFilter2D(luma_tiles(frame), -1, SECOND_DIFF, SECOND_DIFF)[2:-2, 2:-2]
    return float(np.sqrt(np.mean(r.astype(np.float64) ** 2)) / 6.0 * 255.0)


def measure(photos: list[tuple[str, np.ndarray]], scale: int) -> dict:
    vec: dict[str, list[list[float]]] = {k: [] for k in KINDS}
    fine: dict[str, list[float]] = {k: [] for k in KINDS}
    for i, (_, img) in enumerate(photos):
        h, w = min(img.shape[0], 360) // 4 * 4, min(img.shape[1], 480) // 4 * 4
        clip = pan_clip(img, (h, w), 3, np.random.default_rng(i))
        for k in KINDS:
            frame = make_source(clip, kind_params(k, scale, i))[-1]
            vec[k].append([round(float(v), 5) for v in analysis_vector(frame)])
            fine[k].append(round(fine_band_rms(frame), 4))
    arr = {k: np.array(v) for k, v in vec.items()}
    table = {k: {f: {"mean": round(float(a[:, j].mean()), 4), "std": round(float(a[:, j].std()), 4)}
                 for j, f in enumerate(ANALYSIS_FIELDS)} for k, a in arr.items()}
    for k in KINDS:
        table[k]["fine_band_rms"] = {"mean": round(float(np.mean(fine[k])), 4), "std": round(float(np.std(fine[k])), 4)}
    checks = []
    for field, lo, hi in CHECKS:
        j = ANALYSIS_FIELDS.index(field)
        a, b = arr[lo][:, j], arr[hi][:, j]
        pooled = float(np.sqrt((a.var() + b.var()) / 2)) or 1e-9
        checks.append({"field": field, "less": lo, "more": hi,
                       "right_way_on_same_picture": round(float(np.mean(b > a)), 3),
                       "separation": round(float((b.mean() - a.mean()) / pooled), 3)})
        print(f"x{scale} {field:11s} {lo:>14s} -> {hi:<14s} right way {checks[-1]['right_way_on_same_picture']:4.0%} "
              f"separation {checks[-1]['separation']:+.2f}", flush=True)
    ordered = {}
    for field in ANALYSIS_FIELDS:
        j = ANALYSIS_FIELDS.index(field)
        c0, c1, c2 = (arr[k][:, j] for k in ORDERED)
        ordered[field] = round(float(np.mean((c0 < c1) & (c1 < c2))), 3)
    print(f"x{scale} clean < x264-crf23 < x264-crf28 on the same picture: {ordered}", flush=True)
    ratio = np.array(fine["camera"]) / np.array(fine["camera-nonoise"])
    ratio_raw = np.array(fine["camera-raw"]) / np.array(fine["clean"])
    oracle = {
        "camera_over_camera_nonoise_median": round(float(np.median(ratio)), 4),
        "camera_over_camera_nonoise_range": [round(float(ratio.min()), 4), round(float(ratio.max()), 4)],
        "camera_raw_over_clean_median": round(float(np.median(ratio_raw)), 4),
    }
    print(f"x{scale} fine-band RMS, camera / the same source without the noise: median "
          f"{oracle['camera_over_camera_nonoise_median']:.3f} (range {oracle['camera_over_camera_nonoise_range']}); "
          f"camera-raw / clean {oracle['camera_raw_over_clean_median']:.2f}")
    return {"kinds": table, "checks": checks, "ordered_clean_crf23_crf28": ordered, "fine_band_oracle": oracle,
            "vectors": vec, "fine_band_rms": fine}


def timing(photos: list[tuple[str, np.ndarray]], repeats: int = 3) -> dict:
    """Median ms per 854x480 frame, the two calls alternated frame by frame (one OpenCV thread)."""
    cv2.setNumThreads(1)
    frames = [cv2.resize(img, (854, 480), interpolation=cv2.INTER_AREA) for _, img in photos[:20]]
    calls = {"degradation_vector": degradation_vector, "analysis_vector": analysis_vector}
    times: dict[str, list[float]] = {k: [] for k in calls}
    for r in range(repeats):
        for i, img in enumerate(frames):
            for name in (list(calls) if (i + r) % 2 == 0 else list(calls)[::-1]):
                t0 = time.perf_counter()
                calls[name](img)
                times[name].append(time.perf_counter() - t0)
    out = {f"{k}_ms_per_480p_frame": round(1000 * float(np.median(v)), 3) for k, v in times.items()}
    out["frames"] = len(frames) * repeats
    out["load_average"] = [round(v, 2) for v in os.getloadavg()]
    print(f"per 480p frame: conditioning fields alone (the stage before) "
          f"{out['degradation_vector_ms_per_480p_frame']:.2f} ms, whole analysis vector (the stage now) "
          f"{out['analysis_vector_ms_per_480p_frame']:.2f} ms", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data")
    ap.add_argument("--pictures", type=int, default=0, help="held-out photographs used, spread over the set (0: all)")
    ap.add_argument("--scales", default="2,4")
    ap.add_argument("--out", type=Path, default=Path("bench/results_analysis_sources.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    data = args.data if (Path(args.data) / "manifest.json").exists() else None
    photos = [(n, im) for n, im in eval_images(data, max_side=1024) if min(im.shape[:2]) >= 128]
    if args.pictures and args.pictures < len(photos):
        photos = [photos[i] for i in np.linspace(0, len(photos) - 1, args.pictures).round().astype(int)]
    results = {f"x{s}": measure(photos, int(s)) for s in args.scales.split(",")}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    report = {
        "command": " ".join(["python bench/analysis_sources.py", *sys.argv[1:]]), "commit": commit,
        "fields": list(ANALYSIS_FIELDS), "pictures": [n for n, _ in photos], "timing": timing(photos),
        **results,
    }
    report["seconds"] = round(time.time() - t0, 1)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    for scale, res in results.items():
        for k, t in res["kinds"].items():
            print(f"{scale} {k:14s} " + "  ".join(f"{f} {v['mean']:.3f}±{v['std']:.3f}" for f, v in t.items()))


if __name__ == "__main__":
    main()
