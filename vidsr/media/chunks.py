"""A long local run writes its video in chunks that survive a crash, so the same command resumes it.

Each chunk is its own encode (video only) in the work directory next to the output
(:mod:`vidsr.media.workdir`); when the last one is done they are joined by packet copy with the source's
audio and subtitles, exactly as a --ray job's segments are (:func:`vidsr.media.segments.join_segments`).

A chunk ends at the first scene cut after ``chunk_seconds`` of source time. With
``encode.restart_at_scene_cuts`` the encoder restarts there anyway, so chunking changes no byte of the
video; and the run's per-scene state (analysis, caches, smoothing) starts afresh there too, so a resumed
run, whose stages start at the chunk's first frame, continues exactly as the uninterrupted one would. A
video with no scene cut for ``2 x chunk_seconds`` (one long take, or a pipeline without degrade-analysis)
ends its chunk at the next source keyframe instead: one extra IDR frame, and on resume the stages start
there without history (temporal smoothing skips one frame's blend).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vidsr.config import EncodeConfig
from vidsr.frame import Frame
from vidsr.media.encoder_memory import MemoryPlan
from vidsr.media.probe import MediaInfo
from vidsr.media.remux import Remuxer
from vidsr.media.workdir import WorkDir

__all__ = ["Chunk", "ChunkWriter", "split_chunks", "resume_point"]


def _ends_chunk(frame: Frame, elapsed: float, seconds: float) -> bool:
    if elapsed >= seconds and frame.scene_start:
        return True
    return elapsed >= 2 * seconds and bool(frame.metadata.get("key_frame"))


class Chunk:
    """One chunk's frames, read from the run's frame iterator; once it is exhausted, ``end_pts`` is the pts of
    the frame that opened the next chunk (None: the video ended)."""

    def __init__(self, first: Frame, frames: Iterator[Frame], seconds: float) -> None:
        self.first = first
        self.end_pts: int | None = None
        self.next_first: Frame | None = None
        self._frames = frames
        self._seconds = seconds

    def __iter__(self) -> Iterator[Frame]:
        yield self.first
        start = self.first.time
        for frame in self._frames:
            elapsed = 0.0 if start is None or frame.time is None else frame.time - start
            if _ends_chunk(frame, elapsed, self._seconds):
                self.next_first, self.end_pts = frame, frame.pts
                return
            yield frame


def split_chunks(frames: Iterator[Frame], seconds: float) -> Iterator[Chunk]:
    """The frames as consecutive chunks; each chunk must be consumed before the next is asked for."""
    first = next(frames, None)
    while first is not None:
        chunk = Chunk(first, frames, seconds)
        yield chunk
        first = chunk.next_first


class ChunkWriter:
    """The sink of a chunked local run: ``writer(frames)`` encodes chunk after chunk into ``workdir``,
    committing each (file, then record) the moment it is complete."""

    def __init__(
        self,
        workdir: WorkDir,
        src: Path,
        info: MediaInfo,
        encode: EncodeConfig,
        first_index: int,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        """``warn`` gets the encoder-memory notice of the first chunk's encoder (every chunk's encoder is set up
        alike, so it is said once)."""
        self.workdir = workdir
        self.src = src
        self.info = info
        self.encode = encode
        self.first_index = first_index
        self.frames_written = 0
        self.restarts = 0
        self.output_size: tuple[int, int] | None = None
        self.chunks = 0
        self.encoder_memory: MemoryPlan | None = None  # the chunks' encoders' (vidsr.media.encoder_memory)
        self._warn = warn

    def __call__(self, frames: Iterator[Frame]) -> None:
        for index, chunk in enumerate(split_chunks(frames, self.encode.chunk_seconds), start=self.first_index):
            tmp = self.workdir.scratch(index)
            remuxer = Remuxer(tmp, self.src, self.info, self.encode, [], name=f"chunk {index}",
                              warn=None if self.chunks else self._warn)
            try:
                remuxer(iter(chunk))
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            record = {"index": index, "start_pts": chunk.first.pts, "end_pts": chunk.end_pts,
                      "frames": remuxer.frames_written, "restarts": remuxer.restarts,
                      "output_size": remuxer.output_size}
            self.workdir.commit(index, tmp, record)
            self.frames_written += remuxer.frames_written
            self.restarts += remuxer.restarts
            self.output_size = remuxer.output_size
            self.encoder_memory = remuxer.encoder_memory or self.encoder_memory
            self.chunks += 1


def resume_point(records: dict[int, dict[str, Any]]) -> tuple[int, int | None, bool]:
    """From the finished chunks' records: how many lead the video without a gap, the pts the run goes on
    from (None: the start), and whether they already reach the end."""
    n = 0
    while n in records:
        n += 1
    if n == 0:
        return 0, None, False
    end = records[n - 1].get("end_pts")
    return n, end, end is None
