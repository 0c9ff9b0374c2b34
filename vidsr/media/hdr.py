"""HDR10 static metadata: read from decoded frames' side data, written back as x265 parameters.

FFmpeg hands the mastering display colour volume and the content light level to us as raw C
structs (AVMasteringDisplayMetadata, AVContentLightMetadata); x265 takes them as its
``master-display`` and ``max-cll`` strings, so they survive a re-encode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import av

__all__ = ["HdrMetadata", "read_hdr_metadata"]


@dataclass(frozen=True)
class HdrMetadata:
    master_display: str | None = None  # x265 form: G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)
    max_cll: str | None = None  # "MaxCLL,MaxFALL" in cd/m2

    def x265_params(self) -> list[str]:
        params = []
        if self.master_display:
            params.append(f"master-display={self.master_display}")
        if self.max_cll:
            params.append(f"max-cll={self.max_cll}")
        return ["hdr10=1", "repeat-headers=1", *params] if params else []


def _mastering(data: bytes) -> str | None:
    # 10 AVRationals (R, G, B primaries x/y, white point x/y, min and max luminance), then two flags
    v = struct.unpack("<20i2i", data[:88])
    q = [v[i] / v[i + 1] if v[i + 1] else 0.0 for i in range(0, 20, 2)]
    has_primaries, has_luminance = v[20], v[21]
    if not (has_primaries and has_luminance):
        return None
    (rx, ry, gx, gy, bx, by, wx, wy, lo, hi) = q

    def c(x: float) -> int:
        return round(x * 50000)

    return (f"G({c(gx)},{c(gy)})B({c(bx)},{c(by)})R({c(rx)},{c(ry)})WP({c(wx)},{c(wy)})"
            f"L({round(hi * 10000)},{round(lo * 10000)})")


def read_hdr_metadata(frame: av.VideoFrame) -> HdrMetadata:
    """The HDR10 static metadata a decoded frame carries (empty when it carries none)."""
    master = cll = None
    for sd in frame.side_data:
        kind = getattr(sd.type, "name", str(sd.type))
        data = bytes(sd)
        if kind == "MASTERING_DISPLAY_METADATA" and len(data) >= 88:
            master = _mastering(data)
        elif kind == "CONTENT_LIGHT_LEVEL" and len(data) >= 8:
            max_cll, max_fall = struct.unpack("<2I", data[:8])
            cll = f"{max_cll},{max_fall}"
    return HdrMetadata(master, cll)
