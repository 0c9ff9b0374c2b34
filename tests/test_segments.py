"""Segments without Ray: cut points at keyframes, and segments encoded apart then joined equal one run.

The equality is exact because the encoder runs lossless (libx264 ``crf 0``): the decoded frames of
the joined file are then the enhanced frames themselves, so any frame dropped, doubled, shifted or
decoded from the wrong reference at a join would show as a mismatch.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from clipmaker import decoded_times, packet_bytes

from vidsr.config import PipelineConfig
from vidsr.graph import Graph
from vidsr.media.demux import Demuxer
from vidsr.media.probe import probe
from vidsr.media.remux import Remuxer
from vidsr.media.segments import SegmentConfig, join_segments, plan_segments
from vidsr.media.streams import plan_side_streams
from vidsr.pipeline import Enhancer, configure, enhance

SHORT = SegmentConfig(seconds=0.4, min_seconds=0.3, max_seconds=0.6)  # 25 fps: 10 frames, 8 to 15


def lossless() -> PipelineConfig:
    config = configure("fast", preset="ultrafast")
    config.encode.crf = 0  # libx264 8-bit crf 0 is lossless: decoded frames are exactly the encoder's input
    return config


def frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def segmented_run(src: Path, dst: Path, config: PipelineConfig, seg: SegmentConfig) -> int:
    """What the Ray actors and driver do, in one process: each segment on its own encoder, then the join."""
    info = probe(src)
    segments = plan_segments(src, info, seg)
    parts = []
    for s in segments:
        part = dst.with_name(f"part{s.index}{dst.suffix}")
        remuxer = Remuxer(part, src, info, config.encode, [])
        Graph(Demuxer(src, info, config.decode, s.start_pts, s.end_pts), Enhancer(config).stages).run(remuxer)
        assert remuxer.frames_written == s.frames, s
        parts.append(part)
    join_segments(parts, src, dst, info, plan_side_streams(src, info.video.index, dst.name, "aac"))
    return len(segments)


def test_cuts_land_on_keyframes_within_bounds(clip) -> None:
    src = clip(frames=60, options={"g": "10"})  # a keyframe every 0.4 s
    segments = plan_segments(src, probe(src), SHORT)
    assert len(segments) == 6
    assert all(s.at_keyframe for s in segments)
    assert sum(s.frames for s in segments) == 60
    assert segments[0].start_pts is None and segments[-1].end_pts is None
    for a, b in zip(segments, segments[1:]):
        assert a.end_pts == b.start_pts
    assert all(SHORT.min_seconds - 1e-6 <= s.end_s - s.start_s <= SHORT.max_seconds + 1e-6 for s in segments)


def test_overlap_reaches_past_each_cut_but_not_past_the_file(clip) -> None:
    """An encoder overlap of 15 frames: each segment's warm-up starts 15 frames before it (or at the file's
    start) and its run-out ends 15 frames after it (or at the file's end); the cuts themselves do not move."""
    src = clip(frames=60, options={"g": "10"})
    plain = plan_segments(src, probe(src), SHORT)
    segments = plan_segments(src, probe(src), SHORT, overlap_frames=15)
    assert [(s.start_pts, s.end_pts) for s in segments] == [(s.start_pts, s.end_pts) for s in plain]
    step = 512  # 25 fps in a 1/12800 time base
    starts = [0, *(s.start_pts // step for s in segments[1:])]  # first frame index of each segment
    ends = [*starts[1:], 60]
    assert [s.warmup_frames for s in segments] == [min(15, a) for a in starts]
    assert [s.runout_frames for s in segments] == [min(15, 60 - b) for b in ends]
    assert [s.warmup_start_pts for s in segments] == [(a - 15) * step if a > 15 else None for a in starts]
    assert [s.runout_end_pts for s in segments] == [(b + 15) * step if b + 15 < 60 else None for b in ends]


def test_a_scene_cut_in_the_window_is_the_cut_point(clip) -> None:
    """Exactly on the scene's first frame, even between keyframes (0.52 s; keyframes every 0.2 s)."""
    src = clip(frames=60, options={"g": "5"})
    seg = SegmentConfig(seconds=0.8, min_seconds=0.4, max_seconds=1.2)
    cut_pts = 13 * 512  # frame 13 at 25 fps in a 1/12800 time base
    segments = plan_segments(src, probe(src), seg, scene_cuts=[cut_pts])
    assert segments[1].start_pts == cut_pts and not segments[1].at_keyframe
    assert sum(s.frames for s in segments) == 60


@pytest.mark.parametrize("options", [{"g": "10"}, {"g": "250", "bf": "3"}], ids=["short-gop", "one-keyframe-bframes"])
def test_joined_segments_equal_the_single_run(clip, tmp_path: Path, options: dict[str, str]) -> None:
    """A source with a single keyframe is still cut (mid-GOP, decoding from the keyframe before the cut)."""
    src = clip("in.mkv", frames=50, width=64, height=48, options=options,
               subtitles=[(0.1, 0.9, "one"), (1.2, 1.8, "two")])
    single, joined = tmp_path / "single.mkv", tmp_path / "joined.mkv"
    config = lossless()
    enhance(src, single, pipeline=config)
    n = segmented_run(src, joined, config, SHORT)
    assert n >= 4
    assert decoded_times(joined) == decoded_times(single)
    assert packet_bytes(joined, "audio") == packet_bytes(single, "audio")
    assert packet_bytes(joined, "subtitle") == packet_bytes(single, "subtitle")
    a, b = frames(single), frames(joined)
    assert len(a) == len(b) == 50
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_bframe_segments_join_into_matroska(clip, tmp_path: Path) -> None:
    """A lossy encoder with B-frames (x264 ``medium``) writes Matroska segments whose first packets carry
    no dts (Matroska stores none; the demuxer cannot know the reorder delay yet): the join still gives the
    single run's frame times, audio and subtitles."""
    src = clip("in.mkv", frames=50, width=64, height=48, options={"g": "10"},
               subtitles=[(0.1, 0.9, "one"), (1.2, 1.8, "two")])
    single, joined = tmp_path / "single.mkv", tmp_path / "joined.mkv"
    config = configure("fast", preset="medium", crf=18)
    enhance(src, single, pipeline=config)
    n = segmented_run(src, joined, config, SHORT)
    with av.open(str(tmp_path / "part1.mkv")) as part:
        assert next(part.demux(video=0)).dts is None  # the case under test: a segment starts without dts
    assert n >= 4
    assert decoded_times(joined) == decoded_times(single)
    assert packet_bytes(joined, "audio") == packet_bytes(single, "audio")
    assert packet_bytes(joined, "subtitle") == packet_bytes(single, "subtitle")
    assert len(frames(joined)) == 50


def lossy_one_thread() -> PipelineConfig:
    """x264 crf 18 ``medium`` (B-frames, lookahead, mb-tree), one thread: deterministic bytes."""
    config = configure("fast", preset="medium", crf=18)
    config.encode.threads = 1
    return config


def encode(src: Path, dst: Path, config: PipelineConfig, starts: set[int], lo: int = 0, hi: int | None = None) -> int:
    """Frames ``lo:hi`` of ``src`` through the Remuxer, with ``scene_start`` set on the frames in ``starts``
    (what degrade-analysis sets at a cut); returns the encoder's restarts."""
    info = probe(src)
    decoded = list(Demuxer(src, info, config.decode)())[lo:hi]
    for frame in decoded:
        frame.scene_start = frame.index in starts
    remuxer = Remuxer(dst, src, info, config.encode, [])
    remuxer(iter(decoded))
    assert remuxer.frames_written == len(decoded)
    return remuxer.restarts


def keyframes(path: Path) -> list[int]:
    with av.open(str(path)) as c:
        return [i for i, f in enumerate(c.decode(video=0)) if f.key_frame]


def test_encoder_restarts_at_scene_cuts_are_independent_encodes(clip, tmp_path: Path) -> None:
    """With ``restart_at_scene_cuts`` the video is a chain of separate encodes, one per scene: its packets
    are byte for byte those of each scene encoded on its own (what a --ray segment on a scene cut is), with
    an IDR frame at each cut. Switched off, the one encoder codes through the cuts and the bytes differ."""
    src = clip(frames=40, options={"g": "250"})
    config = lossy_one_thread()
    cuts = {12, 27}
    chained = tmp_path / "chained.mp4"
    assert encode(src, chained, config, cuts) == 2
    parts = [tmp_path / f"part{i}.mp4" for i in range(3)]
    for part, (lo, hi) in zip(parts, [(0, 12), (12, 27), (27, None)]):
        assert encode(src, part, config, cuts, lo, hi) == 0  # a cut on a part's first frame: its own encoder
    assert packet_bytes(chained, "video") == [b for p in parts for b in packet_bytes(p, "video")]
    assert decoded_times(chained) == decoded_times(src)
    assert {0, 12, 27} <= set(keyframes(chained))

    config.encode.restart_at_scene_cuts = False
    continuous = tmp_path / "continuous.mp4"
    assert encode(src, continuous, config, cuts) == 0
    assert packet_bytes(continuous, "video") != packet_bytes(chained, "video")
    assert decoded_times(continuous) == decoded_times(src)


def test_no_encoder_overlap_across_a_scene_cut_the_encoder_restarts_at(clip) -> None:
    """A local run's encoder starts afresh on a scene cut and never sees past the next one, so a segment
    bounded by scene cuts gets no warm-up or run-out there (it would code differently from the local run);
    a boundary off a scene cut keeps its overlap."""
    src = clip(frames=60, options={"g": "5"})
    seg = SegmentConfig(seconds=0.8, min_seconds=0.4, max_seconds=1.2)
    cut_pts = 13 * 512  # frame 13 at 25 fps in a 1/12800 time base
    plain = plan_segments(src, probe(src), seg, scene_cuts=[cut_pts], overlap_frames=5)
    chained = plan_segments(src, probe(src), seg, scene_cuts=[cut_pts], overlap_frames=5, restarts_at_cuts=True)
    assert [(s.start_pts, s.end_pts) for s in chained] == [(s.start_pts, s.end_pts) for s in plain]
    assert [s.on_scene_cut for s in chained] == [True, True] + [False] * (len(chained) - 2)
    assert (plain[0].runout_frames, plain[1].warmup_frames) == (5, 5)
    assert (chained[0].runout_frames, chained[1].warmup_frames) == (0, 0)
    assert chained[1].runout_frames == 5 and all(s.warmup_frames == 5 for s in chained[2:])
