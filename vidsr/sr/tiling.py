"""Run an SR model over overlapping tiles, batched, and blend them back without seams.

``TileGrid`` (where the tiles and their crops are) and ``Blender`` (the cross-fade) are also used on
their own by models that decide per tile what to compute (the ``var`` model's token cache).
``upscale_tiled`` itself blends with ``RowBlender``: its tiles come in row order, so each band of output rows
is finished (divided and narrowed) as soon as the last tile touching it is in, and no whole-frame float
accumulator exists (at 15360x8640 out it and its divisor were 2.1 GB a frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

from vidsr.sr.base import SuperResolver
from vidsr.sr.batch import SRBatch, as_batch

__all__ = ["tile_starts", "upscale_tiled", "TileGrid", "Blender", "RowBlender"]


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


@lru_cache(maxsize=64)
def _tile_weight(
    h: int, w: int, overlap: int, edges: tuple[bool, bool, bool, bool], device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """One tile's ``h x w`` blend weight on ``device`` (edges: top, bottom, left, right are the frame's).

    Built once per tile shape and device, not per tile: a grid has at most 9 distinct weights, while
    building one per window on the host and copying it up cost two blocking copies per window (777
    windows per 1080p ``var`` frame). Same arithmetic as before (float32 on the CPU, then cast), so the
    blend is bit-identical."""
    top, bottom, left, right = edges
    wy = _ramp(h, overlap, top, bottom)
    wx = _ramp(w, overlap, left, right)
    return (wy[:, None] * wx[None, :]).to(device=device, dtype=dtype)


@lru_cache(maxsize=2)
def _weight_sum(grid: TileGrid, scale: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The summed weights of every tile of ``grid`` (the blend's divisor), once per grid, device and dtype.
    Two kept: at 8K output one map is 130 MB, and a run has one frame size (plus ``var``'s window grid)."""
    g, s = grid, scale
    weight = torch.zeros(1, 1, g.H * s, g.W * s, device=device, dtype=dtype)
    for i, (y, x) in enumerate(g.boxes):
        weight[:, :, y * s : (y + g.th) * s, x * s : (x + g.tw) * s] += _grid_weight(g, s, i, device, dtype)
    return weight


