"""Stages that use time: optical flow and warping helpers, and the temporal-smoothing stage."""

from vidsr.temporal.flow import consistency_mask, dis_flow, warp
from vidsr.temporal.smoothing import TemporalSmoothing, TemporalSmoothingParams

__all__ = ["dis_flow", "warp", "consistency_mask", "TemporalSmoothing", "TemporalSmoothingParams"]
