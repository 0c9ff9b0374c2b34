"""Peak memory of a 4K run (3840x2160 in, 7680x4320 out at x2) against a 480p one, per x264 preset.

"Out of memory on 4K" is a common complaint about video enhancers. vidsr's frame queues are bounded, so
what grows with resolution is the frames in flight (a few per queue) and the encoder's own buffers: x264
holds its lookahead (``rc-lookahead``: 0 at ``ultrafast``, 40 at ``medium``) and one frame per thread. Each
run is a fresh process; peak RSS comes from ``getrusage``. The default pipeline runs with ``--model bicubic``,
because the model's size does not change with the frame's (the SR stage works in tiles).

    python bench/memory_4k.py [--frames 40] [--presets ultrafast medium] [--json bench/results_memory_4k.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from skimage import data as skdata

SIZES = {"480p": (854, 480), "4K": (3840, 2160)}


def make_clip(path: Path, width: int, height: int, frames: int) -> Path:
    """A pan across a real photograph (scikit-image's astronaut, tiled and mirrored to cover the frame)."""
    photo = skdata.astronaut()
    reps_x, reps_y = width // photo.shape[1] + 2, height // photo.shape[0] + 2
    row = np.concatenate([photo if i % 2 == 0 else photo[:, ::-1] for i in range(reps_x)], 1)
    canvas = np.concatenate([row if j % 2 == 0 else row[::-1] for j in range(reps_y)], 0)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"crf": "23", "preset": "ultrafast"}
        for i in range(frames):
            x, y = (i * 6) % (canvas.shape[1] - width), (i * 4) % (canvas.shape[0] - height)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas[y : y + height, x : x + width]), "rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def peak_rss_mb(src: Path, dst: Path, preset: str, pipeline: str = "default",
                max_megabytes: int | None = None) -> tuple[float, float]:
    """(peak RSS in MB, wall seconds) of one run in a fresh process (so no earlier run's peak counts);
    ``max_megabytes`` replaces the pipeline's ``encode.max_megabytes`` (0: no cap on the encoder)."""
    config = f"{pipeline!r}"
    if max_megabytes is not None:
        config = f"(lambda c: (setattr(c.encode, 'max_megabytes', {max_megabytes}), c)[1])(configure({pipeline!r}))"
    code = (
        "import resource, vidsr; from vidsr.pipeline import configure; "
        f"vidsr.enhance({str(src)!r}, {str(dst)!r}, pipeline={config}, model='bicubic', scale=2, "
        f"preset={preset!r}, overwrite=True); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--presets", nargs="+", default=["ultrafast", "medium"])
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--max-megabytes", type=int, default=None, help="encode.max_megabytes (0: no encoder cap)")
    args = ap.parse_args()
    results: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "frames": args.frames, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        clips = {name: make_clip(Path(tmp) / f"{name}.mp4", w, h, args.frames) for name, (w, h) in SIZES.items()}
        for preset in args.presets:
            for name, clip in clips.items():
                rss, wall = peak_rss_mb(clip, Path(tmp) / f"out-{name}.mp4", preset, max_megabytes=args.max_megabytes)
                run = {"input": name, "preset": preset, "peak_rss_mb": round(rss), "wall_s": round(wall, 1)}
                if args.max_megabytes is not None:
                    run["max_megabytes"] = args.max_megabytes
                results["runs"].append(run)
                print(json.dumps(run), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
