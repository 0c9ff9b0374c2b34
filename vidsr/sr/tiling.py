"""Run an SR model over overlapping tiles, batched, and blend them back without seams.

``TileGrid`` (where the tiles and their crops are) and ``Blender`` (the cross-fade) are also used on
their own by models that decide per tile what to compute (the ``var`` model's token cache).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vidsr.sr.base import SuperResolver

__all__ = ["tile_starts", "upscale_tiled", "TileGrid", "Blender"]


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` shared pixels.

    The last tile is pulled back to end exactly at the border, so every tile has the same size and
    tiles of all frames of a batch stack into one tensor.
    """
    if tile >= length:
        return [0]
    stride = max(tile - overlap, 1)
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> torch.Tensor:
    """1-D blend weight: rises over the overlap where a neighbour tile exists, flat elsewhere."""
    w = torch.ones(length)
    if overlap <= 0:
        return w
    ramp = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
    if not at_start:
        w[:overlap] = torch.minimum(w[:overlap], ramp)
    if not at_end:
        w[-overlap:] = torch.minimum(w[-overlap:], ramp.flip(0))
    return w


@dataclass(frozen=True)
class TileGrid:
    """Tiles of ``th x tw`` LQ pixels at ``boxes`` (top-left), each read from a ``ch x cw`` crop at the
    same-index ``origins`` (up to ``context`` extra pixels each side, slid inwards at the border so all
    crops have one size and a border tile sees the real border). ``whole``: one tile, the frame itself."""

    H: int
    W: int
    th: int
    tw: int
    ch: int
    cw: int
    overlap: int
    boxes: tuple[tuple[int, int], ...]
    origins: tuple[tuple[int, int], ...]

    @classmethod
    def make(cls, H: int, W: int, tile: int, overlap: int, context: int) -> TileGrid:
        """The grid ``upscale_tiled`` uses; a frame of at most ``tile**2`` pixels (or ``tile <= 0``) is one tile."""
        if tile <= 0 or H * W <= tile * tile:
            return cls(H, W, H, W, H, W, 0, ((0, 0),), ((0, 0),))
        th, tw = min(tile, H), min(tile, W)
        ch, cw = min(H, th + 2 * context), min(W, tw + 2 * context)
        boxes = tuple((y, x) for y in tile_starts(H, th, overlap) for x in tile_starts(W, tw, overlap))
        # crop origin per tile: centred on the tile, clamped inside the frame
        origins = tuple(
            (min(max(y - (ch - th) // 2, 0), H - ch), min(max(x - (cw - tw) // 2, 0), W - cw)) for y, x in boxes
        )
        return cls(H, W, th, tw, ch, cw, overlap, boxes, origins)

    @property
    def whole(self) -> bool:
        return len(self.boxes) == 1 and self.th == self.H and self.tw == self.W

    def crop(self, x_BCHW: torch.Tensor, i: int) -> torch.Tensor:
        cy, cx = self.origins[i]
        return x_BCHW[:, :, cy : cy + self.ch, cx : cx + self.cw]


class Blender:
    """Accumulates upscaled crops of a :class:`TileGrid` with cross-fade ramps; :meth:`result` divides."""

    def __init__(self, grid: TileGrid, scale: int, B: int, C: int, dtype: torch.dtype, device: torch.device) -> None:
        self.grid, self.scale = grid, scale
        self.out = torch.zeros(B, C, grid.H * scale, grid.W * scale, device=device, dtype=dtype)

    def add(self, i: int, up_BCHW: torch.Tensor, frames: slice = slice(None)) -> None:
        """Blend tile ``i``'s upscaled crop (``B' x C x ch*s x cw*s``) into ``frames`` of the output."""
        g, s = self.grid, self.scale
        (y, x), (cy, cx) = g.boxes[i], g.origins[i]
        oy, ox = (y - cy) * s, (x - cx) * s
        tile_up = up_BCHW[:, :, oy : oy + g.th * s, ox : ox + g.tw * s].to(self.out.dtype)
        self.out[frames, :, y * s : (y + g.th) * s, x * s : (x + g.tw) * s] += tile_up * self._weight(i)

    def _weight(self, i: int) -> torch.Tensor:
        g, s = self.grid, self.scale
        y, x = g.boxes[i]
        wy = _ramp(g.th * s, g.overlap * s, y == 0, y + g.th == g.H)
        wx = _ramp(g.tw * s, g.overlap * s, x == 0, x + g.tw == g.W)
        return (wy[:, None] * wx[None, :]).to(self.out)

    def result(self) -> torch.Tensor:
        """The blend: the accumulated tiles over the summed weights (every tile of every frame added)."""
        g, s = self.grid, self.scale
        weight = torch.zeros(1, 1, g.H * s, g.W * s, device=self.out.device, dtype=self.out.dtype)
        for i, (y, x) in enumerate(g.boxes):
            weight[:, :, y * s : (y + g.th) * s, x * s : (x + g.tw) * s] += self._weight(i)
        return self.out.div_(weight)


@torch.inference_mode()
def upscale_tiled(
    model: SuperResolver, x_BCHW: torch.Tensor, tile: int, overlap: int, max_batch: int = 16
) -> torch.Tensor:
    """Upscale ``x_BCHW`` with ``model`` in ``tile`` x ``tile`` pieces; a frame of at most ``tile**2``
    pixels (or ``tile <= 0``) runs whole, since tiling bounds memory by area and costs extra compute.
    A model with ``tiles_itself`` set (it cuts its own windows and bounds its own memory) runs whole too.

    Each tile is cropped with up to ``model.context`` extra pixels each side (discarded after the
    model), the crop window slid inwards at the frame border so that all crops have one size and
    stack into a batch, and a border tile sees the real border as it would in the whole frame.
    Neighbouring tiles overlap by ``overlap`` low-resolution pixels and are cross-faded with ramps.
    """
    B, C, H, W = x_BCHW.shape
    grid = TileGrid.make(H, W, tile, overlap, model.context)
    if grid.whole or getattr(model, "tiles_itself", False):
        return model(x_BCHW)
    if hasattr(model, "degradation") and model.degradation is None:
        # a model conditioned on degrade-analysis's vector, called without one: measure the whole frames
        # here, so every tile of a frame is run with that frame's vector (a tile's own would differ)
        from vidsr.analysis.batch import batch_degradations

        frames = x_BCHW if x_BCHW.dtype.is_floating_point else x_BCHW.float() / 255.0
        model.degradation = batch_degradations(frames).numpy()
        try:
            return upscale_tiled(model, x_BCHW, tile, overlap, max_batch)
        finally:
            model.degradation = None
    blend_dtype = x_BCHW.dtype if x_BCHW.dtype.is_floating_point else torch.float32
    blender = Blender(grid, model.scale, B, C, blend_dtype, x_BCHW.device)
    per_call = max(1, max_batch // B)
    n = len(grid.boxes)
    for i in range(0, n, per_call):
        idx = range(i, min(i + per_call, n))
        up = model(torch.cat([grid.crop(x_BCHW, k) for k in idx], dim=0))
        for j, k in enumerate(idx):
            blender.add(k, up[j * B : (j + 1) * B])
    out = blender.result()
    if not x_BCHW.dtype.is_floating_point:  # an integer model's tiles blend in float, then round back
        out = out.round_().clamp_(0, torch.iinfo(x_BCHW.dtype).max).to(x_BCHW.dtype)
    return out
