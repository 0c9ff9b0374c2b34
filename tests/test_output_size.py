"""An output size instead of only x2/x4: --height H (width in proportion, even) or --size WxH, made with the
model's smallest scale that reaches it and an exact antialiased resize; --scale 3 is x4 then resized; what cannot
be made is one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

import vidsr


def _size(path: Path) -> tuple[int, int, int]:
    """(width, height, frames) as decoded."""
    with av.open(str(path)) as c:
        frames = [f for f in c.decode(video=0)]
    return frames[0].width, frames[0].height, len(frames)


def _run(cli, src: Path, tmp_path: Path, *extra: str) -> dict:
    out, rep = tmp_path / "out.mp4", tmp_path / "r.json"
    res = cli("run", src, out, "--pipeline", "fast", "--preset", "ultrafast", "--quiet", "--report", rep,
              "--overwrite", *extra)
    assert res.code == 0, res.stderr
    return json.loads(rep.read_text())


@pytest.mark.parametrize(("extra", "size", "model_scale"), [
    (["--height", "160"], (240, 160), 4),   # 96x64: x2 gives 128 lines, short of 160: x4, then reduced
    (["--height", "100"], (150, 100), 2),   # x2 reaches 100 lines: x2, then reduced
    (["--size", "200x100"], (200, 100), 4),  # x2's 192 is short of 200 wide
    (["--scale", "3"], (288, 192), 4),       # x3: x4, then 0.75
    (["--height", "100", "--scale", "4"], (150, 100), 4),  # --scale given: the model's x4, then reduced
])
def test_output_size(cli, clip, tmp_path: Path, extra: list[str], size: tuple[int, int], model_scale: int) -> None:
    src = clip("in.mp4", frames=6)
    report = _run(cli, src, tmp_path, *extra)
    assert _size(tmp_path / "out.mp4") == (*size, 6)
    assert report["output_video"]["size"] == list(size)
    assert report["stage_summaries"]["sr"]["scale"] == model_scale
    assert report["stage_summaries"]["resize"]["to"] == list(size)


def test_height_of_a_rotated_video_is_its_displayed_height(cli, clip, tmp_path: Path) -> None:
    """A phone's portrait video is stored 96x64 with a 90 degree rotation, shown 64x96: --height 192 is the
    displayed height, so the stored frame becomes 192 wide, 128 high, still rotated."""
    src = clip("rot.mp4", frames=4, rotation=90)
    _run(cli, src, tmp_path, "--height", "192")
    assert _size(tmp_path / "out.mp4")[:2] == (192, 128)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert abs(next(c.decode(video=0)).rotation) == 90


def test_api_takes_the_same_options(clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=4)
    report = vidsr.enhance(src, tmp_path / "o.mp4", pipeline="fast", preset="ultrafast", size=(200, 100))
    assert tuple(report["output_video"]["size"]) == (200, 100)
    enhancer = vidsr.Enhancer("fast", scale=3, device="cpu")
    frames = [(np.zeros((64, 96, 3), np.uint8), i) for i in range(2)]
    assert [img.shape for img, _ in enhancer.enhance_frames(frames)] == [(192, 288, 3)] * 2


@pytest.mark.parametrize(("extra", "words"), [
    (["--scale", "8"], "--scale 8 is not offered: the models upscale x2 or x4"),
    (["--scale", "1"], "--scale 1 is not offered"),
    (["--size", "201x100"], "must be even"),
    (["--size", "big"], "give WIDTHxHEIGHT"),
    (["--height", "0"], "--height 0: must be a whole number of pixels above 0"),
    (["--height", "100", "--size", "200x100"], "give one of them"),
])
def test_sizes_that_cannot_be_made(cli, clip, tmp_path: Path, extra: list[str], words: str) -> None:
    src = clip("in.mp4", frames=2)
    res = cli("run", src, tmp_path / "o.mp4", "--pipeline", "fast", *extra)
    assert res.code == 2 and words in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.mp4").exists()


def test_scale_3_names_no_model_the_user_did_not_choose(cli, clip, tmp_path: Path) -> None:
    """The fast pipeline's model is bicubic: --scale 3 used to fail with "model 'bicubic' has no x3"."""
    src = clip("in.mp4", frames=2)
    res = cli("run", src, tmp_path / "o.mp4", "--pipeline", "fast", "--scale", "3", "--quiet")
    assert res.code == 0 and "bicubic" not in res.stderr, res.stderr


def test_a_backlog_fits_the_size_to_each_source(cli, clip, tmp_path: Path) -> None:
    """In a backlog, --height is each source's displayed height, as in single runs: a landscape clip and a
    rotated (portrait) one both come out with the asked height as shown."""
    src = tmp_path / "in"
    src.mkdir()
    a = clip("in/land.mp4", frames=3)
    b = clip("in/port.mp4", frames=3, rotation=90)
    out = tmp_path / "out"
    out.mkdir()
    res = cli("run", src, out, "--pipeline", "fast", "--preset", "ultrafast", "--quiet", "--height", "192")
    assert res.code == 0, res.stderr
    assert _size(out / a.name)[:2] == (288, 192)  # 96x64 shown landscape: 192 high
    assert _size(out / b.name)[:2] == (192, 128)  # stored 96x64, shown 64x96: 192 high as shown
