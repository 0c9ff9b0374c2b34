"""The colour tags an output gets and the matrix its frames are converted with, decided in one place so that
the two always agree.

A YUV source keeps its own tags and matrix (an untagged one stays untagged and takes swscale's default, as it
was decoded). An RGB source (PNG, libx264rgb, PNG-in-MOV, FFV1 RGB) encoded to YUV must not carry its identity
(GBR) matrix tag, which is defined for RGB/4:4:4 only: it gets the YUV matrix players assume for its size,
BT.709 from 1280x720 up and BT.601 (SMPTE 170M) below, in limited range, and its frames are converted with
exactly that matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

from vidsr.media.probe import VideoInfo

__all__ = ["OutputColour", "output_colour"]

_FULL_RANGE_YUV = {"yuvj420p", "yuvj422p", "yuvj444p"}
_BT709, _SMPTE170M, _GBR, _UNSPECIFIED = 1, 6, 0, 2
_TV, _PC = 1, 2


@dataclass(frozen=True)
class OutputColour:
    """Tags for the encoder (FFmpeg enum values) and the swscale conversion into the output's pixel format."""

    color_range: int
    colorspace: int
    color_primaries: int
    color_trc: int
    matrix: int | None  # swscale's RGB -> YUV matrix; None: its default (BT.601)
    matrix_range: int


def _is_rgb(pix_fmt: str) -> bool:
    try:
        return bool(av.VideoFormat(pix_fmt).is_rgb)
    except (ValueError, av.FFmpegError):
        return False


def output_colour(v: VideoInfo, out_pix_fmt: str, width: int, height: int) -> OutputColour:
    """What an output of ``width`` x ``height`` frames in ``out_pix_fmt`` is tagged and converted with."""
    yuv_out = not _is_rgb(out_pix_fmt)
    if _is_rgb(v.pix_fmt) and yuv_out:
        matrix = _BT709 if width >= 1280 or height >= 720 else _SMPTE170M
        return OutputColour(_TV, matrix, v.color_primaries, v.color_trc, matrix, _TV)
    full = v.pix_fmt in _FULL_RANGE_YUV
    space = v.colorspace
    if space == _GBR and yuv_out:  # YUV wrongly tagged GBR: it was decoded with swscale's BT.601, so say so
        space = _SMPTE170M
    return OutputColour(
        color_range=_PC if full else v.color_range,
        colorspace=space,
        color_primaries=v.color_primaries,
        color_trc=v.color_trc,
        matrix=space if space not in (_GBR, _UNSPECIFIED) else None,
        matrix_range=_PC if full or v.color_range == _PC else _TV,
    )
