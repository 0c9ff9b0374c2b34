"""What x264 holds, measured against vidsr's estimate (vidsr/media/encoder_memory.py), with and without a budget.

Each run is a fresh process that builds a few 4:2:0 frames (a moving gradient with noise), notes its resident
memory, then opens libx264 with the options the Remuxer would give it (``preset``, ``crf`` 18, and with a
budget the planner's ``x264-params``) and encodes enough frames to fill the lookahead; the encoder's memory is
the peak RSS (``getrusage``) over that baseline. glibc's allocation pattern is on, as in every vidsr run
(vidsr.media.heap), so every byte x264 allocates is resident. The settings x264 really used are read back from
its SEI options string (threads, rc_lookahead, bframes, ref) and compared with the planner's.

    nice -n 10 python bench/encoder_memory.py [--sizes 1920x1080 3840x2160 7680x4320] [--presets ultrafast medium]
        [--budgets 0 2048 512] [--json bench/results_encoder_memory.json]

A budget of 0 is the encoder as configured (no cap); a budget whose plan changes nothing is not run again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from vidsr.media.encoder_memory import encoder_cpus, estimate_megabytes, plan_encoder_memory, resolved_settings

SEI_KEYS = ("threads", "sliced_threads", "rc_lookahead", "bframes", "ref", "mbtree")


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _frames(width: int, height: int, count: int = 4) -> list[av.VideoFrame]:
    """``count`` distinct 4:2:0 frames, written plane by plane so no large temporary raises the baseline peak."""
    rng = np.random.default_rng(0)
    ramp = (np.arange(height, dtype=np.uint16)[:, None] * 3 // 4 + np.arange(width, dtype=np.uint16)[None, :] // 2)
    frames = []
    for k in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        for p, plane in enumerate(frame.planes):
            h, w = (height, width) if p == 0 else (height // 2, width // 2)
            arr = np.frombuffer(plane, np.uint8).reshape(h, plane.line_size)
            if p == 0:
                arr[:, :w] = (ramp + 7 * k) % 200 + 20 + rng.integers(0, 12, (h, w), dtype=np.uint16)
            else:
                arr[:, :w] = 128
        frames.append(frame)
    return frames


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """One encode in this process: the encoder's peak resident MiB over the baseline, and x264's own settings."""
    from vidsr.media.heap import fill_fresh_memory

    fill_fresh_memory()
    width, height = spec["width"], spec["height"]
    frames = _frames(width, height)
    cc = av.CodecContext.create("libx264", "w")
    cc.width, cc.height, cc.pix_fmt = width, height, "yuv420p"
    cc.framerate, cc.time_base = Fraction(25), Fraction(1, 25)
    cc.options = spec["options"]
    base = _rss_mb()
    base_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    cc.open()
    head = b""
    for i in range(spec["frames"]):
        frame = frames[i % len(frames)]
        frame.pts = i
        for packet in cc.encode(frame):
            head += bytes(packet) if len(head) < 8192 else b""
    for packet in cc.encode(None):
        head += bytes(packet) if len(head) < 8192 else b""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = re.search(rb"options: ([ -~]*)", head)
    sei = dict(kv.split("=", 1) for kv in (found.group(1).decode() if found else "").split() if "=" in kv)
    return {"encoder_mb": round(peak - base, 1), "baseline_mb": round(base), "baseline_peak_mb": round(base_peak),
            "encode_s": round(time.perf_counter() - t0, 1), "x264": {k: sei[k] for k in SEI_KEYS if k in sei}}


def run(width: int, height: int, preset: str, budget: int) -> dict[str, Any]:
    """One configuration in a fresh process, with the planner's options and estimate beside the measurement."""
    options = {"crf": "18", "preset": preset}  # as Remuxer._configure builds them
    plan = plan_encoder_memory("libx264", preset, 18, 0, options, width, height, "yuv420p", budget or None)
    applied = plan.options if plan else options
    estimate = estimate_megabytes("libx264", preset, width, height, options=applied)
    held = resolved_settings("libx264", preset, width, height, options=applied) or {}
    frames = max(held.get("rc-lookahead", 0), held.get("bframes", 0)) + 14  # past the lookahead: at its peak
    spec = {"width": width, "height": height, "options": applied, "frames": frames}
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True,
                         check=True)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "size": f"{width}x{height}", "preset": preset, "budget_mb": budget or None, "options": applied,
        "frames": frames, "planned": plan.as_report() if plan else None,
        "estimate_mb": round(estimate or 0), "measured_mb": measured["encoder_mb"],
        "estimate_over_measured": round((estimate or 0) / measured["encoder_mb"], 3), **measured,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["1920x1080", "3840x2160", "7680x4320"])
    ap.add_argument("--presets", nargs="+", default=["ultrafast", "medium"])
    ap.add_argument("--budgets", nargs="+", type=int, default=[0, 2048, 512])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    results: dict[str, Any] = {
        "command": "nice -n 10 python " + " ".join(sys.argv), "cpus": encoder_cpus(),
        "versions": {"av": av.__version__, "libavcodec": ".".join(map(str, av.library_versions["libavcodec"]))},
        "runs": [],
    }
    t0 = time.perf_counter()
    for size in args.sizes:
        width, height = map(int, size.split("x"))
        for preset in args.presets:
            seen: list[dict[str, str]] = []
            for budget in args.budgets:
                plan = plan_encoder_memory("libx264", preset, 18, 0, {"crf": "18", "preset": preset}, width, height,
                                           "yuv420p", budget or None)
                options = plan.options if plan else {"crf": "18", "preset": preset}
                if options in seen:  # the budget changes nothing here: the same encode as before
                    continue
                seen.append(options)
                result = run(width, height, preset, budget)
                results["runs"].append(result)
                print(json.dumps({k: result[k] for k in ("size", "preset", "budget_mb", "options", "estimate_mb",
                                                         "measured_mb", "estimate_over_measured", "x264")}),
                      flush=True)
    ratios = [r["estimate_over_measured"] for r in results["runs"]]
    results["estimate_over_measured"] = {"min": min(ratios), "max": max(ratios),
                                         "mean": round(sum(ratios) / len(ratios), 3)}
    results["wall_s"] = round(time.perf_counter() - t0)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
