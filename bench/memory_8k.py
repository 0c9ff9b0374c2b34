"""Peak memory of an 8K run (7680x4320 in, 15360x8640 out at x2), the issue 20 item 5 case (8.45 GB before).

Each run is a fresh process (peak RSS from ``getrusage``) on a short pan clip made as bench/memory_4k.py makes
its clips; ``--model bicubic`` because the model's size does not change with the frame's. The goal is 4 GB.

    python bench/memory_8k.py [--frames 3] [--pipelines default] [--preset ultrafast] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_4k import make_clip, peak_rss_mb  # noqa: E402  (bench/ is not a package)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=3)
    ap.add_argument("--pipelines", nargs="+", default=["default"])
    ap.add_argument("--preset", default="ultrafast")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict[str, Any] = {"command": "python " + " ".join(sys.argv), "frames": args.frames,
                               "input": "7680x4320", "scale": 2, "goal_mb": 4096, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "8k.mp4", 7680, 4320, args.frames)
        for pipeline in args.pipelines:
            rss, wall = peak_rss_mb(clip, Path(tmp) / "out.mp4", args.preset, pipeline)
            run = {"pipeline": pipeline, "preset": args.preset, "peak_rss_mb": round(rss), "wall_s": round(wall, 1)}
            results["runs"].append(run)
            print(json.dumps(run), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
