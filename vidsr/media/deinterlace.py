"""Interlaced sources (SD and broadcast footage): found from the stream's field order and the frames' own flags,
deinterlaced before SR with FFmpeg's ``bwdif`` through PyAV's filter graph.

An SR model takes a frame as one picture; an interlaced frame is two fields half a frame period apart, and on
motion its comb teeth would be sharpened as detail. ``bwdif`` (Bob Weaver: yadif's motion-adaptive edge
interpolation with w3fdif's filters) rebuilds each frame from its first field and its neighbours. It runs in
``send_frame`` mode: one frame out per frame in, with the input's timestamp, so frame count and timing stay the
source's (doubling the rate, ``send_field``, would change both).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction

import av
import av.filter

__all__ = ["DEINTERLACE_MODES", "FIELD_ORDERS", "Deinterlacer", "field_order_name", "is_interlaced_order"]

DEINTERLACE_MODES = ("auto", "on", "off")
# FFmpeg's AVFieldOrder, named as ffprobe names it
FIELD_ORDERS = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}


def field_order_name(value: int | None) -> str:
    return FIELD_ORDERS.get(int(value or 0), "unknown")


def is_interlaced_order(value: int | None) -> bool:
    """tt, bb, tb, bt: the stream says its frames are coded as fields."""
    return int(value or 0) >= 2


@dataclass
class Deinterlacer:
    """``push(frame)`` then ``pull()`` frames back, in order, each with its input's timestamp and flags.

    ``force`` (``--deinterlace on``) deinterlaces every frame; otherwise only frames flagged interlaced are
    (``deint=interlaced``), so a progressive stretch of a mixed stream passes untouched. A new graph is built
    when the frame size or format changes.
    """

    force: bool = False
    frames_in: int = 0
    frames_interlaced: int = 0
    _graph: av.filter.Graph | None = None
    _shape: tuple[int, int, str] | None = None
    _pending: deque[av.VideoFrame] = field(default_factory=deque)  # inputs whose output is still in the filter

    def push(self, frame: av.VideoFrame) -> list[tuple[av.VideoFrame, av.VideoFrame]]:
        """Feed one decoded frame; return ``(deinterlaced, source)`` pairs for the frames the filter gives back
        so far (one frame late: bwdif looks at the next frame too)."""
        shape = (frame.width, frame.height, frame.format.name)
        out: list[tuple[av.VideoFrame, av.VideoFrame]] = []
        if self._graph is not None and shape != self._shape:
            out += self.flush()
        if self._graph is None:
            self._graph = self._build(frame)
            self._shape = shape
        self.frames_in += 1
        self.frames_interlaced += bool(frame.interlaced_frame)
        self._pending.append(frame)
        self._graph.push(frame)
        return out + self._drain()

    def flush(self) -> list[tuple[av.VideoFrame, av.VideoFrame]]:
        """The frames still held (at the end of the input, or before a size change)."""
        if self._graph is None:
            return []
        self._graph.push(None)
        out = self._drain(final=True)
        self._graph = None
        return out

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        tb = frame.time_base or Fraction(1, av.time_base)  # the filter needs a clock; the pts are put back after
        src = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name, time_base=tb)
        deint = "all" if self.force else "interlaced"
        bwdif = graph.add("bwdif", f"mode=send_frame:parity=auto:deint={deint}")
        sink = graph.add("buffersink")
        src.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        return graph

    def _drain(self, final: bool = False) -> list[tuple[av.VideoFrame, av.VideoFrame]]:
        """Pull what the filter has; each output takes the timestamp, time base and flags of the input it came
        from (bwdif halves the time base, to have room for fields; one frame out per frame in, in order)."""
        assert self._graph is not None
        out = []
        while self._pending:
            try:
                frame = self._graph.pull()
            except (av.BlockingIOError, av.EOFError):
                break
            source = self._pending.popleft()
            frame.pts = source.pts
            frame.time_base = source.time_base
            out.append((frame, source))
        if final:
            self._pending.clear()
        return out
