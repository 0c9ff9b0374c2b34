"""RGB sources (PNG, PNG in MOV, libx264rgb) encoded to 4:2:0 YUV get a YUV matrix tag, not the identity (GBR)
matrix that is defined only for RGB (issue 20 item 7): BT.601 (SMPTE 170M) below 1280x720, BT.709 from there,
limited range, and the frames are converted with that very matrix, so a player decoding by the tag sees the
source's colours."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clipmaker import pan_frames

from vidsr.media.probe import EXACT_COLOUR


def rgb_clip(path: Path, codec: str, pix_fmt: str, width: int, height: int, frames: int = 3) -> Path:
    with av.open(str(path), "w") as out:
        v = out.add_stream(codec, rate=25)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        if codec == "libx264rgb":
            v.options = {"preset": "ultrafast", "qp": "0"}
        for i, img in enumerate(pan_frames(frames, width, height)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format=pix_fmt)
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def _means(path: Path, by_tag: bool) -> tuple[np.ndarray, av.VideoFrame]:
    """Per-channel mean of the first frame, decoded with the matrix and range its tags name (as a player
    would) when ``by_tag``."""
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        if by_tag and not frame.format.is_rgb:
            space = frame.colorspace if frame.colorspace not in (2,) else None
            img = frame.to_ndarray(format="rgb24", src_colorspace=space, src_color_range=frame.color_range or 1,
                                   dst_color_range=2, interpolation=EXACT_COLOUR)
        else:
            img = frame.to_ndarray(format="rgb24")
        return img.reshape(-1, 3).mean(0), frame


@pytest.mark.parametrize(("name", "codec", "pix_fmt", "size", "out_name", "space"), [
    ("in.mov", "png", "rgb24", (96, 64), "o.mp4", "smpte170m"),
    ("in.mov", "png", "rgba", (96, 64), "o.mkv", "smpte170m"),
    ("in.mkv", "libx264rgb", "rgb24", (96, 64), "o.mkv", "smpte170m"),
    ("in.mov", "png", "rgb24", (640, 360), "o.mov", "bt709"),  # 1280x720 out: HD
])
def test_rgb_source_gets_a_yuv_matrix_and_keeps_its_colours(cli, tmp_path: Path, name: str, codec: str,
                                                            pix_fmt: str, size: tuple[int, int], out_name: str,
                                                            space: str) -> None:
    src = rgb_clip(tmp_path / name, codec, pix_fmt, *size)
    out = tmp_path / out_name
    res = cli("run", src, out, "--model", "bicubic", "--preset", "ultrafast", "--crf", "10", "--quiet")
    assert res.code == 0, res.stderr
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert not c.streams.video[0].format.is_rgb
        tags = (cc.colorspace, cc.color_range)
    names = {1: "bt709", 6: "smpte170m", 0: "gbr", 2: "unspecified", 5: "bt470bg"}
    assert (names.get(tags[0], tags[0]), tags[1]) == (space, 1)  # limited range
    want, _ = _means(src, by_tag=False)
    got, frame = _means(out, by_tag=True)
    assert np.abs(got - want).max() < 2.0, (got, want)  # the whole picture's colour, not shifted


def test_rgb_output_keeps_rgb_tags(cli, tmp_path: Path) -> None:
    """An RGB output (FFV1 in GBR) is not given a YUV matrix: its identity tag is right there."""
    src = rgb_clip(tmp_path / "in.mov", "png", "rgb24", 96, 64)
    out = tmp_path / "o.mkv"
    res = cli("run", src, out, "--model", "bicubic", "--codec", "ffv1", "--pix-fmt", "bgr0", "--quiet")
    assert res.code == 0, res.stderr
    with av.open(str(out)) as c:
        assert c.streams.video[0].format.name == "bgr0"
        assert c.streams.video[0].codec_context.colorspace in (0, 2)
