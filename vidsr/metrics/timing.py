"""Speed of an SR model in the unit that scales with video size: milliseconds per output megapixel."""

from __future__ import annotations

import time

import torch

from vidsr.sr.base import SuperResolver

__all__ = ["ms_per_megapixel"]


@torch.inference_mode()
def ms_per_megapixel(model: SuperResolver, x_BCHW: torch.Tensor, repeats: int = 3, warmup: int = 1) -> float:
    """Best-of-``repeats`` wall time of ``model(x)`` per output megapixel (after ``warmup`` calls).

    The best, not the mean: on a shared machine the other jobs only ever add time, so the minimum is
    the closest to the model's own cost.
    """
    for _ in range(warmup):
        model(x_BCHW)
    best = float("inf")
    for _ in range(repeats):
        if x_BCHW.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        model(x_BCHW)
        if x_BCHW.is_cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    b, _, h, w = x_BCHW.shape
    out_mp = b * h * w * model.scale**2 / 1e6
    return 1000.0 * best / out_mp
