"""``upscale_tiled`` blends row by row (``RowBlender``): bit for bit the whole-frame ``Blender`` and a final cast,
in every dtype a model returns, with a band that never holds more than one row of tiles."""

from __future__ import annotations

import pytest
import torch

from vidsr.sr.tiling import Blender, RowBlender, TileGrid, upscale_tiled


class Up(torch.nn.Module):
    """A x2 'model' whose tiles differ where their crops differ (so a wrong blend shows): nearest upscale plus a
    ripple from the crop's own position-dependent content."""

    scale = 2
    context = 3

    class capabilities:  # noqa: N801  (what upscale_tiled reads of a SuperResolver)
        tiles_itself = False
        conditioned = False

    def forward(self, batch) -> torch.Tensor:  # noqa: ANN001
        x = batch.x_BCHW if hasattr(batch, "x_BCHW") else batch
        up = torch.nn.functional.interpolate(x.float(), scale_factor=2, mode="nearest")
        ripple = torch.sin(torch.arange(up.shape[-1], dtype=torch.float32) * 0.37)[None, None, None, :]
        out = up + (ripple * 7 if not x.dtype.is_floating_point else ripple * 0.03)
        if not x.dtype.is_floating_point:
            return out.round().clamp(0, torch.iinfo(x.dtype).max).to(x.dtype)
        return out.to(x.dtype)


def _reference(model: Up, x: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """The blend as it was before rows were streamed: a whole-frame float accumulator, divided, then cast."""
    B, C, H, W = x.shape
    grid = TileGrid.make(H, W, tile, overlap, model.context)
    blend = torch.float64 if x.dtype == torch.float64 else torch.float32
    blender = Blender(grid, 2, B, C, blend, x.device)
    for i in range(len(grid.boxes)):
        blender.add(i, model(grid.crop(x, i)))
    out = blender.result()
    if not x.dtype.is_floating_point:
        out = out.round_().clamp_(0, torch.iinfo(x.dtype).max)
    return out.to(x.dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize(("H", "W", "tile", "overlap"), [(37, 53, 16, 4), (64, 40, 20, 6), (23, 90, 12, 1)])
def test_row_blend_equals_the_whole_frame_blend(dtype: torch.dtype, H: int, W: int, tile: int, overlap: int) -> None:
    g = torch.Generator().manual_seed(H * W)
    x = torch.rand(2, 3, H, W, generator=g)
    x = (x * 255).round().to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)
    model = Up()
    got = upscale_tiled(model, x, tile, overlap, max_batch=6)  # type: ignore[arg-type]
    want = _reference(model, x, tile, overlap)
    assert got.dtype == dtype and got.shape == want.shape
    assert torch.equal(got, want)
    if dtype == torch.uint8:  # handed on channels-last: the frames' own layout, no whole-frame copy to make it
        assert got.permute(0, 2, 3, 1).is_contiguous()


def test_the_band_holds_one_row_of_tiles_and_tiles_must_come_in_order() -> None:
    H, W, tile, overlap = 70, 30, 16, 4
    grid = TileGrid.make(H, W, tile, overlap, 3)
    blender = RowBlender(grid, 2, 1, 3, torch.float32, torch.uint8, torch.device("cpu"))
    x = torch.randint(0, 256, (1, 3, H, W), dtype=torch.uint8)
    most = 0
    for i in range(len(grid.boxes)):
        blender.add(i, Up()(grid.crop(x, i)))
        most = max(most, blender.acc.shape[2])
    assert most <= (tile + overlap) * 2 < H * 2  # never the whole frame's rows
    assert torch.equal(blender.result(), _reference(Up(), x, tile, overlap))
    fresh = RowBlender(grid, 2, 1, 3, torch.float32, torch.uint8, torch.device("cpu"))
    with pytest.raises(ValueError, match="grid order"):
        fresh.add(1, Up()(grid.crop(x, 1)))
    with pytest.raises(ValueError, match="tiles"):
        fresh.result()
