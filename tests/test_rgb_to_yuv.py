"""Large frames go to the encoder's pixel format in bands of rows (``vidsr.media.rgb_to_yuv``): the same bytes
as one whole-frame conversion, for every chroma layout and depth the encoders take."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clipmaker import ClipSpec, make_clip, packet_bytes

import vidsr
from vidsr.media import rgb_to_yuv
from vidsr.media.probe import EXACT_COLOUR


def _planes(frame: av.VideoFrame) -> list[np.ndarray]:
    return [p.copy() for p in rgb_to_yuv._planes(frame)]


@pytest.mark.parametrize(("dtype", "pix_fmt"), [
    (np.uint8, "yuv420p"), (np.uint8, "yuv422p"), (np.uint8, "yuv444p"), (np.uint8, "yuv410p"),
    (np.uint8, "yuv420p10le"),
    (np.uint16, "yuv420p10le"), (np.uint16, "yuv422p10le"), (np.uint16, "yuv444p12le"), (np.uint16, "yuv420p"),
])
@pytest.mark.parametrize(("H", "W"), [(544, 961), (600, 64), (100, 30)])
def test_banded_conversion_equals_the_whole_frame(monkeypatch: pytest.MonkeyPatch, dtype: type, pix_fmt: str,
                                                 H: int, W: int) -> None:
    rng = np.random.default_rng(H + W)
    peak = 256 if dtype == np.uint8 else 65536
    # noise over a ramp: every row differs, so a band's rows landing one row off (or its edge) would show
    img = (rng.integers(0, peak // 4, (H, W, 3)) + np.linspace(0, peak * 0.7, H)[:, None, None]).astype(dtype)
    kw = {"colorspace": "ITU709", "color_range": "MPEG", "interpolation": EXACT_COLOUR}
    whole = rgb_to_yuv.to_video_frame(img, pix_fmt, **kw)
    monkeypatch.setattr(rgb_to_yuv, "BANDED_ABOVE", 0)
    monkeypatch.setattr(rgb_to_yuv, "BAND_ROWS", 64)
    banded = rgb_to_yuv.to_video_frame(img, pix_fmt, **kw)
    assert banded.format.name == whole.format.name == pix_fmt
    for got, want in zip(_planes(banded), _planes(whole)):
        assert np.array_equal(got, want)
    # and a band boundary that broke the chroma filter would show here: the margins matter
    monkeypatch.setattr(rgb_to_yuv, "MARGIN", 0)
    if pix_fmt.startswith(("yuv420", "yuv410")) and H > 64:
        bare = rgb_to_yuv.to_video_frame(img, pix_fmt, **kw)
        assert not all(np.array_equal(g, w) for g, w in zip(_planes(bare), _planes(whole)))


def test_an_odd_height_converts_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """4:2:0 chroma of an odd height is placed over the whole frame's rows: bands would differ, so none."""
    img = np.random.default_rng(1).integers(0, 256, (545, 96, 3), dtype=np.uint8)
    kw = {"colorspace": "ITU709", "color_range": "MPEG", "interpolation": EXACT_COLOUR}
    whole = rgb_to_yuv.to_video_frame(img, "yuv420p", **kw)
    monkeypatch.setattr(rgb_to_yuv, "BANDED_ABOVE", 0)
    monkeypatch.setattr(rgb_to_yuv, "BAND_ROWS", 64)
    got = rgb_to_yuv.to_video_frame(img, "yuv420p", **kw)
    for g, w in zip(_planes(got), _planes(whole)):
        assert np.array_equal(g, w)


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv420p10le"])
def test_a_run_writes_the_same_bytes_with_the_frames_converted_in_bands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pix_fmt: str
) -> None:
    """The remuxer's conversion through the banded path (forced on for a small clip) gives the run's bytes."""
    src = make_clip(tmp_path / "in.mkv", ClipSpec(frames=6, width=96, height=160, pix_fmt=pix_fmt))
    kw = {"model": "bicubic", "scale": 2, "preset": "ultrafast", "overwrite": True}
    vidsr.enhance(src, tmp_path / "whole.mkv", **kw)
    monkeypatch.setattr(rgb_to_yuv, "BANDED_ABOVE", 0)
    monkeypatch.setattr(rgb_to_yuv, "BAND_ROWS", 64)  # 320 output rows: five bands
    monkeypatch.setattr(rgb_to_yuv, "MARGIN", 0)  # and without margins the chroma differs: the path is taken
    vidsr.enhance(src, tmp_path / "bare.mkv", **kw)
    assert packet_bytes(tmp_path / "bare.mkv", "video") != packet_bytes(tmp_path / "whole.mkv", "video")
    monkeypatch.setattr(rgb_to_yuv, "MARGIN", 16)
    vidsr.enhance(src, tmp_path / "banded.mkv", **kw)
    assert packet_bytes(tmp_path / "banded.mkv", "video") == packet_bytes(tmp_path / "whole.mkv", "video")
