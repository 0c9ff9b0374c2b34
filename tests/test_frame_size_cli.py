"""Frame sizes refused on the command line before any frame is made (issue 20 item 5): an output the encoder
cannot take is one line, exit 2, before the model loads; frames too small for the stages (1x1, 3x5: an OpenCV
assertion before, item 13) are one line naming the size."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import leftovers
from test_frame_size import ffv1_clip

from vidsr.errors import EXIT_PROCESSING, EXIT_USAGE


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the frame size was checked")

    monkeypatch.setattr("vidsr.stages.sr.build_model", refuse)


@pytest.mark.parametrize(("size", "extra", "words"), [
    ((9000, 64), [], "libx264 cannot encode 18000x128"),
    ((8000, 4500), ["--codec", "libx265"], "libx265 cannot encode 16000x9000"),
    ((16, 4400), ["--codec", "libsvtav1"], "libsvtav1 cannot encode 32x8800"),
    ((4200, 16), ["--codec", "libvpx", "--scale", "4"], "libvpx cannot encode 16800x64"),
])
def test_an_output_the_encoder_cannot_take_is_refused_up_front(cli, tmp_path: Path, no_model, size, extra,
                                                              words: str) -> None:
    src = ffv1_clip(tmp_path / "big.mkv", *size)
    res = cli("run", src, tmp_path / "o.mkv", *extra)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.code == EXIT_USAGE and len(lines) == 1, res.stderr
    assert words in lines[0] and f"from a {size[0]}x{size[1]} input" in lines[0], lines[0]
    assert not (tmp_path / "o.mkv").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(("width", "height"), [(1, 1), (3, 5), (8, 8)])
def test_tiny_frames_get_a_clear_line(cli, tmp_path: Path, width: int, height: int) -> None:
    src = ffv1_clip(tmp_path / "tiny.mkv", width, height)
    res = cli("run", src, tmp_path / "o.mkv")
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("vidsr: error:"), res.stderr
    line = lines[0]
    assert res.code == EXIT_PROCESSING, line
    assert f"{width}x{height} frames" in line and "at least 16x16" in line and "OpenCV" not in line, line
    assert not (tmp_path / "o.mkv").exists()


def test_smallest_accepted_frames_run(cli, tmp_path: Path) -> None:
    src = ffv1_clip(tmp_path / "small.mkv", 16, 16, frames=3)
    res = cli("run", src, tmp_path / "o.mkv", "--quiet")
    assert res.code == 0, res.stderr
