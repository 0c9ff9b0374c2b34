"""`vidsr probe` tells the truth a user reads: a raw elementary stream's length, and analysis numbers with their
scale and meaning."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np

from vidsr.media.probe import probe


def _raw_mpeg1(path: Path, frames: int = 100, rate: int = 25) -> Path:
    """A raw MPEG-1 video elementary stream (.m1v): no container, no timestamps."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg1video", rate=rate)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            img = np.full((48, 64, 3), (i * 2) % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(v.encode(frame))
        out.mux(v.encode(None))
    return path


def test_raw_mpeg1_stream_has_its_real_duration(cli, tmp_path: Path) -> None:
    """4 s of raw MPEG-1 said 0.00 s (FFmpeg guesses a raw stream's length from its bit rate): the frames count,
    and the parser's invented timestamps are no variable frame rate."""
    src = _raw_mpeg1(tmp_path / "raw.m1v")
    info = probe(src)
    assert info.video.frames == 100
    assert abs(info.duration_s - 4.0) < 1e-6 and abs(info.video.duration_s - 4.0) < 1e-6
    assert not info.video.variable_frame_rate
    res = cli("probe", src)
    assert res.code == 0 and "4.00 s" in res.stdout.splitlines()[0] and "constant frame rate" in res.stdout


def test_analyze_says_what_each_number_means(cli, clip) -> None:
    src = clip("in.mp4", frames=8)
    res = cli("probe", src, "--analyze")
    assert res.code == 0, res.stderr
    out = res.stdout
    assert "noise standard deviation in 8-bit levels" in out and "Gaussian sigma in pixels" in out
    assert "8x8 block grid" in out and "fraction of its step" in out and "a cut from 0.2" in out
    scene = next(ln for ln in out.splitlines() if ln.strip().startswith("scene 0:"))
    assert " levels," in scene and " px," in scene
    data = json.loads(cli("probe", src, "--analyze", "--json").stdout)
    assert set(data["scene_units"]) >= {"noise", "blur", "blockiness", "ringing", "cut score"}