def _grid_weight(g: TileGrid, s: int, i: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    y, x = g.boxes[i]
    edges = (y == 0, y + g.th == g.H, x == 0, x + g.tw == g.W)
    return _tile_weight(g.th * s, g.tw * s, g.overlap * s, edges, device, dtype)


def _weighted_tile(g: TileGrid, s: int, i: int, up_BCHW: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Tile ``i``'s own part of its upscaled crop (the context cut away), in ``dtype``, times its blend weight."""
    (y, x), (cy, cx) = g.boxes[i], g.origins[i]
    oy, ox = (y - cy) * s, (x - cx) * s
    tile_up = up_BCHW[:, :, oy : oy + g.th * s, ox : ox + g.tw * s].to(dtype)
    return tile_up * _grid_weight(g, s, i, up_BCHW.device, dtype)


class Blender:
    """Accumulates upscaled crops of a :class:`TileGrid` with cross-fade ramps; :meth:`result` divides."""

    def __init__(self, grid: TileGrid, scale: int, B: int, C: int, dtype: torch.dtype, device: torch.device) -> None:
        self.grid, self.scale = grid, scale
        self.out = torch.zeros(B, C, grid.H * scale, grid.W * scale, device=device, dtype=dtype)

    def add(self, i: int, up_BCHW: torch.Tensor, frames: slice = slice(None)) -> None:
        """Blend tile ``i``'s upscaled crop (``B' x C x ch*s x cw*s``) into ``frames`` of the output."""
        g, s = self.grid, self.scale
        y, x = g.boxes[i]
        weighted = _weighted_tile(g, s, i, up_BCHW, self.out.dtype)
        self.out[frames, :, y * s : (y + g.th) * s, x * s : (x + g.tw) * s] += weighted

    def result(self) -> torch.Tensor:
        """The blend: the accumulated tiles over the summed weights (every tile of every frame added)."""
        return self.out.div_(_weight_sum(self.grid, self.scale, self.out.device, self.out.dtype))


class RowBlender:
    """The :class:`Blender` blend for tiles added in grid order (row by row), streamed: a float band holds only
    the output rows the current row of tiles touches, and rows no later tile reaches are divided by their summed
    weights and written to the output in its final dtype (an integer one rounded and clamped), band by band.

    Bit for bit :class:`Blender` and a final cast: each output pixel sums the same tiles' ``tile x weight`` in
    the same order from zero, its divisor the same weights in the same order, then one division and rounding.
    An integer output is channels-last in memory, the layout the frames leave in (``B x H x W x C``), so no
    whole-frame copy is needed to hand it on."""

    def __init__(self, grid: TileGrid, scale: int, B: int, C: int, acc_dtype: torch.dtype, out_dtype: torch.dtype,
                 device: torch.device) -> None:
        self.grid, self.scale, self.acc_dtype = grid, scale, acc_dtype
        shape = (B, C, grid.H * scale, grid.W * scale)
        layout = torch.contiguous_format if out_dtype.is_floating_point else torch.channels_last
        self.out = torch.empty(shape, dtype=out_dtype, device=device, memory_format=layout)
        self.lo = 0  # first output row not yet written to ``out``: the band's first row
        self.rows = 0  # rows of the band in use (summed into since they were last cleared)
        band = grid.th * scale  # one row of tiles: what the band must hold (earlier rows left are inside it)
        self.acc = torch.zeros(B, C, band, shape[3], dtype=acc_dtype, device=device)
        self.weight = torch.zeros(1, 1, band, shape[3], dtype=acc_dtype, device=device)
        self.next_tile = 0

    def _finish_rows(self, upto: int) -> None:
        """Divide and write output rows [lo, upto) (no tile still to come touches them), then move the band's
        other rows to its top and clear the rest."""
        n = min(upto, self.lo + self.rows) - self.lo
        if n <= 0:
            return
        rows = self.acc[:, :, :n].div_(self.weight[:, :, :n])
        if not self.out.dtype.is_floating_point:  # an integer model's tiles blend in float, then round back
            rows = rows.round_().clamp_(0, torch.iinfo(self.out.dtype).max)
        self.out[:, :, self.lo : self.lo + n] = rows
        keep = self.rows - n
        for buf in (self.acc, self.weight):
            if keep:
                buf[:, :, :keep] = buf[:, :, n : n + keep].clone() if keep > n else buf[:, :, n : n + keep]
            buf[:, :, keep : self.rows].zero_()
        self.lo, self.rows = self.lo + n, keep

    def add(self, i: int, up_BCHW: torch.Tensor) -> None:
        """Blend tile ``i`` (the next one in grid order) from its upscaled crop (``B x C x ch*s x cw*s``)."""
        if i != self.next_tile:
            raise ValueError(f"RowBlender takes tiles in grid order: tile {i} came where {self.next_tile} was due")
        self.next_tile += 1
        g, s = self.grid, self.scale
        y, x = g.boxes[i]
        self._finish_rows(y * s)  # tiles come row by row from the top: nothing later reaches above this row
        self.lo = max(self.lo, y * s) if self.rows == 0 else self.lo
        self.rows = max(self.rows, (y + g.th) * s - self.lo)
        r0, r1, c0, c1 = y * s - self.lo, (y + g.th) * s - self.lo, x * s, (x + g.tw) * s
        self.acc[:, :, r0:r1, c0:c1] += _weighted_tile(g, s, i, up_BCHW, self.acc_dtype)
        self.weight[:, :, r0:r1, c0:c1] += _grid_weight(g, s, i, self.acc.device, self.acc_dtype)

    def result(self) -> torch.Tensor:
        """The blended output, once every tile is in."""
        if self.next_tile != len(self.grid.boxes):
            raise ValueError(f"RowBlender got {self.next_tile} of {len(self.grid.boxes)} tiles")
        self._finish_rows(self.out.shape[2])
        return self.out


@torch.inference_mode()
def upscale_tiled(
    model: SuperResolver,
    batch: SRBatch | torch.Tensor,
    tile: int,
    overlap: int,
    max_batch: int = 16,
    budget_pixels: int | None = None,
) -> torch.Tensor:
    """Upscale ``batch`` (or a bare ``x_BCHW``) with ``model`` in ``tile`` x ``tile`` pieces where it must,
    whole where it can.

    Tiling bounds memory by area but costs compute (each crop carries ``model.context`` pixels each side,
    neighbours overlap) and host work, so frames run whole when they fit: with ``budget_pixels`` (input
    pixels one model call may hold) a frame of at most that many pixels runs whole, batches cut to fit
    the budget; only a larger frame is tiled (in ``tile`` pieces). Without it, the older rule: a frame
    of at most ``tile**2`` pixels runs whole. ``tile <= 0`` never tiles. A model whose capabilities say
    ``tiles_itself`` (it cuts its own windows and bounds its own memory) runs whole too.

    Each tile is cropped with up to ``model.context`` extra pixels each side (discarded after the
    model), the crop window slid inwards at the frame border so that all crops have one size and
    stack into a batch, and a border tile sees the real border as it would in the whole frame.
    Neighbouring tiles overlap by ``overlap`` low-resolution pixels and are cross-faded with ramps.
    Every tile is passed with its own frame's vector and scene id (``SRBatch.stacked``).
    A float16/bfloat16 batch is blended in float32 and returned in its own dtype.
    """
    batch = as_batch(batch)
    x_BCHW = batch.x_BCHW
    B, C, H, W = x_BCHW.shape
    if tile <= 0 or model.capabilities.tiles_itself:
        return model(batch)
    if budget_pixels is not None and H * W <= budget_pixels:
        per_call = max(1, budget_pixels // (H * W))
        if B <= per_call:
            return model(batch)
        return torch.cat([model(batch.select(slice(i, i + per_call))) for i in range(0, B, per_call)])
    grid = TileGrid.make(H, W, tile, overlap, model.context)
    if grid.whole:
        return model(batch)
    if model.capabilities.conditioned and batch.degradation_BF is None:
        # a model conditioned on degrade-analysis's vector, called without one: measure the whole frames
        # here, so every tile of a frame is run with that frame's vector (a tile's own would differ)
        from vidsr.analysis.batch import batch_degradations

        frames = x_BCHW if x_BCHW.dtype.is_floating_point else x_BCHW.float() / 255.0
        batch = batch.with_degradation(batch_degradations(frames))
    blend_dtype = torch.float64 if x_BCHW.dtype == torch.float64 else torch.float32
    blender = RowBlender(grid, model.scale, B, C, blend_dtype, x_BCHW.dtype, x_BCHW.device)
    per_call = max(1, max_batch // B)
    n = len(grid.boxes)
    for i in range(0, n, per_call):
        idx = range(i, min(i + per_call, n))
        up = model(batch.stacked([grid.crop(x_BCHW, k) for k in idx]))
        for j, k in enumerate(idx):
            blender.add(k, up[j * B : (j + 1) * B])
        del up
    return blender.result()
