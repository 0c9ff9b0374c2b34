"""Real-source degradations: LQ clips made the way real low-resolution video is made.

Most video people want to enhance is "a clean downscale, then a codec": a camera or an editor scales
the picture with swscale (area, bilinear, bicubic, lanczos) or an antialiased resize, converts it to
4:2:0 and a real encoder (x264, x265, VP9, AV1) compresses it at some CRF; a camera adds mild sensor
noise first. Synthetic blur/JPEG chains (``pipeline.py``) do not look like that, and a model trained
only on them removes real detail as if it were noise. Everything here goes through the real tools:
PyAV's ``VideoFrame.reformat`` (swscale) and FFmpeg's encoders and decoders, one thread each, so the
same parameters and seed give the same bytes.

- ``make_source(hq_THWC, params)``: uint8 HQ frames (one clip, in order) -> uint8 LQ frames.
- ``source_kind(name, scale)``: the fixed evaluation kinds (``SOURCE_KINDS``).
- ``sample_source(scale, rng)``: a random training source (mostly clean-downscale-then-codec).
- ``pan_clip(img, size, frames, rng)``: a short clip of a still photograph with camera-like motion.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
import torch
import torch.nn.functional as F

from vidsr.media.heap import fill_fresh_memory

__all__ = [
    "SCALERS",
    "CODECS",
    "SourceParams",
    "SOURCE_KINDS",
    "source_kind",
    "sample_source",
    "make_source",
    "pan_clip",
]

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its whole configuration per encoder otherwise

_I = av.video.reformatter.Interpolation
# swscale's scalers (what ffmpeg's -vf scale and most tools use) plus torch's antialiased bicubic
SCALERS = ("area", "bilinear", "bicubic", "lanczos", "torch-bicubic")
_SWS = {"area": _I.AREA, "bilinear": _I.BILINEAR, "bicubic": _I.BICUBIC, "lanczos": _I.LANCZOS}


@dataclass(frozen=True)
class _Codec:
    decoder: str
    crf_range: tuple[int, int]  # everyday range, nearly lossless to heavy
    train_presets: tuple[str, ...]
    eval_preset: str
    min_side: int = 16  # smaller frames are edge-padded to this (below 64 SVT-AV1 aborts, x265 corrupts the heap)


CODECS = {
    "libx264": _Codec("h264", (10, 34), ("veryfast", "faster", "medium"), "medium"),
    "libx265": _Codec("hevc", (12, 36), ("ultrafast", "veryfast", "fast"), "medium", min_side=64),
    "libvpx-vp9": _Codec("vp9", (15, 55), ("5", "6"), "4"),
    "libsvtav1": _Codec("libdav1d", (15, 55), ("10", "12"), "8", min_side=64),
}


@dataclass(frozen=True)
class SourceParams:
    """How one LQ clip is made from its HQ frames (``codec`` None: 4:2:0 conversion only)."""

    scale: int
    scaler: str
    codec: str | None
    crf: int = 0
    preset: str = "medium"
    noise_sigma: float = 0.0  # Gaussian sensor noise, 8-bit units, at the LQ size, before the encode
    seed: int = 0
    name: str = "sampled"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _kinds(scale: int) -> dict[str, SourceParams]:
    def k(name: str, codec: str, crf: int, scaler: str = "torch-bicubic", noise: float = 0.0) -> SourceParams:
        return SourceParams(scale, scaler, codec, crf, CODECS[codec].eval_preset, noise, 0, name)

    table = [
        k("clean", "libx264", 12),
        k("x264-crf23", "libx264", 23),
        k("x264-crf28", "libx264", 28),
        k("x265-crf30", "libx265", 30),
        k("vp9-crf42", "libvpx-vp9", 42),
        k("av1-crf40", "libsvtav1", 40),
        k("camera", "libx264", 24, scaler="area", noise=4.0),
    ]
    return {p.name: p for p in table}


SOURCE_KINDS = tuple(_kinds(2))


def source_kind(name: str, scale: int, seed: int = 0) -> SourceParams:
    """The fixed evaluation kind ``name`` (``SOURCE_KINDS``) at ``scale``."""
    table = _kinds(scale)
    if name not in table:
        raise ValueError(f"unknown source kind '{name}' (choose from {', '.join(SOURCE_KINDS)})")
    return dataclasses.replace(table[name], seed=seed)


def sample_source(scale: int, rng: np.random.Generator) -> SourceParams:
    """A random training source: any scaler; 10% no codec (4:2:0 only), otherwise x264 45%, x265 20%,
    VP9 15%, AV1 20% at a CRF drawn over the codec's everyday range; sensor noise on a quarter."""
    scaler = str(rng.choice(SCALERS))
    noise = float(rng.uniform(1.0, 6.0)) if rng.random() < 0.25 else 0.0
    if rng.random() < 0.1:
        return SourceParams(scale, scaler, None, 0, "", noise, int(rng.integers(2**31)))
    codec = str(rng.choice(list(CODECS), p=[0.45, 0.2, 0.15, 0.2]))
    spec = CODECS[codec]
    lo, hi = spec.crf_range
    crf = int(rng.integers(lo, hi + 1))
    preset = str(rng.choice(spec.train_presets))
    return SourceParams(scale, scaler, codec, crf, preset, noise, int(rng.integers(2**31)))


