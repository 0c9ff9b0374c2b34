"""Algorithms that use time: optical flow and warping helpers, and the flow-guided smoother that the
temporal-smoothing stage (``vidsr.stages.temporal_smoothing``) runs."""

from vidsr.temporal.flow import consistency_mask, dis_flow, warp
from vidsr.temporal.smoothing import Smoother, SmootherParams

__all__ = ["dis_flow", "warp", "consistency_mask", "Smoother", "SmootherParams"]
