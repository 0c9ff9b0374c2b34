"""HEVC in MP4/MOV is tagged hvc1, as HandBrake writes it and Apple players need (FFmpeg's default is hev1);
Matroska has no such tag. Checked on the written file, whole and joined from chunks."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from clipmaker import scene_clip

import vidsr
from vidsr.pipeline import configure


def _tag(path: Path) -> str:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_tag


@pytest.mark.parametrize("ext", [".mp4", ".mov"])
def test_hevc_in_mp4_and_mov_is_hvc1(clip, tmp_path: Path, ext: str) -> None:
    src = clip("in.mkv", frames=4)
    out = tmp_path / f"out{ext}"
    vidsr.enhance(src, out, pipeline="fast", codec="libx265", preset="ultrafast")
    assert _tag(out) == "hvc1"


def test_a_chunked_hevc_run_keeps_hvc1(tmp_path: Path) -> None:
    """A long run is written in chunks and joined by packet copy: the join keeps the chunks' tag."""
    src = scene_clip(tmp_path / "in.mp4", 20, cuts=[10])  # chunks end at scene cuts
    config = configure("default", model="bicubic", codec="libx265", preset="ultrafast")
    config.encode.chunk_seconds = 0.2
    report = vidsr.enhance(src, tmp_path / "out.mp4", pipeline=config, codec="libx265")
    assert report["chunks"]["chunks"] >= 2
    assert _tag(tmp_path / "out.mp4") == "hvc1"
