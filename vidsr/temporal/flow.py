"""Dense optical flow and warping, shared by the flicker metric and the temporal-smoothing stage.

Flow is OpenCV's DIS optical flow: a well-kept, fast CPU implementation (a few ms per 320x136 frame with
the ``fast`` preset), so nothing here is hand-written beyond the warp and the forward-backward check.
A flow ``F`` for the pair ``(a, b)`` is H x W x 2 float32 ``(dx, dy)``: the pixel at ``(x, y)`` in ``b``
came from ``(x + dx, y + dy)`` in ``a``.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

__all__ = ["Flow", "DIS_PRESETS", "INTERPOLATION", "grey", "grey8", "dis_flow", "DISFlow", "warp",
           "pixel_grid", "consistency_mask"]

Flow = np.ndarray  # H x W x 2 float32 (dx, dy): the pixel at (x, y) in frame b came from (x+dx, y+dy) in a

DIS_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
INTERPOLATION = {"nearest": cv2.INTER_NEAREST, "linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def grey(image: np.ndarray) -> np.ndarray:
    """BT.601 luma in [0, 1] as float32, at the image's full precision (uint8 or uint16 RGB in)."""
    a = image.astype(np.float32) * (1.0 / (255.0 if image.dtype == np.uint8 else 65535.0))
    return a @ _LUMA


def grey8(luma: np.ndarray) -> np.ndarray:
    """Luma in [0, 1] as the 8-bit image DIS wants (flow needs no more precision than that)."""
    return (np.clip(luma, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


class DISFlow:
    """One DIS instance reused across frames (its buffers are kept); ``__call__(a8, b8)`` is the back flow
    from grey 8-bit frame ``b8`` to ``a8``."""

    def __init__(self, preset: str = "medium") -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset '{preset}' (choose from {', '.join(DIS_PRESETS)})")
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])

    def __call__(self, a8: np.ndarray, b8: np.ndarray) -> Flow:
        return self._dis.calc(b8, a8, None)


def dis_flow(a: np.ndarray, b: np.ndarray) -> Flow:
    """Dense flow from RGB frame ``b`` back to RGB frame ``a`` (for each pixel of ``b``, where it was in ``a``)."""
    return DISFlow("medium")(grey8(grey(a)), grey8(grey(b)))


@functools.lru_cache(maxsize=8)
def pixel_grid(h: int, w: int) -> np.ndarray:
    """H x W x 2 float32 pixel coordinates (x, y), cached per size (read-only): ``grid + flow`` is a remap map."""
    grid = np.empty((h, w, 2), np.float32)
    grid[..., 0] = np.arange(w, dtype=np.float32)[None, :]
    grid[..., 1] = np.arange(h, dtype=np.float32)[:, None]
    grid.setflags(write=False)
    return grid


def warp(image: np.ndarray, flow: Flow, interpolation: str = "linear") -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image`` (H x W or H x W x C, any dtype OpenCV remaps: uint8, uint16, float32) at
    ``(x, y) + flow``; also the mask of samples inside the frame (outside ones read as 0)."""
    h, w = flow.shape[:2]
    coords = pixel_grid(h, w) + flow
    out = cv2.remap(image, coords, None, INTERPOLATION[interpolation], borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    xs, ys = coords[..., 0], coords[..., 1]
    return out, (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)


def consistency_mask(back: Flow, forward: Flow) -> np.ndarray:
    """Pixels of ``b`` whose flow back to ``a`` and the flow forward from there return near the start.

    The usual occlusion test (Sundaram et al. 2010): the round trip may miss by a small absolute amount
    plus a fraction of the motion's own size.
    """
    fwd_at, inside = warp(forward, back)
    bx, by, fx, fy = back[..., 0], back[..., 1], fwd_at[..., 0], fwd_at[..., 1]
    miss = (bx + fx) ** 2 + (by + fy) ** 2
    size = bx * bx + by * by + fx * fx + fy * fy
    return inside & (miss <= 0.01 * size + 0.5)
