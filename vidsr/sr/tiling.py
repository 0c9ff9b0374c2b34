"""Run an SR model over overlapping tiles, batched, and blend them back without seams."""

from __future__ import annotations

import torch

from vidsr.sr.base import SuperResolver

__all__ = ["tile_starts", "upscale_tiled"]


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


@torch.inference_mode()
def upscale_tiled(
    model: SuperResolver, x_BCHW: torch.Tensor, tile: int, overlap: int, max_batch: int = 16
) -> torch.Tensor:
    """Upscale ``x_BCHW`` with ``model`` in ``tile`` x ``tile`` pieces; a frame of at most ``tile**2``
    pixels (or ``tile <= 0``) runs whole, since tiling bounds memory by area and costs extra compute.

    Each tile is cropped with up to ``model.context`` extra pixels each side (discarded after the
    model), the crop window slid inwards at the frame border so that all crops have one size and
    stack into a batch, and a border tile sees the real border as it would in the whole frame.
    Neighbouring tiles overlap by ``overlap`` low-resolution pixels and are cross-faded with ramps.
    """
    B, C, H, W = x_BCHW.shape
    s = model.scale
    if tile <= 0 or H * W <= tile * tile:
        return model(x_BCHW)
    th, tw = min(tile, H), min(tile, W)
    ch, cw = min(H, th + 2 * model.context), min(W, tw + 2 * model.context)
    boxes = [(y, x) for y in tile_starts(H, th, overlap) for x in tile_starts(W, tw, overlap)]
    # crop origin per tile: centred on the tile, clamped inside the frame
    origins = [(min(max(y - (ch - th) // 2, 0), H - ch), min(max(x - (cw - tw) // 2, 0), W - cw)) for y, x in boxes]
    blend_dtype = x_BCHW.dtype if x_BCHW.dtype.is_floating_point else torch.float32
    out = torch.zeros(B, C, H * s, W * s, device=x_BCHW.device, dtype=blend_dtype)
    weight = torch.zeros(1, 1, H * s, W * s, device=x_BCHW.device, dtype=blend_dtype)
    per_call = max(1, max_batch // B)
    for i in range(0, len(boxes), per_call):
        crops = [x_BCHW[:, :, cy : cy + ch, cx : cx + cw] for cy, cx in origins[i : i + per_call]]
        up = model(torch.cat(crops, dim=0))
        for j, ((y, x), (cy, cx)) in enumerate(zip(boxes[i : i + per_call], origins[i : i + per_call])):
            oy, ox = (y - cy) * s, (x - cx) * s
            tile_up = up[j * B : (j + 1) * B, :, oy : oy + th * s, ox : ox + tw * s].to(blend_dtype)
            wy = _ramp(th * s, overlap * s, y == 0, y + th == H)
            wx = _ramp(tw * s, overlap * s, x == 0, x + tw == W)
            w_hw = (wy[:, None] * wx[None, :]).to(out)
            out[:, :, y * s : (y + th) * s, x * s : (x + tw) * s] += tile_up * w_hw
            weight[:, :, y * s : (y + th) * s, x * s : (x + tw) * s] += w_hw
    out /= weight
    if not x_BCHW.dtype.is_floating_point:  # an integer model's tiles blend in float, then round back
        out = out.round_().clamp_(0, torch.iinfo(x_BCHW.dtype).max).to(x_BCHW.dtype)
    return out
