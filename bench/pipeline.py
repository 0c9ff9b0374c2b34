"""Pipeline benchmark: the concurrent graph against a plain serial PyAV loop, and memory against length.

Throughput: the same 480p clip, the same bicubic x2 and the same encoder settings, run alternately
(serial, graph, serial, graph, ...) so both see the same machine load; the ratio of medians is the
figure. Memory: peak RSS of `vidsr run` (each in a fresh process) on a 10-second and a 10-minute
480p clip.

    python bench/pipeline.py                 # throughput + memory (memory needs ~10 min of CPU)
    python bench/pipeline.py --skip-memory   # throughput only
"""

from __future__ import annotations

import argparse
import json
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
from skimage import data as skdata

from vidsr.media.probe import EXACT_COLOUR
from vidsr.sr.registry import build_model

WIDTH, HEIGHT, RATE = 854, 480, 25
ENCODE = {"codec": "libx264", "crf": 18, "preset": "veryfast"}


def make_clip(path: Path, seconds: float) -> Path:
    """A 480p pan across a real photograph (scikit-image's astronaut, tiled 3x3 and mirrored)."""
    photo = skdata.astronaut()
    canvas = np.concatenate([np.concatenate([photo, photo[:, ::-1]] * 2, 1)] * 2, 0)  # 1024 x 2048
    n = int(seconds * RATE)
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=RATE)
        v.width, v.height, v.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        v.options = {"crf": "23", "preset": "ultrafast"}
        for i in range(n):
            x = (i * 3) % (canvas.shape[1] - WIDTH)
            y = (i * 2) % (canvas.shape[0] - HEIGHT)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(canvas[y : y + HEIGHT, x : x + WIDTH]), "rgb24")
            frame.pts, frame.time_base = i, Fraction(1, RATE)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def serial_loop(src: Path, dst: Path) -> float:
    """decode -> RGB -> bicubic x2 -> encode, one frame after another: the baseline to beat. It uses the
    same model and the same uint8 fast path as the graph's SR stage, so only the scheduling differs."""
    model = build_model("bicubic", 2, torch.device("cpu"))
    t0 = time.perf_counter()
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream(ENCODE["codec"], rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.width * 2, vin.height * 2, "yuv420p"
        vout.time_base = vin.time_base
        vout.options = {"crf": str(ENCODE["crf"]), "preset": ENCODE["preset"]}
        n = 0
        for frame in inp.decode(vin):
            rgb = frame.to_ndarray(format="rgb24", interpolation=EXACT_COLOUR)
            y = model(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0].permute(1, 2, 0).contiguous().numpy()
            outf = av.VideoFrame.from_ndarray(y, "rgb24").reformat(format="yuv420p", interpolation=EXACT_COLOUR)
            outf.pts, outf.time_base = frame.pts, frame.time_base
            out.mux(vout.encode(outf))
            n += 1
        out.mux(vout.encode(None))
    return n / (time.perf_counter() - t0)


def graph_run(src: Path, dst: Path) -> tuple[float, dict]:
    import vidsr

    t0 = time.perf_counter()
    report = vidsr.enhance(src, dst, pipeline="fast", scale=2, model="bicubic", overwrite=True, **ENCODE)
    return report["frames"] / (time.perf_counter() - t0), report["stages"]


def peak_rss_mb(src: Path, dst: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time of `vidsr run` in a fresh process."""
    code = (
        "import resource, sys, vidsr; "
        f"vidsr.enhance({str(src)!r}, {str(dst)!r}, pipeline='fast', scale=2, codec='libx264', crf=18, "
        "preset='ultrafast', overwrite=True); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    results: dict = {"machine": {"cpus": torch.get_num_threads(), "torch": torch.__version__, "av": av.__version__},
                     "encode": ENCODE}
    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        short = make_clip(tmpd / "short.mp4", args.seconds)
        serial, graph, stages = [], [], {}
        for _ in range(args.repeats):
            serial.append(serial_loop(short, tmpd / "serial.mp4"))
            fps, stages = graph_run(short, tmpd / "graph.mp4")
            graph.append(fps)
        results["throughput"] = {
            "clip": f"{WIDTH}x{HEIGHT} -> {2 * WIDTH}x{2 * HEIGHT}, {int(args.seconds * RATE)} frames",
            "serial_fps": [round(x, 2) for x in serial],
            "graph_fps": [round(x, 2) for x in graph],
            "ratio_of_medians": round(statistics.median(graph) / statistics.median(serial), 3),
            "graph_stages_last_run": stages,
        }
        print(json.dumps(results["throughput"], indent=2))
        if not args.skip_memory:
            rss_short, t_short = peak_rss_mb(short, tmpd / "m_short.mp4")
            long = make_clip(tmpd / "long.mp4", 600)
            rss_long, t_long = peak_rss_mb(long, tmpd / "m_long.mp4")
            results["memory"] = {
                "peak_rss_mb_10s": round(rss_short, 1),
                "peak_rss_mb_10min": round(rss_long, 1),
                "ratio": round(rss_long / rss_short, 3),
                "wall_s": [round(t_short, 1), round(t_long, 1)],
            }
            print(json.dumps(results["memory"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
