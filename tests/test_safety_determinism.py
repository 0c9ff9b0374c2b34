"""The same command on the same input writes the same bytes: the default pipeline (analysis, the CNN,
temporal smoothing, x264 medium with restarts at scene cuts) run twice on a clip with hard cuts, whole and in
chunks. Resume ("a resumed run equals an uninterrupted one") and --ray equality rest on this."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from clipmaker import scene_clip

import vidsr
from vidsr.pipeline import configure


@pytest.mark.parametrize("chunk_seconds", [0.0, 0.8], ids=["whole", "chunked"])
def test_default_pipeline_twice_writes_the_same_bytes(tmp_path: Path, chunk_seconds: float) -> None:
    src = scene_clip(tmp_path / "in.mp4", 60, cuts=[20, 40])  # 2.4 s, 96x64, three scenes
    digests = []
    for run in range(2):
        config = configure("default")
        config.encode.chunk_seconds = chunk_seconds
        dst = tmp_path / f"run{run}.mp4"
        report = vidsr.enhance(src, dst, pipeline=config)
        assert report["output_video"]["encoder_restarts"] == 2
        digests.append(hashlib.sha256(dst.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
