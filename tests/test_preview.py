"""--start/--duration: a preview of a few seconds, as ffmpeg's -ss/-t before -i: the frames of that span only,
audio and subtitles of the same span, every stream moved back by the same amount so the output starts at 0
in sync; wrong times are one line and exit 2."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest

import vidsr
from vidsr.errors import UsageError

SUBS = [(0.5, 1.7, "one"), (1.8, 2.6, "two"), (3.0, 3.5, "three")]


def _packets(path: Path, kind: str) -> list[tuple[Fraction, int | None, bytes]]:
    """(time, duration, bytes) of every packet of the first ``kind`` stream, in time order."""
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind + "s" if kind == "subtitle" else kind)[0]
        out = [(p.pts * p.time_base, p.duration, bytes(p)) for p in c.demux(stream) if p.pts is not None and p.size]
    return sorted(out, key=lambda x: x[0])


def _frame_times(path: Path) -> list[Fraction]:
    with av.open(str(path)) as c:
        return [f.pts * f.time_base for f in c.decode(video=0)]


@pytest.fixture
def source(clip) -> Path:
    """4 s at 25 fps (frames at 0, 0.04, ...), AAC audio, three SubRip subtitles, in Matroska."""
    return clip("in.mkv", frames=100, subtitles=SUBS)


def test_preview_keeps_one_span_of_every_stream_in_sync(cli, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "preview.mkv"
    res = cli("run", source, out, "--pipeline", "fast", "--preset", "ultrafast", "--quiet", "--start", "1.5",
              "--duration", "1", "--report", tmp_path / "r.json")
    assert res.code == 0, res.stderr
    start, end = Fraction(3, 2), Fraction(5, 2)
    # video: the source frames in [1.5, 2.5), each at its own time less 1.5 s (no frame at 1.50: the first is 1.52)
    want = [t - start for t in _frame_times(source) if start <= t < end]
    assert len(want) == 25 and _frame_times(out) == want
    # audio: the source's packets in the span, byte for byte, moved back by the same 1.5 s
    audio = [(t - start, d, b) for t, d, b in _packets(source, "audio") if start <= t < end]
    got = _packets(out, "audio")
    assert [b for _, _, b in got] == [b for _, _, b in audio]
    assert [t for t, _, _ in got] == [t for t, _, _ in audio]
    # subtitles: "one" (0.5-1.7) is on screen at the start: kept from 0 for its last 0.2 s; "two" at 0.3;
    # "three" (3.0) is past the end
    subs = _packets(out, "subtitle")
    assert [(t, d) for t, d, _ in subs] == [(Fraction(0), 200), (Fraction(3, 10), 800)]
    assert [b"one" in b for _, _, b in subs] == [True, False]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["frames"] == 25 and report["window"]["start_s"] == 1.5 and report["window"]["duration_s"] == 1.0


def test_start_alone_runs_to_the_end_and_duration_alone_from_the_start(source: Path, tmp_path: Path) -> None:
    """The API takes the same options; ffmpeg's clock forms are read too."""
    tail = vidsr.enhance(source, tmp_path / "tail.mkv", pipeline="fast", preset="ultrafast", start="0:03.2")
    assert tail["frames"] == 20  # 3.20 .. 3.96
    assert _frame_times(tmp_path / "tail.mkv")[0] == 0
    head = vidsr.enhance(source, tmp_path / "head.mp4", pipeline="fast", preset="ultrafast", duration=0.4)
    assert head["frames"] == 10 and _frame_times(tmp_path / "head.mp4") == [Fraction(i, 25) for i in range(10)]
    assert max(t for t, _, _ in _packets(tmp_path / "head.mp4", "audio")) < Fraction(2, 5)


def test_a_source_clock_that_does_not_start_at_zero(clip, tmp_path: Path) -> None:
    """--start counts from the file's own start, as ffmpeg's -ss does: a clock starting at 10 s, --start 1 is
    the frame at 11 s, written at 0."""
    step = 512  # 1/25 s at 1/12800
    src = clip("late.mkv", frames=50, pts=[128000 + i * step for i in range(50)], audio=None)
    res = vidsr.enhance(src, tmp_path / "o.mkv", pipeline="fast", preset="ultrafast", start=1, duration=0.2)
    assert res["frames"] == 5 and _frame_times(tmp_path / "o.mkv") == [Fraction(i, 25) for i in range(5)]
    with_sound = clip("sound.mkv", frames=50, pts=[128000 + i * step for i in range(50)])  # its audio from 0 s
    with pytest.raises(UsageError, match="sound.mkv has no video before 10.00 s"):
        vidsr.enhance(with_sound, tmp_path / "p.mkv", pipeline="fast", start=1, duration=0.2)
    assert not (tmp_path / "p.mkv").exists()


@pytest.mark.parametrize(("extra", "words"), [
    (["--start", "9"], "in.mkv is 4.02 s long; start before its end"),  # its audio runs to 4.02 s
    (["--duration", "0"], "--duration 0: must be more than 0 s"),
    (["--start", "-1"], "--start -1: give seconds"),
    (["--start", "1:2:3:4"], "give seconds (90, 2.5) or [HH:]MM:SS[.ms]"),
])
def test_wrong_times_are_usage_errors(cli, source: Path, tmp_path: Path, extra: list[str], words: str) -> None:
    res = cli("run", source, tmp_path / "o.mkv", "--pipeline", "fast", *extra)
    assert res.code == 2 and words in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and not (tmp_path / "o.mkv").exists()


def test_a_preview_is_of_one_video(cli, source: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    res = cli("run", source, source, out, "--start", "1")
    assert res.code == 2 and "a preview of one video" in res.stderr
