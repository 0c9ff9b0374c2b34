"""Degradation vectors of a torch batch: what a conditioned model measures when it is called directly.

In the pipeline the degrade-analysis stage hands each frame's vector to the SR stage; a model called
on its own (the Python API, the quality harness, training evaluation) measures its input frames here,
with the same estimators on the same 8-bit values.
"""

from __future__ import annotations

import numpy as np
import torch

from vidsr.analysis.estimators import degradation_vector

__all__ = ["batch_degradations"]


def batch_degradations(x_BCHW: torch.Tensor) -> torch.Tensor:
    """``B x F`` float32 (layout: ``DEGRADATION_FIELDS``) of a float RGB batch in [0, 1]."""
    imgs = (x_BCHW.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return torch.from_numpy(np.stack([degradation_vector(im) for im in imgs]))
