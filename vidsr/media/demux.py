"""demux: decode the video stream into Frames with their source timestamps, counting what was lost."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import av

from vidsr.config import DecodeConfig
from vidsr.frame import Frame
from vidsr.media.deinterlace import Deinterlacer, is_interlaced_order
from vidsr.media.probe import EXACT_COLOUR, MediaInfo, open_input

__all__ = ["Demuxer"]


class Demuxer:
    """The source of the graph: ``demuxer()`` yields every decodable frame in presentation order.

    Frames are converted to RGB with the source's own matrix and range (full-range RGB, 8-bit for
    8-bit sources, 16-bit for deeper ones); remux converts back with the same matrix, so colours
    round-trip. Damaged packets are skipped and counted instead of stopping the run.
    """

    def __init__(
        self,
        path: Path,
        info: MediaInfo,
        decode: DecodeConfig,
        start_pts: int | None = None,
        end_pts: int | None = None,
        pts_offset: int = 0,
    ) -> None:
        """``start_pts``/``end_pts`` (video time base) select the segment ``[start, end)``, for scale-out and
        previews: decoding seeks to the keyframe at or before ``start_pts`` and drops frames outside the range.
        ``pts_offset`` is taken off every frame's pts (a preview starts at 0, as ffmpeg's -ss makes it).

        ``decode.deinterlace`` (auto: when the stream's field order or a frame's flag says interlaced; on, tff,
        bff: every frame; off) runs FFmpeg's bwdif on the decoded frames, before anything is dropped, so the first kept
        frame has its neighbour; ``deinterlaced`` then counts the frames it rebuilt."""
        self.path = path
        self.info = info
        self.decode = decode
        self.start_pts = start_pts
        self.end_pts = end_pts
        self.pts_offset = pts_offset
        self.packets = 0
        self.packets_failed = 0
        self.frames = 0
        self.frames_corrupt = 0
        self.deinterlacer: Deinterlacer | None = None
        self.field_order = 0  # the stream's, as FFmpeg reads it from the headers (vidsr.media.deinterlace)

    @property
    def frames_lost(self) -> int:
        """Frames the file should hold that could not be decoded (damaged or missing data)."""
        return max(self.packets - self.frames, 0)

    def __call__(self) -> Iterator[Frame]:
        v = self.info.video
        rgb = "rgb24" if v.bit_depth <= 8 else "rgb48le"
        src_range = 2 if v.pix_fmt.startswith("yuvj") else (v.color_range or 1)
        colorspace = v.colorspace if v.colorspace not in (0, 2) else None
        with open_input(self.path) as container:
            stream = container.streams.video[0]
            self.field_order = int(stream.codec_context.field_order or 0)
            stream.thread_type = self.decode.thread_type
            if self.decode.threads:
                stream.codec_context.thread_count = self.decode.threads
            if self.start_pts:
                try:
                    container.seek(self.start_pts, stream=stream, backward=True, any_frame=False)
                except av.FFmpegError:
                    # Matroska refuses (EPERM) a target before the video's first keyframe, as when other
                    # streams start earlier: read from the beginning, the frames before the start are dropped
                    pass
            for packet in self._packets(container, stream):
                if self.end_pts is not None and packet.dts is not None and packet.dts >= self.end_pts + self._reorder:
                    break  # past the segment, beyond any frame still to be reordered into it
                if packet.size and self._in_range(packet.pts):
                    self.packets += 1
                try:
                    decoded = packet.decode()
                except (av.InvalidDataError, av.FFmpegError):
                    self.packets_failed += 1
                    continue
                for frame, source in self._deinterlaced(decoded):
                    if not self._in_range(source.pts):
                        continue
                    if source.is_corrupt:
                        self.frames_corrupt += 1
                    yield self._to_frame(frame, source, stream, rgb, colorspace, src_range)
            if self.deinterlacer is not None:
                for frame, source in self.deinterlacer.flush():
                    if self._in_range(source.pts):
                        self.frames_corrupt += bool(source.is_corrupt)
                        yield self._to_frame(frame, source, stream, rgb, colorspace, src_range)
            if self.start_pts is None and self.end_pts is None:
                # a truncated file ends early without an error: the container's index says how many frames it had
                self.packets = max(self.packets, self.info.video.frames)

    def _to_frame(self, frame: av.VideoFrame, source: av.VideoFrame, stream: av.VideoStream, rgb: str,
                  colorspace: int | None, src_range: int) -> Frame:
        image = frame.to_ndarray(
            format=rgb, src_colorspace=colorspace, src_color_range=src_range, dst_color_range=2,
            interpolation=EXACT_COLOUR,
        )
        out = Frame(
            image=image,
            pts=source.pts - self.pts_offset if source.pts is not None else None,
            time_base=source.time_base or stream.time_base,
            index=self.frames,
            metadata={"key_frame": bool(source.key_frame), "corrupt": bool(source.is_corrupt)},
        )
        self.frames += 1
        return out

    def _deinterlaced(self, decoded: list[av.VideoFrame]) -> Iterator[tuple[av.VideoFrame, av.VideoFrame]]:
        """``(frame, source)``: the frame to convert (deinterlaced where that is on) and the decoded one, whose
        timestamp and flags it keeps. In auto mode the filter starts at the first frame flagged interlaced (or at
        once, when the stream's field order says so) and then stays, one frame behind, to the end."""
        mode = self.decode.deinterlace
        for frame in decoded:
            if self.deinterlacer is None and mode != "off" and (
                mode != "auto" or frame.interlaced_frame or is_interlaced_order(self.field_order)
            ):
                forced = mode in ("on", "tff", "bff")
                self.deinterlacer = Deinterlacer(force=forced, parity=mode if mode in ("tff", "bff") else "auto")
            if self.deinterlacer is None:
                yield frame, frame
            else:
                yield from self.deinterlacer.push(frame)

    @property
    def deinterlaced(self) -> int:
        """Frames bwdif rebuilt from their fields (all that went through it when forced on)."""
        d = self.deinterlacer
        return 0 if d is None else (d.frames_in if d.force else d.frames_interlaced)

    @property
    def _reorder(self) -> int:
        """How far (in pts) a packet's dts may trail the frames it completes: a generous 2 s."""
        return int(2 / self.info.video.time_base)

    def _in_range(self, pts: int | None) -> bool:
        if pts is None:
            return self.start_pts is None
        return (self.start_pts is None or pts >= self.start_pts) and (self.end_pts is None or pts < self.end_pts)

    def _packets(self, container: av.container.InputContainer, stream: av.VideoStream) -> Iterator[av.Packet]:
        """Demux, treating a read error (a truncated or damaged file) as the end and its packets as lost."""
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:
                # the rest of the file cannot be read: count its packets as lost, flush the decoder
                self.packets += max(self.info.video.frames - self.packets, 0)
                flush = av.Packet()
                flush.stream = stream
                yield flush
                return
            yield packet
