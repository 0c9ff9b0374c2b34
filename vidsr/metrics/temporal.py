"""Temporal flicker: how much consecutive output frames disagree once motion is compensated.

The flow comes from the ground truth (HQ) frames, so the output is judged against the true motion, not
against motion it invented. Each previous output frame is warped to the next with that flow and the mean
absolute luma difference is taken over pixels that are visible in both frames (forward-backward
consistent flow, inside the frame). The same measurement on the ground truth itself gives the floor
that flow error and interpolation leave; the output's excess over it is the flicker the model adds.

Flow is OpenCV's DIS optical flow (:mod:`vidsr.temporal.flow`, shared with the temporal-smoothing stage),
unless the caller passes flows known by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from vidsr.temporal.flow import Flow, consistency_mask, dis_flow, grey, warp

__all__ = ["FlickerResult", "Motion", "dis_flow", "warp", "consistency_mask", "reference_motion", "warping_error",
           "flicker"]

def warping_error(frames: Sequence[np.ndarray], flows: Sequence[Flow], masks: Sequence[np.ndarray]) -> float:
    """Mean |Y_t - warp(Y_{t-1})| in 8-bit units over the masked pixels of all consecutive pairs."""
    total, count = 0.0, 0
    for t in range(1, len(frames)):
        prev, inside = warp(grey(frames[t - 1]), flows[t - 1])
        m = masks[t - 1] & inside
        diff = np.abs(grey(frames[t]) - prev)[m]
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
