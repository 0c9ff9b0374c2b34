"""vidsr.media.window on its own: ffmpeg's time forms, and where a --start/--duration window falls in a file."""

from __future__ import annotations

from fractions import Fraction

import pytest

from vidsr.errors import UsageError
from vidsr.media.probe import probe
from vidsr.media.window import parse_time, plan_window


def test_parse_time() -> None:
    assert parse_time("90", "--start") == 90.0
    assert parse_time("1:30", "--start") == 90.0
    assert parse_time("0:01:30.5", "--start") == 90.5
    assert parse_time(".5", "--start") == 0.5
    assert parse_time(2, "--start") == 2.0
    for bad in ("x", "-1", "1:2:3:4", "1e3"):
        with pytest.raises(UsageError, match=f"--duration {bad}"):
            parse_time(bad, "--duration")


def test_plan_window(clip) -> None:
    src = clip("in.mp4", frames=50, audio=None)  # 2 s, time base 1/12800
    info = probe(src)
    assert plan_window(src, info, None, None) is None
    w = plan_window(src, info, "0.5", 1)
    assert (w.start_pts, w.end_pts, w.offset_s, w.end_s) == (6400, 19200, Fraction(1, 2), Fraction(3, 2))
    assert w.expected_frames(info) == 25
    assert plan_window(src, info, None, "0:00.4").start_pts == 0
    with pytest.raises(UsageError, match="in.mp4 is 2.00 s long"):
        plan_window(src, info, 2, None)
