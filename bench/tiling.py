"""Tiling overhead in the SR stage: whole frames against the default ``tile: 512`` (before and after the
memory budget), at equal output, with page faults per frame.

Issue 21: the default ``tile: 512`` made a 480p run 1.8x slower than ``tile: 0`` at bit-identical output,
and a 600x450 run spent as much time in the kernel (page faults) as in the model. Since the budget, a
frame that fits ``tile_above_megapixels`` runs whole whatever ``tile`` says; ``old rule`` is the tiling
the default did before (every frame above ``tile**2`` pixels). Each mode runs in a fresh process (page
faults and allocator state are per process), on frames of a real photograph, through ``SRStage``.

    python bench/tiling.py [--model cnn] [--size 854x480] [--frames 8] [--json bench/results_tiling.json]
    python bench/tiling.py --only whole      # one mode (a word of its name), e.g. to time two modes side by side
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

MODES = {"whole (tile 0)": {"tile": 0}, "default (tile 512, budget)": {"tile": 512},
         "old rule (tile 512, no budget)": {"tile": 512, "old_rule": True}}

CHILD = r"""
import hashlib, json, resource, sys, time
from fractions import Fraction
import numpy as np, torch
from skimage import data as skdata
import vidsr.sr.tiling as tiling
from vidsr.frame import Frame
from vidsr.stages.sr import SRParams, SRStage
a = json.loads(sys.argv[1])
torch.set_num_threads(a["threads"])
if a.get("old_rule"):  # what the default did before: tile every frame above tile**2 pixels
    real = tiling.upscale_tiled
    tiling_fn = lambda m, x, t, o, b=16, budget=None: real(m, x, t, o, b, None)
    import vidsr.stages.sr as st
    st.upscale_tiled = tiling_fn
photo = skdata.astronaut()
canvas = np.concatenate([np.concatenate([photo, photo[:, ::-1]], 1)] * 2, 0)
w, h = a["size"]
frames = [Frame(image=np.ascontiguousarray(canvas[i * 4 : i * 4 + h, i * 6 : i * 6 + w]), pts=i,
                time_base=Fraction(1, 25), index=i) for i in range(a["frames"])]
stage = SRStage("sr", SRParams(model=a["model"], scale=2, device="cpu", tile=a["tile"]))
list(stage.process(iter(frames[:1])))  # warm-up: weights, first allocations
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
out = list(stage.process(iter(frames)))
wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
digest = hashlib.sha256(b"".join(f.image.tobytes() for f in out)).hexdigest()[:16]
print(json.dumps({"fps": a["frames"] / wall, "wall_s": wall, "user_s": r1.ru_utime - r0.ru_utime,
                  "sys_s": r1.ru_stime - r0.ru_stime, "minflt_per_frame": (r1.ru_minflt - r0.ru_minflt) / a["frames"],
                  "output_sha256": digest}))
"""


def run_mode(model: str, size: tuple[int, int], frames: int, threads: int, mode: dict[str, Any]) -> dict[str, Any]:
    args = {"model": model, "size": size, "frames": frames, "threads": threads, **mode}
    out = subprocess.run([sys.executable, "-c", CHILD, json.dumps(args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--size", default="854x480")
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only", default=None, metavar="WORD", help="run only the mode whose name has this word")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    results: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "model": args.model, "size": args.size,
                               "frames": args.frames, "threads": args.threads, "runs": {}}
    modes = {k: v for k, v in MODES.items() if args.only is None or args.only in k}
    if args.only is not None:
        if not modes:
            ap.error(f"--only {args.only}: no mode of {', '.join(MODES)}")
        for name, mode in modes.items():
            print(json.dumps({name: run_mode(args.model, size, args.frames, args.threads, mode)}))  # type: ignore
        return 0
    for name, mode in modes.items():
        run = run_mode(args.model, size, args.frames, args.threads, mode)  # type: ignore[arg-type]
        results["runs"][name] = {k: round(v, 3) if isinstance(v, float) else v for k, v in run.items()}
        print(json.dumps({name: results["runs"][name]}), flush=True)
    whole = results["runs"]["whole (tile 0)"]
    for run in results["runs"].values():
        # CPU seconds (user + sys) as well as wall: on a shared machine wall time measures the neighbours
        run["cpu_s"] = round(run["user_s"] + run["sys_s"], 3)
        run["overhead_vs_whole"] = round(whole["fps"] / run["fps"] - 1, 3)
        run["cpu_overhead_vs_whole"] = round(run["cpu_s"] / (whole["user_s"] + whole["sys_s"]) - 1, 3)
        run["equal_output_to_whole"] = run["output_sha256"] == whole["output_sha256"]
    print(json.dumps({k: (v["cpu_overhead_vs_whole"], v["equal_output_to_whole"]) for k, v in results["runs"].items()}))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
