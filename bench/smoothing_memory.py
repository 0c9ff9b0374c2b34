"""Peak memory of one temporal-smoothing call at an 8K source (7680x4320 LQ, 15360x8640 out at x2), by phase.

One :class:`~vidsr.temporal.smoothing.Smoother` is fed a few frames of a pan over a real photograph (scikit-image's
astronaut, tiled and shifted), each with a bilinear x2 output; the last call is measured, in steady state (DIS's
buffers and the band buffers already made). Linux only: the peak is VmHWM, reset (``clear_refs``) just before the
call and again when the confidence returns, so the figures are MB above the RSS just before the call:

- ``confidence_mb``: the LQ step, both DIS flows and ``Smoother.confidence``;
- ``call_mb``: the whole call (the confidence step or the output-grid bands after it, whichever is higher).

    python bench/smoothing_memory.py [--lq 7680x4320] [--dtypes uint8 uint16] [--frames 3] [--json PATH]

Each dtype runs in a fresh process, so no earlier run's memory or allocator state counts.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from skimage import data

from vidsr.frame import Frame
from vidsr.temporal.smoothing import Smoother, SmootherParams


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _frames(w: int, h: int, n: int, dtype: np.dtype) -> list[Frame]:
    """A pan of 3 px down and 5 px right per frame; 16-bit frames are the 8-bit ones times 257."""
    tiles = np.tile(data.astronaut(), (h // 512 + 2, w // 512 + 2, 1))
    frames = []
    for i in range(n):
        lq = np.ascontiguousarray(tiles[3 * i : 3 * i + h, 5 * i : 5 * i + w])
        if dtype == np.uint16:
            lq = lq.astype(np.uint16) * 257
        out = cv2.resize(lq, (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
        frames.append(Frame(image=out, pts=i, time_base=Fraction(1, 25), index=i, source_image=lq))
    return frames


def measure(w: int, h: int, dtype: np.dtype, n: int) -> dict[str, Any]:
    frames = _frames(w, h, n, dtype)
    smoother = Smoother(SmootherParams(strength=0.8))
    for frame in frames[:-1]:
        smoother(frame)
    last = frames[-1]
    del frames
    marks: dict[str, float] = {}
    confidence = smoother.confidence

    def timed_confidence(*args: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = confidence(*args)
        marks["confidence"] = _status_mb("VmHWM")
        _reset_peak()
        return out

    smoother.confidence = timed_confidence  # type: ignore[method-assign]
    before = _status_mb("VmRSS")
    _reset_peak()
    t0 = time.perf_counter()
    smoother(last)
    seconds = time.perf_counter() - t0
    rest = _status_mb("VmHWM")
    return {"lq": f"{w}x{h}", "out": f"{2 * w}x{2 * h}", "dtype": str(dtype), "rss_before_mb": round(before),
            "confidence_mb": round(marks["confidence"] - before),
            "call_mb": round(max(marks["confidence"], rest) - before),
            "seconds": round(seconds, 2), "mean_weight": round(smoother.last_weight, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lq", default="7680x4320", help="LQ size WxH (the output is twice that)")
    ap.add_argument("--dtypes", nargs="+", choices=["uint8", "uint16"], default=["uint8", "uint16"])
    ap.add_argument("--frames", type=int, default=3, help="frames fed; the last is measured (at least 2)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a child run: one dtype, here
    args = ap.parse_args()
    w, h = (int(v) for v in args.lq.split("x"))
    if args.one:
        print(json.dumps(measure(w, h, np.dtype(args.dtypes[0]), max(args.frames, 2))), flush=True)
        return 0
    results: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "runs": []}
    for dtype in args.dtypes:
        child = [sys.executable, __file__, "--one", "--lq", args.lq, "--dtypes", dtype, "--frames", str(args.frames)]
        out = subprocess.run(child, capture_output=True, text=True, check=True)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        results["runs"].append(run)
        print(json.dumps(run), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
