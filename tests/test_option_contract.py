"""Options outside the contract are refused up front in one line, exit 2, before the model loads and before
any file appears (issue 20 item 10): unknown presets, non-video output names, a CRF outside the encoder's own
scale, and config values outside their range (a negative chunk or GOP length, a queue so long it no longer
bounds memory; the SR stage's numbers: tests/test_stage_params.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import leftovers

from vidsr.errors import EXIT_USAGE


@pytest.fixture
def no_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a model fails the test: these refusals must come before it."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr("vidsr.stages.sr.build_model", refuse)


def _refused(cli, tmp_path: Path, *args: object) -> str:
    before = sorted(p.name for p in tmp_path.iterdir())
    res = cli("run", *args)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert res.code == EXIT_USAGE, res.stderr
    assert len(lines) == 1 and lines[0].startswith("vidsr: error:"), res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before and leftovers(tmp_path) == []
    return lines[0]


@pytest.mark.parametrize(("codec", "words"), [(None, "libx264"), ("libx265", "libx265"),
                                               ("libvpx-vp9", "libvpx-vp9")])
def test_unknown_preset_is_one_line(cli, clip, tmp_path: Path, no_model, codec: str | None, words: str) -> None:
    src = clip("in.mkv", frames=3)
    extra = ["--codec", codec] if codec else []
    line = _refused(cli, tmp_path, src, tmp_path / "o.mkv", "--preset", "ludicrous", *extra)
    assert "--preset ludicrous" in line and words in line


@pytest.mark.parametrize("name", ["o.wav", "o.png", "o.mp3"])
def test_non_video_output_is_refused_before_the_model_loads(cli, clip, tmp_path: Path, no_model, name: str) -> None:
    src = clip("in.mp4", frames=3)
    line = _refused(cli, tmp_path, src, tmp_path / name)
    assert "no video encoder" in line or "container" in line


@pytest.mark.parametrize(("args", "words"), [
    (["--crf", "60"], "libx264 (it takes 0-51"),
    (["--crf", "52", "--codec", "libx265"], "libx265 (it takes 0-51"),
    (["--crf", "64", "--codec", "libvpx-vp9"], "out of range"),
    (["--crf", "-1"], "out of range"),
])
def test_crf_is_checked_against_the_encoder(cli, clip, tmp_path: Path, no_model, args: list[str], words: str) -> None:
    src = clip("in.mkv", frames=3)
    line = _refused(cli, tmp_path, src, tmp_path / "o.mkv", *args)
    assert words in line


def test_crf_above_51_is_fine_for_vp9(cli, clip, tmp_path: Path) -> None:
    src = clip("in.mp4", frames=3, audio=None)
    res = cli("run", src, tmp_path / "o.webm", "--model", "bicubic", "--crf", "60", "--quiet")
    assert res.code == 0, res.stderr


@pytest.mark.parametrize(("yaml", "words"), [
    ("stages: []\nencode: {chunk_seconds: -5}", "encode.chunk_seconds: -5.0 is out of range"),
    ("stages: []\nencode: {gop_seconds: -1}", "encode.gop_seconds: -1.0 is out of range"),
    ("stages: []\nencode: {gop_seconds: .nan}", "encode.gop_seconds: nan is out of range"),
    ("stages: []\nencode: {threads: -2}", "encode.threads"),
    ("stages: []\nqueue_size: 100000000", "queue_size: 100000000 is out of range (it must be 1 to 16)"),
    ("stages: []\nqueue_size: 0", "queue_size: 0 is out of range"),
])
def test_config_values_out_of_range(cli, clip, tmp_path: Path, no_model, yaml: str, words: str) -> None:
    src = clip("in.mp4", frames=3)
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(f"name: p\n{yaml}\n")
    line = _refused(cli, tmp_path, src, tmp_path / "o.mp4", "--pipeline", pipeline)
    assert words in line, line
