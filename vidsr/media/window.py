"""A part of the input to enhance (``--start``/``--duration``): a preview of a few seconds before a long run.

It behaves as ffmpeg's ``-ss START -t DURATION`` before ``-i``: the video is decoded from the keyframe at or
before START and the frames before it are dropped; audio and subtitle packets are kept over the same stretch
of time; and every stream is shifted by the same amount, so the output starts at 0 with its streams in sync.
START counts from the file's own start time (an MPEG-TS clock that starts at 1.4 s, a .mpg's 0.5 s preload), as
ffmpeg counts it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidsr.errors import UsageError
from vidsr.media.probe import MediaInfo, open_input

__all__ = ["Window", "parse_time", "plan_window"]

_CLOCK = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?|\.\d+)$")


def parse_time(value: str | float | int, option: str) -> float:
    """Seconds from ``90``, ``90.5``, ``1:30`` or ``0:01:30.5`` (ffmpeg's forms); anything else is a UsageError
    naming ``option``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        m = _CLOCK.match(text)
        if not m:
            raise UsageError(f"{option} {value}: give seconds (90, 2.5) or [HH:]MM:SS[.ms] (1:30, 0:01:30.5)")
        first, second, secs = m.groups()
        hours, minutes = (first, second) if second is not None else (None, first)
        seconds = int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(secs)
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"{option} {value}: must be a time of 0 or more")
    return seconds


@dataclass(frozen=True)
class Window:
    """Frames with ``start_pts <= pts < end_pts`` (video time base; ``end_pts`` None: to the end). Every stream
    is shifted back by ``offset_s``, the time of ``start_pts``, so the output's first frame is at about 0."""

    start_pts: int
    end_pts: int | None
    time_base: Fraction
    start_s: float  # as asked, from the file's start
    duration_s: float | None  # as asked

    @property
    def offset_s(self) -> Fraction:
        return self.start_pts * self.time_base

    @property
    def end_s(self) -> Fraction | None:
        """Where the window ends on the source's clock (None: the end of the file)."""
        return None if self.end_pts is None else self.end_pts * self.time_base

    def side_window(self) -> tuple[Fraction, Fraction | None]:
        """The span the audio and subtitle streams keep, on the source's clock."""
        return self.offset_s, self.end_s

    def expected_frames(self, info: MediaInfo) -> int:
        """About how many frames the window holds, for the progress bar's total."""
        v = info.video
        total = v.frames
        if not v.average_rate:
            return total
        rate = float(v.average_rate)
        left = max(total - round(self.start_s * rate), 0)
        return left if self.duration_s is None else min(left, max(1, round(self.duration_s * rate)))

    def describe(self) -> dict[str, float | None]:
        return {"start_s": self.start_s, "duration_s": self.duration_s, "source_offset_s": float(self.offset_s)}


def _first_pts(container: av.container.InputContainer) -> int | None:
    """The first video packet's pts (the stream's start_time is not to be trusted: Matroska reports 0)."""
    try:
        for packet in container.demux(container.streams.video[0]):
            if packet.pts is not None and packet.size:
                return int(packet.pts)
    except av.FFmpegError:
        pass
    return None


def plan_window(src: Path, info: MediaInfo, start: str | float | None, duration: str | float | None) -> Window | None:
    """The window ``--start``/``--duration`` ask for in ``src`` (None when neither is given); a start at or past
    the end, or a zero duration, is a UsageError before any work."""
    if start is None and duration is None:
        return None
    start_s = parse_time(start, "--start") if start is not None else 0.0
    duration_s = parse_time(duration, "--duration") if duration is not None else None
    if duration_s is not None and duration_s <= 0:
        raise UsageError(f"--duration {duration}: must be more than 0 s")
    length = info.duration_s
    if length is not None and start_s >= length:
        raise UsageError(f"--start {start}: {src.name} is {length:.2f} s long; start before its end")
    with open_input(src) as container:
        origin = Fraction(container.start_time, 1_000_000) if container.start_time is not None else Fraction(0)
        video_start = _first_pts(container)
    tb = info.video.time_base
    start_pts = round((origin + Fraction(start_s).limit_denominator(1_000_000)) / tb)
    end_pts = None
    if duration_s is not None:
        end_pts = start_pts + round(Fraction(duration_s).limit_denominator(1_000_000) / tb)
        if video_start is not None and end_pts <= video_start:  # audio may start long before the picture
            first = float((video_start * tb) - origin)
            raise UsageError(f"--start {start} --duration {duration}: {src.name} has no video before {first:.2f} s")
    return Window(start_pts, end_pts, tb, start_s, duration_s)
