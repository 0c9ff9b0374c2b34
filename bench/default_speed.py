"""End-to-end speed of the default pipeline at 480p -> 960p, as a CPU user runs it (`vidsr run`).

The clip is a real source: a pan over a held-out photograph (scikit-image's astronaut, upscaled to
cover 854x480 with room to move), made into an x264 CRF 23 stream by ``vidsr.degrade.sources`` at 25 fps.
Each repeat runs ``vidsr run clip.mp4 out.mp4 --report r.json`` in a fresh process with the default
pipeline (model ``auto``: ``cnn`` on a CPU) and, in turn, the same command with ``--model bicubic``, so
both see the same machine load; fps is frames over the run's wall time from the report, and the
ratio of the two medians is the model's share of the cost.

    python bench/default_speed.py                 # 48 frames, 3 repeats each
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

from vidsr.data import eval_images
from vidsr.degrade.sources import make_source, pan_clip, source_kind


def make_clip(path: Path, frames: int) -> None:
    img = dict(eval_images())["skimage__astronaut"]
    big = F.interpolate(torch.from_numpy(img).permute(2, 0, 1)[None].float(), size=(1100, 1900), mode="bicubic")
    big_u8 = big[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    hq = pan_clip(big_u8, (960, 1708), frames, np.random.default_rng(0), max_speed=3.0)
    lq = make_source(hq, source_kind("x264-crf23", 2))  # 854x480 frames as a real source decodes them
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=Fraction(25))
        s.width, s.height, s.pix_fmt = lq.shape[2], lq.shape[1], "yuv420p"
        s.options = {"crf": "23", "preset": "medium", "threads": "1"}
        for img_u8 in lq:
            out.mux(s.encode(av.VideoFrame.from_ndarray(img_u8, format="rgb24")))
        out.mux(s.encode(None))


def run_once(src: Path, extra: list[str], work: Path) -> dict:
    out, rep = work / "out.mp4", work / "report.json"
    cmd = [str(Path(sys.executable).parent / "vidsr"), "run", str(src), str(out), "--overwrite", "--quiet",
           "--report", str(rep), *extra]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    wall = time.perf_counter() - t0
    r = json.loads(rep.read_text())
    return {"process_wall_s": round(wall, 2), "run_wall_s": r.get("wall_seconds", r.get("wall_s")),
            "fps": r.get("fps"), "frames": r.get("frames"), "model": (r.get("sr") or {}).get("model")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/results_default_speed.json"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = work / "clip.mp4"
        make_clip(src, args.frames)
        rows: dict[str, list[dict]] = {"default": [], "bicubic": []}
        for _ in range(args.repeats):
            rows["default"].append(run_once(src, [], work))
            rows["bicubic"].append(run_once(src, ["--model", "bicubic"], work))
            print({k: v[-1] for k, v in rows.items()}, flush=True)
    fps = {k: statistics.median(r["frames"] / r["process_wall_s"] for r in v) for k, v in rows.items()}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {
        "command": " ".join(["python bench/default_speed.py", *sys.argv[1:]]), "commit": commit,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "clip": f"854x480 -> 1708x960, {args.frames} frames, x264 CRF 23 real-source pan",
        "fps_process_median": {k: round(v, 3) for k, v in fps.items()},
        "default_over_bicubic": round(fps["default"] / fps["bicubic"], 3),
        "goal_0.7_fps_met": fps["default"] >= 0.7,
        "runs": rows,
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))


if __name__ == "__main__":
    main()
