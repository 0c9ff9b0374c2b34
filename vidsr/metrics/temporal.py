"""Temporal flicker: how much consecutive output frames disagree once motion is compensated.

The flow comes from the ground truth (HQ) frames, so the output is judged against the true motion, not
against motion it invented. Each previous output frame is warped to the next with that flow and the mean
absolute luma difference is taken over pixels that are visible in both frames (forward-backward
consistent flow, inside the frame). The same measurement on the ground truth itself gives the floor
that flow error and interpolation leave; the output's excess over it is the flicker the model adds.

Flow is OpenCV's DIS optical flow (``opencv-python-headless``, imported only here), unless the caller
passes flows known by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["FlickerResult", "Motion", "dis_flow", "warp", "consistency_mask", "reference_motion", "warping_error",
           "flicker"]

Flow = np.ndarray  # H x W x 2 float32 (dx, dy): the pixel at (x, y) in frame b came from (x+dx, y+dy) in a


def _grey(image: np.ndarray) -> np.ndarray:
    a = image.astype(np.float32) * (1.0 / (255.0 if image.dtype == np.uint8 else 65535.0))
    return a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def dis_flow(a: np.ndarray, b: np.ndarray) -> Flow:
    """Dense flow from frame ``b`` back to frame ``a`` (for each pixel of ``b``, where it was in ``a``)."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    ga = (np.clip(_grey(a), 0, 1) * 255).astype(np.uint8)
    gb = (np.clip(_grey(b), 0, 1) * 255).astype(np.uint8)
    return dis.calc(gb, ga, None)


def warp(image_HW: np.ndarray, flow: Flow) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``image_HW`` at ``(x, y) + flow`` (bilinear); also the mask of samples inside the frame."""
    h, w = image_HW.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    sx, sy = xs + flow[..., 0], ys + flow[..., 1]
    grid = torch.from_numpy(np.stack([sx / max(w - 1, 1) * 2 - 1, sy / max(h - 1, 1) * 2 - 1], -1))[None]
    out = F.grid_sample(torch.from_numpy(image_HW)[None, None], grid, mode="bilinear", align_corners=True)
    inside = (sx >= 0) & (sx <= w - 1) & (sy >= 0) & (sy <= h - 1)
    return out[0, 0].numpy(), inside


def consistency_mask(back: Flow, forward: Flow) -> np.ndarray:
    """Pixels of ``b`` whose flow back to ``a`` and the flow forward from there return near the start.

    The usual occlusion test (Sundaram et al. 2010): the round trip may miss by a small absolute amount
    plus a fraction of the motion's own size.
    """
    fx, inside_x = warp(forward[..., 0], back)
    fy, _ = warp(forward[..., 1], back)
    miss = (back[..., 0] + fx) ** 2 + (back[..., 1] + fy) ** 2
    size = (back**2).sum(-1) + fx**2 + fy**2
    return inside_x & (miss <= 0.01 * size + 0.5)


def warping_error(frames: Sequence[np.ndarray], flows: Sequence[Flow], masks: Sequence[np.ndarray]) -> float:
    """Mean |Y_t - warp(Y_{t-1})| in 8-bit units over the masked pixels of all consecutive pairs."""
    total, count = 0.0, 0
    for t in range(1, len(frames)):
        prev, inside = warp(_grey(frames[t - 1]), flows[t - 1])
        m = masks[t - 1] & inside
        diff = np.abs(_grey(frames[t]) - prev)[m]
        total += float(diff.sum())
        count += int(diff.size)
    return 255.0 * total / max(count, 1)


@dataclass
class FlickerResult:
    """Warping errors (8-bit luma units): the output's, the ground truth's own, and the excess."""

    output: float
    reference: float
    masked_fraction: float  # share of pixels kept as non-occluded

    @property
    def excess(self) -> float:
        return self.output - self.reference

    def as_dict(self) -> dict[str, float]:
        return {"output": round(self.output, 4), "reference": round(self.reference, 4),
                "excess": round(self.excess, 4), "masked_fraction": round(self.masked_fraction, 4)}


@dataclass
class Motion:
    """The reference's motion, computed once and reused for every model: back flows and visible masks."""

    back: list[Flow]
    masks: list[np.ndarray]


def reference_motion(
    reference: Sequence[np.ndarray], flow_fn: Callable[[np.ndarray, np.ndarray], Flow] = dis_flow
) -> Motion:
    """Flow from each reference frame back to the previous one, and where that flow is trustworthy."""
    back = [flow_fn(a, b) for a, b in zip(reference, reference[1:])]
    fwd = [flow_fn(b, a) for a, b in zip(reference, reference[1:])]
    return Motion(back, [consistency_mask(bk, fw) for bk, fw in zip(back, fwd)])


def flicker(
    output: Sequence[np.ndarray],
    reference: Sequence[np.ndarray],
    flow_fn: Callable[[np.ndarray, np.ndarray], Flow] = dis_flow,
    motion: Motion | None = None,
) -> FlickerResult:
    """Flicker of ``output`` frames against the ``reference`` (ground truth) frames of the same size.

    The flow and the occlusion masks come from the reference (pass ``motion`` to reuse them).
    """
    if len(output) != len(reference) or len(output) < 2:
        raise ValueError("flicker needs two or more output frames, as many as the reference has")
    if output[0].shape[:2] != reference[0].shape[:2]:
        raise ValueError(f"output {output[0].shape[:2]} and reference {reference[0].shape[:2]} sizes differ")
    m = motion or reference_motion(reference, flow_fn)
    kept = float(np.mean([k.mean() for k in m.masks]))
    return FlickerResult(warping_error(output, m.back, m.masks), warping_error(reference, m.back, m.masks), kept)