def _downscale(hq_THWC: np.ndarray, size_hw: tuple[int, int], scaler: str) -> np.ndarray:
    h, w = size_hw
    if scaler == "torch-bicubic":
        x = torch.from_numpy(hq_THWC).permute(0, 3, 1, 2).float()
        y = F.interpolate(x, size=(h, w), mode="bicubic", antialias=True, align_corners=False)
        return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()
    if scaler not in _SWS:
        raise ValueError(f"unknown scaler '{scaler}' (choose from {', '.join(SCALERS)})")
    out = [
        av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")
        .reformat(width=w, height=h, format="rgb24", interpolation=_SWS[scaler])
        .to_ndarray()
        for f in hq_THWC
    ]
    return np.stack(out)


def _encoder(codec: str, crf: int, preset: str, w: int, h: int) -> av.CodecContext:
    enc = av.CodecContext.create(codec, "w")
    enc.width, enc.height, enc.pix_fmt = w, h, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, 25), Fraction(25, 1)
    enc.thread_count = 1
    opts = {"crf": str(crf)}
    if codec == "libx264":
        opts |= {"preset": preset, "threads": "1"}
    elif codec == "libx265":
        opts |= {"preset": preset, "x265-params": "log-level=error:pools=none:frame-threads=1"}
    elif codec == "libvpx-vp9":
        enc.bit_rate = 0  # constant quality
        opts |= {"b": "0", "cpu-used": preset, "deadline": "good", "row-mt": "0"}
    elif codec == "libsvtav1":
        opts |= {"preset": preset, "svtav1-params": "lp=1"}
    enc.options = opts
    return enc


def _encode_decode(yuv: list[av.VideoFrame], p: SourceParams) -> list[np.ndarray]:
    assert p.codec is not None
    fill_fresh_memory()  # encoders read heap memory they never wrote: keep that repeatable
    w, h = yuv[0].width, yuv[0].height
    enc = _encoder(p.codec, p.crf, p.preset, w, h)
    packets = []
    for t, frame in enumerate(yuv):
        frame.pts = t
        packets.extend(enc.encode(frame))
    packets.extend(enc.encode(None))
    dec = av.CodecContext.create(CODECS[p.codec].decoder, "r")
    dec.thread_count = 1
    if enc.extradata:
        dec.extradata = enc.extradata
    out = [f for pkt in packets for f in dec.decode(pkt)]
    out.extend(dec.decode(None))
    if len(out) != len(yuv):
        raise RuntimeError(f"{p.codec} round trip returned {len(out)} frames for {len(yuv)}")
    return [f.to_ndarray(format="rgb24") for f in out]


def make_source(hq_THWC: np.ndarray, p: SourceParams) -> np.ndarray:
    """The LQ clip ``T x H/s x W/s x 3`` (uint8 RGB) that ``p`` makes from the HQ clip ``hq_THWC``.

    Scale, add sensor noise, convert to 4:2:0 (BT.601, limited range, as an encoder receives it), encode
    the frames in order as one sequence, decode, convert back to RGB. The LQ size is rounded down to
    even (4:2:0 needs it): crop the HQ to a multiple of ``2 * scale`` to keep the two aligned.
    """
    if hq_THWC.dtype != np.uint8 or hq_THWC.ndim != 4:
        raise ValueError("make_source takes uint8 frames T x H x W x 3")
    T, H, W, _ = hq_THWC.shape
    h, w = H // p.scale // 2 * 2, W // p.scale // 2 * 2
    lq = _downscale(hq_THWC, (h, w), p.scaler)
    if p.noise_sigma > 0:
        rng = np.random.default_rng(p.seed)
        lq = np.clip(lq + rng.normal(0.0, p.noise_sigma, lq.shape), 0, 255).round().astype(np.uint8)
    if p.codec is not None:
        m = CODECS[p.codec].min_side
        lq = np.pad(lq, ((0, 0), (0, max(m - h, 0)), (0, max(m - w, 0)), (0, 0)), mode="edge")
    yuv = [av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24").reformat(format="yuv420p") for f in lq]
    if p.codec is None:
        return np.stack([f.to_ndarray(format="rgb24") for f in yuv])
    return np.ascontiguousarray(np.stack(_encode_decode(yuv, p))[:, :h, :w])


def pan_clip(img_HWC: np.ndarray, size_hw: tuple[int, int], frames: int, rng: np.random.Generator,
             max_speed: float = 3.0) -> np.ndarray:
    """``frames`` crops of ``size_hw`` from a still photograph along a straight pan (integer HQ pixels per
    frame, up to ``max_speed``), so an encoder sees camera-like motion and predicts between frames."""
    h, w = size_hw
    H, W = img_HWC.shape[:2]
    if h > H or w > W:
        raise ValueError(f"a {h}x{w} pan does not fit in a {H}x{W} picture")
    vy, vx = (rng.uniform(-max_speed, max_speed, size=2)).tolist()
    span_y, span_x = abs(vy) * (frames - 1), abs(vx) * (frames - 1)
    if H < h + span_y + 1 or W < w + span_x + 1:
        vy = vx = span_y = span_x = 0.0
    y0 = rng.uniform(span_y if vy < 0 else 0, H - h - (span_y if vy > 0 else 0))
    x0 = rng.uniform(span_x if vx < 0 else 0, W - w - (span_x if vx > 0 else 0))
    out = []
    for t in range(frames):
        y, x = int(round(y0 + vy * t)), int(round(x0 + vx * t))
        y, x = min(max(y, 0), H - h), min(max(x, 0), W - w)
        out.append(img_HWC[y : y + h, x : x + w])
    return np.ascontiguousarray(np.stack(out))
