"""Build small real test clips with PyAV from real photographs (scikit-image's bundled pictures).

Every clip is a pan across a photograph, so frames differ the way camera footage does, and the
ground truth (which crop each frame is) is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from skimage import data as skdata


def photo(name: str = "astronaut") -> np.ndarray:
    """A real photograph as HxWx3 uint8."""
    img = getattr(skdata, name)()
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3])


def pan_frames(n: int, width: int, height: int, name: str = "astronaut", step: int = 3) -> list[np.ndarray]:
    """``n`` crops of ``width`` x ``height`` moving right and down by ``step`` pixels a frame."""
    img = photo(name)
    frames = []
    for i in range(n):
        y = (i * step) % max(img.shape[0] - height, 1)
        x = (i * step * 2) % max(img.shape[1] - width, 1)
        frames.append(np.ascontiguousarray(img[y : y + height, x : x + width]))
    return frames


@dataclass
class ClipSpec:
    frames: int = 12
    width: int = 96
    height: int = 64
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    rate: int = 25
    time_base: Fraction = Fraction(1, 12800)
    pts: list[int] | None = None  # explicit timestamps (variable frame rate); default constant rate
    audio: str | None = "aac"  # audio codec, or None for no audio
    audio_rate: int = 48000
    subtitles: list[tuple[float, float, str]] = field(default_factory=list)  # (start s, end s, text)
    rotation: int = 0
    colour: dict[str, int] = field(default_factory=dict)  # color_range/colorspace/color_primaries/color_trc
    metadata: dict[str, str] = field(default_factory=dict)
    stream_language: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    photo: str = "astronaut"


def make_clip(path: Path, spec: ClipSpec | None = None) -> Path:
    """Encode a clip described by ``spec`` to ``path`` (container from the extension)."""
    spec = spec or ClipSpec()
    images = pan_frames(spec.frames, spec.width, spec.height, spec.photo)
    deep = "10" in spec.pix_fmt or "12" in spec.pix_fmt
    step = int(round(1 / (spec.rate * spec.time_base)))
    pts = spec.pts or [i * step for i in range(spec.frames)]
    with av.open(str(path), "w") as out:
        out.metadata.update(spec.metadata)
        v = out.add_stream(spec.codec, rate=spec.rate)
        v.width, v.height, v.pix_fmt = spec.width, spec.height, spec.pix_fmt
        v.time_base = spec.time_base
        v.codec_context.time_base = spec.time_base
        opts = {"preset": "ultrafast", **spec.options} if spec.codec.startswith("libx26") else dict(spec.options)
        if spec.codec == "libx265":
            opts["x265-params"] = ":".join(x for x in (opts.get("x265-params"), "log-level=error") if x)
        v.options = opts
        for key, value in spec.colour.items():
            setattr(v.codec_context, key, value)
        if spec.rotation:
            v.set_display_rotation(spec.rotation)
        if spec.stream_language:
            v.metadata["language"] = spec.stream_language
        a = None
        if spec.audio:
            a = out.add_stream(spec.audio, rate=spec.audio_rate)
            a.layout = "stereo"
            a.metadata["language"] = "eng"
        s = srt = None
        if spec.subtitles:
            srt = av.open(str(_write_srt(path.with_suffix(".srt"), spec.subtitles)))
            s = out.add_stream_from_template(srt.streams[0])
            s.metadata["language"] = "fra"
        for img, t in zip(images, pts):
            if deep:
                img16 = (img.astype(np.uint16) * 257)
                frame = av.VideoFrame.from_ndarray(img16, format="rgb48le")
            else:
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            space = spec.colour.get("colorspace")
            frame = frame.reformat(format=spec.pix_fmt, dst_colorspace=space if space not in (None, 2) else None,
                                   dst_color_range=spec.colour.get("color_range") or None)
            frame.pts, frame.time_base = t, spec.time_base
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
        if a is not None:
            duration = float((pts[-1] + step) * spec.time_base)
            n = int(duration * spec.audio_rate)
            t_ = np.arange(n) / spec.audio_rate
            wave = (0.2 * np.sin(2 * np.pi * 440 * t_)).astype(np.float32)
            stereo = np.stack([wave, wave])
            for start in range(0, n, 1024):
                chunk = np.ascontiguousarray(stereo[:, start : start + 1024])
                af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                af.sample_rate = spec.audio_rate
                af.pts, af.time_base = start, Fraction(1, spec.audio_rate)
                out.mux(a.encode(af))
            out.mux(a.encode(None))
        if s is not None and srt is not None:
            for packet in srt.demux():
                if packet.size:
                    packet.stream = s
                    out.mux(packet)
            srt.close()
    return path


def _write_srt(path: Path, cues: list[tuple[float, float, str]]) -> Path:
    def ts(t: float) -> str:
        ms = int(round(t * 1000))
        return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"

    path.write_text("".join(f"{i + 1}\n{ts(a)} --> {ts(b)}\n{text}\n\n" for i, (a, b, text) in enumerate(cues)))
    return path


def scene_clip(path: Path, frames: int, cuts: list[int], width: int = 96, height: int = 64) -> Path:
    """Pans over different photographs with hard cuts at the frames in ``cuts``, keyframes every 10 frames
    whether a cut is there or not (so the cuts fall between keyframes), no audio."""
    names = ["astronaut", "coffee", "chelsea", "rocket", "coins"]
    bounds = [0, *cuts, frames]
    images = [img for i in range(len(bounds) - 1)
              for img in pan_frames(bounds[i + 1] - bounds[i], width, height, names[i % len(names)])]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = {"preset": "ultrafast", "g": "10", "sc_threshold": "0"}
        for i, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def decoded_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [round(float(f.pts * f.time_base), 6) for f in c.decode(video=0)]


def packet_bytes(path: Path, kind: str) -> list[bytes]:
    with av.open(str(path)) as c:
        streams = [s for s in c.streams if s.type == kind]
        return [bytes(p) for p in c.demux(streams[0]) if p.size]
