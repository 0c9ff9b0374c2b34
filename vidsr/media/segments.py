"""Segments for scale-out: cut points at the source's keyframes, and the lossless join of encoded segments.

Each segment is decoded, enhanced and encoded on its own (by a Ray actor); every segment's encoder
starts with an IDR frame and never sees another segment's frames, so no reference crosses a join and
the encoded segments concatenate by copying packets: no re-encode at the joins. Audio, subtitles and
data are copied from the source once, by the join, exactly as the single-process remux copies them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidsr.errors import OutputError, ProcessingError
from vidsr.media.containers import muxer_options, program_stream
from vidsr.media.probe import MediaInfo, open_input
from vidsr.media.streams import SidePlan, SideStreams, clean_metadata

__all__ = ["SegmentConfig", "Segment", "plan_segments", "scan_chunks", "join_segments", "segment_file_suffix"]


@dataclass
class SegmentConfig:
    """How long segments are: about ``seconds``, never shorter than ``min_seconds`` (the last may be merged
    into its neighbour) and cut before ``max_seconds`` even where the source has no keyframe there."""

    seconds: float = 30.0
    min_seconds: float = 10.0
    max_seconds: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.min_seconds <= self.seconds <= self.max_seconds:
            raise ValueError(
                f"segment lengths must satisfy 0 < min ({self.min_seconds}) <= seconds ({self.seconds}) "
                f"<= max ({self.max_seconds})"
            )


@dataclass(frozen=True)
class Segment:
    """Frames with ``start_pts <= pts < end_pts`` (video time base); None means the start or end of the file."""

    index: int
    start_pts: int | None
    end_pts: int | None
    frames: int
    start_s: float
    end_s: float
    at_keyframe: bool  # False where a long GOP forced a cut between keyframes (decode starts earlier)
    on_scene_cut: bool = False  # starts on a scene cut (the first segment: the start of the file)
    # frames the segment's encoder also sees, before and after, and drops (see ``plan_segments``' overlap)
    warmup_frames: int = 0
    warmup_start_pts: int | None = None  # None: the start of the file
    runout_frames: int = 0
    runout_end_pts: int | None = None  # None: the end of the file

    @property
    def name(self) -> str:
        return f"segment {self.index} ({self.start_s:.2f}-{self.end_s:.2f} s)"


def _scan(path: str | Path) -> tuple[list[int], set[int], Fraction]:
    """Sorted presentation timestamps of the video packets, the subset that are keyframes, and the time base."""
    with open_input(path) as container:
        stream = container.streams.video[0]
        pts: list[int] = []
        keys: set[int] = set()
        try:
            for packet in container.demux(stream):
                if packet.size and packet.pts is not None:
                    pts.append(packet.pts)
                    if packet.is_keyframe:
                        keys.add(packet.pts)
        except av.FFmpegError:
            pass  # a damaged tail: plan what could be read, the segment's demuxer counts the loss
        return sorted(pts), keys, stream.time_base


def plan_segments(
    path: str | Path,
    info: MediaInfo,
    config: SegmentConfig,
    scene_cuts: Sequence[int] = (),
    overlap_frames: int = 0,
    restarts_at_cuts: bool = False,
) -> list[Segment]:
    """Cut the video into segments: on a scene cut where the length window has one, else on a keyframe.

    ``scene_cuts`` are the pts of frames that start a scene. A segment that starts on a scene cut starts
    its own scene exactly where a single run would, so per-scene state (scene ids, the analysis' running
    means, caches, smoothing) is the same on both sides of the join. Such a cut, or a forced one in a source
    with too few keyframes, may fall between keyframes: that segment's decode then starts at the keyframe
    before it and drops the frames before its start (a partial GOP of extra decoding, never wrong frames).

    ``overlap_frames`` > 0 gives each segment's encoder up to that many frames before its start (warm-up)
    and after its end (run-out), enhanced and encoded but not kept: a lossy encoder's rate control and
    lookahead then see about what one continuous encode sees, and its output comes close to it.
    """
    pts, keys, tb = _scan(path)
    if not pts:
        raise ProcessingError(f"no video packets with timestamps in {Path(path).name}; nothing to segment")
    step = (pts[-1] - pts[0]) / max(len(pts) - 1, 1)
    end_time = float((pts[-1] + step) * tb)

    def t(p: int) -> float:
        return float(p * tb)

    key_list = sorted(keys)
    scenes = sorted(set(scene_cuts))
    cuts: list[tuple[int, bool]] = []
    start = pts[0]
    while end_time - t(start) >= config.seconds + config.min_seconds:
        lo, target = t(start) + config.min_seconds, t(start) + config.seconds
        hi = min(t(start) + config.max_seconds, end_time - config.min_seconds)  # the rest must not be too short
        window = [k for k in key_list[bisect.bisect_right(key_list, start):] if lo <= t(k) <= hi]
        on_scene = [c for c in scenes[bisect.bisect_right(scenes, start):] if lo <= t(c) <= hi]
        if on_scene:
            cut = min(on_scene, key=lambda c: abs(t(c) - target))
            at_key = cut in keys
        elif window:
            cut, at_key = min(window, key=lambda k: abs(t(k) - target)), True
        else:
            cut = min(pts[bisect.bisect_right(pts, start):], key=lambda p: abs(t(p) - target))
            at_key = cut in keys
            if end_time - t(cut) < config.min_seconds:
                break  # the rest would be too short to pay for an actor call: it stays with this segment
        cuts.append((cut, at_key))
        start = cut

    bounds: list[tuple[int | None, bool]] = [(None, True), *cuts]
    scene_set = set(scenes)
    segments = []
    for i, (begin, at_key) in enumerate(bounds):
        finish = bounds[i + 1][0] if i + 1 < len(bounds) else None
        lo_i = 0 if begin is None else bisect.bisect_left(pts, begin)
        hi_i = len(pts) if finish is None else bisect.bisect_left(pts, finish)
        on_scene = begin is None or begin in scene_set
        before = 0 if restarts_at_cuts and on_scene else overlap_frames
        after = 0 if restarts_at_cuts and finish is not None and finish in scene_set else overlap_frames
        segments.append(Segment(
            index=i,
            start_pts=begin,
            end_pts=finish,
            frames=hi_i - lo_i,
            start_s=round(t(pts[0] if begin is None else begin), 6),
            end_s=round(end_time if finish is None else t(finish), 6),
            at_keyframe=at_key,
            on_scene_cut=on_scene,
            warmup_frames=lo_i - max(0, lo_i - before),
            warmup_start_pts=pts[lo_i - before] if lo_i - before > 0 else None,
            runout_frames=min(len(pts), hi_i + after) - hi_i,
            runout_end_pts=pts[hi_i + after] if hi_i + after < len(pts) else None,
        ))
    return segments


def scan_chunks(path: str | Path, info: MediaInfo, config: SegmentConfig) -> list[Segment]:
    """Chunks for a parallel scene-cut scan: the keyframe plan with every cut moved one frame later.

    A detector needs the frame before to see a cut, and encoders put keyframes on cuts; so each chunk's
    first frame is the one after a keyframe, and that keyframe (a likely cut) is scanned with the frame
    before it, in the previous chunk. Decoding a chunk wastes only that keyframe.
    """
    pts = _scan(path)[0]
    starts = [s.start_pts for s in plan_segments(path, info, config)[1:]]
    moved = [pts[i] for p in starts if (i := bisect.bisect_right(pts, p)) < len(pts)]
    bounds: list[int | None] = [None, *sorted(set(moved))]
    chunks = []
    for i, begin in enumerate(bounds):
        finish = bounds[i + 1] if i + 1 < len(bounds) else None
        lo_i = 0 if begin is None else bisect.bisect_left(pts, begin)
        hi_i = len(pts) if finish is None else bisect.bisect_left(pts, finish)
        chunks.append(Segment(i, begin, finish, hi_i - lo_i, 0.0, 0.0, False))
    return chunks


def join_segments(parts: Sequence[Path], src: Path, dst: Path, info: MediaInfo, side: list[SidePlan]) -> int:
    """Write ``dst`` from the encoded segment files in order plus the source's other streams; return the
    number of video packets written.

    Packets keep the timestamps the segments' encoders gave them (the source's own pts, in the source's
    time base), so the joined file's timing is the single-process file's timing.
    """
    if not parts:
        raise ProcessingError("no segments to join")
    packets = 0
    guessed_dts = program_stream(dst)  # see _stored_dts
    try:
        with av.open(str(dst), "w", options=muxer_options(dst)) as out:
            out.metadata.update(clean_metadata(info.metadata))
            with av.open(str(parts[0])) as first:
                template = first.streams.video[0]
                video = out.add_stream_from_template(template, opaque=True)  # packets only: no codec needed
                video.time_base = template.time_base
                if template.codec_tag == "hvc1":
                    video.codec_tag = "hvc1"  # the template drops the tag, and MP4 would write hev1 (see remux)
                video.metadata.update(clean_metadata(dict(template.metadata)))
            if info.video.rotation:
                video.set_display_rotation(info.video.rotation)
            copier = SideStreams(src, side, out)
            try:
                last: int | None = None
                for part in parts:
                    with av.open(str(part)) as seg:
                        for packet in _with_dts(seg.demux(seg.streams.video[0])):
                            if guessed_dts:
                                last = _stored_dts(packet, last)
                            copier.write_until(float(packet.dts * packet.time_base) + 0.25)
                            packet.stream = video
                            out.mux(packet)
                            packets += 1
                copier.finish()
            finally:
                copier.close()
    except av.FFmpegError as err:
        reason = " ".join((getattr(err, "strerror", None) or str(err)).split())
        raise OutputError(f"joining segments into {dst.name} failed: {reason}") from None
    return packets


def _stored_dts(packet: av.Packet, last: int | None) -> int:
    """A program stream stores no dts where it equals pts, and its demuxer then guesses one frame's delay: an
    MPEG-1/2 segment without B-frames (dts = pts, vidsr.media.remux) reads back with its first two dts equal,
    which no muxer takes. A dts not above the last one, under a pts that is, is that guess: it gets its pts back,
    as the segment's encoder gave it. Returns the packet's dts."""
    assert packet.dts is not None
    if last is not None and packet.dts <= last and packet.pts is not None and packet.pts > last:
        packet.dts = packet.pts
    return int(packet.dts)


def _with_dts(packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
    """The packets with a decode timestamp on each; the end-of-stream marker dropped.

    Matroska stores no dts: its demuxer leaves a B-frame segment's first packets (the encoder's reorder
    delay) without one, and the muxer refuses them once the previous segment's packets are in. They decode
    just before the first packet that has one, so they get the ticks just before its dts: rising, below
    their own pts, and above the previous segment's (Matroska writes only pts, so nothing else changes).
    """
    leading: list[av.Packet] | None = []
    for packet in packets:
        if packet.dts is None and packet.size == 0:
            continue
        if leading is not None:
            if packet.dts is None:
                leading.append(packet)
                continue
            for i, early in enumerate(leading):
                early.dts = packet.dts - (len(leading) - i)
                yield early
            leading = None
        if packet.dts is None:
            raise ProcessingError("a segment's packet has no decode timestamp after its first ones; cannot join")
        yield packet
    for early in leading or []:  # no packet had one: intra-only, decode order is presentation order
        early.dts = early.pts
        yield early


def segment_file_suffix(output: Path) -> str:
    """Segments are written in the output's own container, so their packets need no conversion to join."""
    return output.suffix or ".mkv"

