"""RGB frames to the encoder's pixel format in bands of rows, into one preallocated frame.

A whole-frame ``VideoFrame.from_ndarray(...).reformat(...)`` holds a full RGB copy, the converted frame and
the scaler's buffers at once: about 950 MB for one 15360x8640 frame (measured), more than the frame itself.
Converting a band of rows at a time (each with ``MARGIN`` extra rows each side, cropped after) holds one
band's copy instead, and gives the whole-frame conversion's bytes: the scaler's vertical chroma filter
reaches at most a few rows, so interior rows never see the band's edge (tested against the whole frame for
4:2:0, 4:2:2 and 4:4:4, 8 and 10 bits).
"""

from __future__ import annotations

from functools import lru_cache

import av
import numpy as np

__all__ = ["to_video_frame", "BAND_ROWS", "MARGIN"]

BAND_ROWS = 256  # rows converted per call (a multiple of every chroma subsampling, 4:1:0 included)
MARGIN = 16  # extra rows each side of a band: well beyond the vertical chroma filter's reach (and a multiple of 4)
BANDED_ABOVE = 1 << 23  # frames above this many pixels (4K UHD is 8.3 MP) convert in bands


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    """Writable ``rows x width`` sample views of ``frame``'s planes (16-bit samples above 8 bits)."""
    views = []
    for plane, comp in zip(frame.planes, frame.format.components):
        sample = np.uint16 if comp.bits > 8 else np.uint8
        rows = np.frombuffer(plane, sample).reshape(plane.height, plane.line_size // np.dtype(sample).itemsize)
        views.append(rows[:, : plane.width])
    return views


def to_video_frame(image: np.ndarray, pix_fmt: str, colorspace: object, color_range: object,
                   interpolation: object) -> av.VideoFrame:
    """``image`` (H x W x 3, uint8 or uint16 RGB) as an ``av.VideoFrame`` in ``pix_fmt``, converted with the
    given matrix, range and scaler flags; in bands when the frame is large and ``pix_fmt`` is planar YUV."""
    rgb_fmt = "rgb24" if image.dtype == np.uint8 else "rgb48le"
    H, W = image.shape[:2]
    kw = {"format": pix_fmt, "dst_colorspace": colorspace, "dst_color_range": color_range,
          "interpolation": interpolation}
    step = _chroma_step(pix_fmt) if H * W > BANDED_ABOVE else 0
    if not step or H % step:  # small, not planar YUV, or a height the chroma rows do not divide
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=rgb_fmt).reformat(**kw)
    shift = step.bit_length() - 1
    out = av.VideoFrame(W, H, pix_fmt)
    dst = _planes(out)
    for a in range(0, H, BAND_ROWS):  # band starts are multiples of ``step``: a chroma row never straddles two
        b = min(a + BAND_ROWS, H)
        a0, b0 = max(a - MARGIN, 0), min(b + MARGIN, H)
        part = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[a0:b0]), format=rgb_fmt).reformat(**kw)
        for plane_out, plane_in in zip(dst, _planes(part)):
            k = 0 if plane_out.shape[0] == H else shift
            top, end, skip = a >> k, b >> k, (a - a0) >> k
            plane_out[top:end] = plane_in[skip : skip + end - top]
    return out


@lru_cache(maxsize=8)
def _chroma_step(pix_fmt: str) -> int:
    """Luma rows per chroma row of a planar YUV format: 1 (4:4:4, 4:2:2), 2 (4:2:0) or 4 (4:1:0), read from a small
    frame of it (PyAV names no shift); 0 for any other layout (packed, semi-planar, with alpha, RGB), which converts
    whole. A height the chroma rows do not divide places chroma over the whole frame's rows, so it converts whole."""
    fmt = av.VideoFormat(pix_fmt)
    if not fmt.name.startswith("yuv") or [c.plane for c in fmt.components] != [0, 1, 2]:
        return 0
    return 64 // av.VideoFrame(64, 64, pix_fmt).planes[1].height
