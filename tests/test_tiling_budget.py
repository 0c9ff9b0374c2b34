"""Tiling only above a memory budget, blend weights built once, and the integer upload a GPU gets.

Issue 21: ``tile: 512`` made a 480p run 1.8x slower than whole frames at bit-identical output; issue 22:
blend weights were built on the host and copied up per window. Small bicubic batches stand in for a
model: the question is which calls the tiler makes and what it builds, not the model's output.
"""

from __future__ import annotations

import numpy as np
import torch

from vidsr.sr import tiling
from vidsr.sr.batch import SRBatch, as_batch
from vidsr.sr.classical import Bicubic
from vidsr.sr.tiling import upscale_tiled
from vidsr.stages.sr import frames_to_tensor


class Counting(Bicubic):
    """Bicubic that records the batch shape of every call and the degradation vectors it was given."""

    def __init__(self) -> None:
        super().__init__(2, torch.device("cpu"))
        self.calls: list[tuple[int, ...]] = []
        self.seen: list[torch.Tensor | None] = []

    def __call__(self, batch: SRBatch | torch.Tensor) -> torch.Tensor:
        batch = as_batch(batch)
        self.calls.append(tuple(batch.x_BCHW.shape))
        self.seen.append(batch.degradation_BF)
        return super().__call__(batch)


def test_a_frame_under_the_budget_runs_whole_whatever_the_tile_size() -> None:
    x = torch.rand(2, 3, 40, 56)
    model = Counting()
    out = upscale_tiled(model, x, tile=16, overlap=4, budget_pixels=40 * 56 * 2)
    assert model.calls == [(2, 3, 40, 56)] and torch.equal(out, Bicubic(2, x.device)(x))


def test_a_batch_over_the_budget_is_cut_into_whole_frames_with_their_own_vectors() -> None:
    x = torch.rand(3, 3, 40, 56)
    model = Counting()
    batch = SRBatch(x, torch.arange(12, dtype=torch.float32).reshape(3, 4))
    out = upscale_tiled(model, batch, tile=16, overlap=4, budget_pixels=40 * 56 * 2)
    assert model.calls == [(2, 3, 40, 56), (1, 3, 40, 56)]
    assert [v.tolist() for v in model.seen] == [batch.degradation_BF[:2].tolist(), batch.degradation_BF[2:].tolist()]
    assert batch.degradation_BF.shape == (3, 4)  # the caller's vectors untouched
    assert torch.equal(out, Bicubic(2, x.device)(x))


def test_a_frame_over_the_budget_is_tiled_and_blend_weights_are_built_once_per_shape() -> None:
    x = torch.rand(1, 3, 40, 56)
    tiling._tile_weight.cache_clear()
    model = Counting()
    whole = Bicubic(2, x.device)(x)
    out = upscale_tiled(model, x, tile=16, overlap=4, budget_pixels=100)
    assert model.calls[0][0] > 1 and (out - whole).abs().max() < 1e-4
    built = tiling._tile_weight.cache_info().misses
    assert built <= 9  # corner, edge and inner tiles: at most 9 distinct weights, however many tiles
    upscale_tiled(Counting(), x, tile=16, overlap=4, budget_pixels=100)
    assert tiling._tile_weight.cache_info().misses == built  # the next frame builds nothing


def test_the_integer_upload_widened_on_the_device_equals_the_host_conversion() -> None:
    """On CUDA frames go up as uint8, or uint16 as int16 bits, and are widened there: forced on a CPU."""
    rng = np.random.default_rng(0)
    for dtype, peak in ((np.uint8, 255), (np.uint16, 65535)):
        images = [rng.integers(0, peak + 1, (6, 10, 3), dtype=dtype) for _ in range(2)]
        images[0][0, 0] = peak  # the top of the range: 65535 is -1 as int16
        host = frames_to_tensor(images, torch.device("cpu"), widen_on_device=False)
        device = frames_to_tensor(images, torch.device("cpu"), widen_on_device=True)
        assert torch.equal(host, device) and device[0, :, 0, 0].eq(1.0).all()
