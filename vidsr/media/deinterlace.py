"""Interlaced sources (SD and broadcast footage): found from the stream's field order and the frames' own flags,
or, where both say progressive, by FFmpeg's ``idet`` on the first frames (combed content flagged progressive);
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

__all__ = ["DEINTERLACE_MODES", "FIELD_ORDERS", "Deinterlacer", "Detection", "detect_interlacing",
           "field_order_name", "is_interlaced_order"]

# auto: as the stream and frames say (or idet finds); on: every frame, in each frame's own field order; tff/bff:
# every frame, that field first (a source whose flags are wrong); off: never
DEINTERLACE_MODES = ("auto", "on", "off", "tff", "bff")
IDET_FRAMES = 24  # frames idet reads at the start of a stream flagged progressive
IDET_MAX_PIXELS = 1920 * 1088  # interlaced video is SD or 1080i; larger streams are not measured
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
    (``deint=interlaced``), so a progressive stretch of a mixed stream passes untouched. ``parity`` is the field
    that comes first: ``auto`` (each frame's flag), ``tff`` or ``bff``. A new graph is built when the frame size
    or format changes.
    """

    force: bool = False
    parity: str = "auto"
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
        bwdif = graph.add("bwdif", f"mode=send_frame:parity={self.parity}:deint={deint}")
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


@dataclass(frozen=True)
class Detection:
    """What ``auto`` resolved to for one source, decided once before the run (so chunks, a resumed run and every
    --ray segment agree): ``mode`` to run with and, for the report, ``reason``."""

    mode: str
    reason: str


def detect_interlacing(path: str, mode: str) -> Detection:
    """Resolve ``auto``: a stream whose field order or first frames say interlaced keeps ``auto`` (the flags
    decide frame by frame); one that says progressive is read by FFmpeg's ``idet`` over its first
    ``IDET_FRAMES`` frames, and where at least a third of them and twice as many as the progressive ones are
    combed, it runs as ``tff``/``bff`` (combed content flagged progressive: a capture or an encode that lost the
    flags). Other modes are the user's and stay."""
    if mode != "auto":
        return Detection(mode, "asked for")
    from vidsr.media.probe import open_input

    with open_input(path) as container:
        stream = container.streams.video[0]
        order = stream.codec_context.field_order
        if is_interlaced_order(order):
            return Detection("auto", f"the stream's field order is {field_order_name(order)}")
        cc = stream.codec_context
        if (cc.width or 0) * (cc.height or 0) > IDET_MAX_PIXELS:
            return Detection("auto", "progressive (larger than 1080i: not measured)")
        counts, flagged, frames = _idet(container, stream)
    if flagged:
        return Detection("auto", f"{flagged} of the first {frames} frames are flagged interlaced")
    combed = counts["tff"] + counts["bff"]
    if frames and combed >= max(IDET_FRAMES // 3, 2 * counts["progressive"]):
        first = "tff" if counts["tff"] >= counts["bff"] else "bff"
        return Detection(first, f"idet: {combed} of the first {frames} frames combed ({first}) though flagged "
                         "progressive")
    return Detection("auto", f"progressive (idet: {counts['progressive']} of the first {frames} frames progressive, "
                     f"{combed} combed)")


def _idet(container: av.container.InputContainer, stream: av.VideoStream) -> tuple[dict[str, int], int, int]:
    """idet's multi-frame verdicts over the first frames, the frames flagged interlaced, and the frames read."""
    graph = av.filter.Graph()
    src = graph.add_buffer(template=stream)
    idet = graph.add("idet")
    sink = graph.add("buffersink")
    src.link_to(idet)
    idet.link_to(sink)
    graph.configure()
    counts = {"tff": 0, "bff": 0, "progressive": 0, "undetermined": 0}
    flagged = frames = 0
    try:
        for frame in container.decode(stream):
            frames += 1
            flagged += bool(frame.interlaced_frame)
            graph.push(frame)
            try:
                verdict = graph.pull().metadata.get("lavfi.idet.multiple.current_frame", "undetermined")
            except (av.BlockingIOError, av.EOFError):
                continue
            counts[verdict if verdict in counts else "undetermined"] += 1
            if frames >= IDET_FRAMES:
                break
    except av.FFmpegError:
        pass  # a damaged start: decide on what was read
    return counts, flagged, frames
