"""Peak memory of an 8K run (7680x4320 in, 15360x8640 out at x2), the issue 20 item 5 case (8.45 GB before).

Each run is a fresh process (peak RSS from ``getrusage``) on a short pan clip made as bench/memory_4k.py makes
its clips; ``--model bicubic`` because the model's size does not change with the frame's. The goal is 4 GB.
Each run records the queues' bounds its graph used (``queue_size`` frames, ``queue_megabytes`` of pixels per
link): at 15360x8640 out a frame and its LQ input are 0.5 GB, so with a few frames the queues never fill and a
run of ``--frames 3`` cannot show what they may hold; ``--queue-megabytes`` sets the byte bound (a huge value
turns it off).

    python bench/memory_8k.py [--frames 3] [--pipelines default] [--preset ultrafast] [--queue-megabytes MB]
                              [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_4k import make_clip  # noqa: E402  (bench/ is not a package)


def run_once(src: Path, dst: Path, preset: str, pipeline: str, queue_megabytes: int | None) -> dict[str, Any]:
    """One run in a fresh process (so no earlier run's peak counts): peak RSS in MB, wall seconds, and the queue
    bounds of the graph that run's Enhancer builds (read back, so a bound that does not reach the graph shows)."""
    bound = f"cfg.queue_megabytes = {queue_megabytes!r}; " if queue_megabytes is not None else ""
    code = (
        "import json, resource, vidsr; "
        "from vidsr.pipeline import Enhancer; "
        "from vidsr.pipeline_files import load_pipeline; "
        f"cfg = load_pipeline({pipeline!r}); {bound}"
        f"kw = dict(model='bicubic', scale=2, preset={preset!r}); "
        f"vidsr.enhance({str(src)!r}, {str(dst)!r}, pipeline=cfg, overwrite=True, **kw); "
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; "
        "g = Enhancer(cfg, **kw).graph(iter(())); "
        "print(json.dumps({'rss_kb': rss, 'queue_size': g.queue_size, 'queue_bytes': g.queue_bytes}))"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t0
    got = json.loads(out.stdout.strip().splitlines()[-1])
    return {"pipeline": pipeline, "preset": preset, "queue_size": got["queue_size"],
            "queue_megabytes": round(got["queue_bytes"] / 2**20), "peak_rss_mb": round(got["rss_kb"] / 1024),
            "wall_s": round(wall, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--pipelines", nargs="+", default=["default"])
    ap.add_argument("--preset", default="ultrafast")
    ap.add_argument("--queue-megabytes", type=int, default=None, help="the pipelines' own when not given")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "frames": args.frames,
                               "input": "7680x4320", "scale": 2, "goal_mb": 4096, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "8k.mp4", 7680, 4320, args.frames)
        for pipeline in args.pipelines:
            run = run_once(clip, Path(tmp) / "out.mp4", args.preset, pipeline, args.queue_megabytes)
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
