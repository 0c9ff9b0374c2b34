"""vidsr.media.deinterlace on its own: bwdif through PyAV's filter graph gives one frame per frame, in order, each
with its input's timestamp and time base, including across a size change and at the end of the input."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidsr.media.deinterlace import Deinterlacer, field_order_name, is_interlaced_order


def _frame(i: int, w: int = 64, h: int = 48, fmt: str = "yuv420p") -> av.VideoFrame:
    img = np.full((h, w, 3), 40, np.uint8)
    for y in range(h):  # a bar moving 8 px a frame, its two fields half a frame apart: comb teeth on its edges
        x = int((i + 0.5 * (y % 2)) * 8) % (w - 12)
        img[y, x : x + 12] = 220
    frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=fmt)
    frame.pts, frame.time_base = 1000 + i * 3600, Fraction(1, 90000)
    return frame


def test_one_frame_out_per_frame_in_with_its_timestamp() -> None:
    d = Deinterlacer(force=True)
    sources = [_frame(i) for i in range(5)] + [_frame(i, 32, 24) for i in range(5, 8)]  # a size change at 5
    out = []
    for f in sources:
        out += d.push(f)
    out += d.flush()
    assert [s.pts for _, s in out] == [f.pts for f in sources]
    assert [(o.pts, o.time_base) for o, _ in out] == [(f.pts, f.time_base) for f in sources]
    assert [(o.width, o.height) for o, _ in out] == [(f.width, f.height) for f in sources]
    assert d.frames_in == 8


def test_comb_teeth_are_gone_and_deep_formats_stay_deep() -> None:
    d = Deinterlacer(force=True)
    frames = [_frame(i, fmt="yuv420p10le") for i in range(3)]
    out = [o for f in frames for o, _ in d.push(f)] + [o for o, _ in d.flush()]
    y_in = frames[1].to_ndarray(format="gray").astype(float)
    y_out = out[1].to_ndarray(format="gray").astype(float)

    def comb(y: np.ndarray) -> float:
        return float(np.abs(y[1:-1] - 0.5 * (y[:-2] + y[2:])).mean())

    assert out[1].format.name == "yuv420p10le" and comb(y_out) < 0.3 * comb(y_in)


def test_field_orders() -> None:
    assert [field_order_name(v) for v in range(6)] == ["unknown", "progressive", "tt", "bb", "tb", "bt"]
    assert [is_interlaced_order(v) for v in (None, 0, 1, 2, 5)] == [False, False, False, True, True]


def _clip(path: Path, flagged: bool, moving: bool = True) -> Path:
    """12 frames of 64x48; combed (fields half a frame apart) when ``moving``; coded interlaced when ``flagged``."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        if flagged:
            v.codec_context.flags |= av.codec.context.Flags.interlaced_dct | av.codec.context.Flags.interlaced_me
        v.options = {"preset": "ultrafast"}
        for i in range(12):
            frame = _frame(i if moving else 0)
            frame.pts, frame.time_base = i, Fraction(1, 25)
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def test_auto_is_decided_once_from_the_stream_or_idet(tmp_path: Path) -> None:
    from vidsr.media.deinterlace import detect_interlacing

    flagged = detect_interlacing(str(_clip(tmp_path / "a.mp4", flagged=True)), "auto")
    assert flagged.mode == "auto" and "field order is" in flagged.reason
    combed = detect_interlacing(str(_clip(tmp_path / "b.mp4", flagged=False)), "auto")
    assert combed.mode in ("tff", "bff") and combed.reason.startswith("idet: ")
    still = detect_interlacing(str(_clip(tmp_path / "c.mp4", flagged=False, moving=False)), "auto")
    assert still.mode == "auto" and still.reason.startswith("progressive (idet: ")
    assert detect_interlacing(str(tmp_path / "b.mp4"), "off").mode == "off"
