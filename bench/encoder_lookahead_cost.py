"""What the encoder memory budget's settings cost the picture: bytes and PSNR-Y against the source frames when
x264 ``medium`` at CRF 18 runs with the settings ``encode.max_megabytes`` may pick (a shorter ``rc-lookahead``,
then fewer B-frames and references), on the same frames, in one process. The last setting is the
leanest the budget goes to (15360x8640 at ``medium`` and the default budget).

    python bench/encoder_lookahead_cost.py [--clip examples/sample.mp4]
        [--json bench/results_encoder_lookahead_cost.json]
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import av
import numpy as np

from vidsr.media.heap import fill_fresh_memory

SETTINGS = ["", "rc-lookahead=20", "rc-lookahead=10", "rc-lookahead=4", "rc-lookahead=1:bframes=0:ref=1"]


def encode(frames: list[np.ndarray], width: int, height: int, params: str) -> dict[str, Any]:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        s.options = {"preset": "medium", "crf": "18", **({"x264-params": params} if params else {})}
        for i, planes in enumerate(frames):
            f = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            f.pts = i
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    size = buf.tell()
    buf.seek(0)
    with av.open(buf) as back:
        decoded = [f.to_ndarray(format="yuv420p")[:height] for f in back.decode(video=0)]
    mse = float(np.mean([np.mean((a[:height].astype(np.float64) - b) ** 2) for a, b in zip(frames, decoded)]))
    return {"x264-params": params or None, "bytes": size, "psnr_y": round(10 * np.log10(255**2 / mse), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", type=Path, default=Path("examples/sample.mp4"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    fill_fresh_memory()  # x264 with mb-tree reads memory it never wrote: repeatable as in a vidsr run
    with av.open(str(args.clip)) as src:
        frames = [f.to_ndarray(format="yuv420p") for f in src.decode(video=0)]
    height, width = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    runs = [encode(frames, width, height, p) for p in SETTINGS]
    for r in runs:
        r["bytes_vs_default"] = round(r["bytes"] / runs[0]["bytes"], 3)
        r["psnr_y_vs_default"] = round(r["psnr_y"] - runs[0]["psnr_y"], 3)
        print(json.dumps(r), flush=True)
    if args.json:
        result = {"command": "python " + " ".join(sys.argv), "clip": str(args.clip), "frames": len(frames),
                  "size": f"{width}x{height}", "preset": "medium", "crf": 18, "runs": runs}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
