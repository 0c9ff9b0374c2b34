"""remux: encode enhanced frames with their source timestamps and colour tags, copy the other streams.

Reads like PyAV's own examples: the output container is opened once, streams are set up once
from the first frame, then one loop encodes frames and writes packets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path

import av

from vidsr.config import EncodeConfig
from vidsr.errors import OutputError, UsageError
from vidsr.frame import Frame
from vidsr.media.colour_out import output_colour
from vidsr.media.containers import muxer_options
from vidsr.media.encoder_memory import MemoryPlan, plan_encoder_memory
from vidsr.media.heap import fill_fresh_memory
from vidsr.media.probe import EXACT_COLOUR, MediaInfo
from vidsr.media.rgb_to_yuv import to_video_frame
from vidsr.media.streams import SidePlan, SideStreams, clean_metadata

__all__ = ["Remuxer", "choose_pix_fmt", "check_codec"]

log = logging.getLogger("vidsr")

_DEPTH_FALLBACK = {8: "yuv420p", 10: "yuv420p10le", 12: "yuv420p12le", 16: "yuv420p12le"}
# SVT-AV1 takes presets 0 (slowest) to 13; the pipelines speak x264's names, so those map onto its scale
_SVT_PRESETS = {"placebo": 2, "veryslow": 3, "slower": 4, "slow": 6, "medium": 8, "fast": 9, "faster": 10,
                "veryfast": 11, "superfast": 12, "ultrafast": 13}
_FULL_RANGE_ALIASES = {"yuvj420p": "yuv420p", "yuvj422p": "yuv422p", "yuvj444p": "yuv444p"}
# MPEG-1/2 video runs on a frame clock: time base 1/rate at one of the standard rates (any other clock is
# "Invalid argument"), one tick a frame, so it holds constant frame rate only
_FRAME_CLOCK_CODECS = {"mpeg1video", "mpeg2video"}
_MPEG_RATES = [Fraction(24000, 1001), Fraction(24), Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(50),
               Fraction(60000, 1001), Fraction(60)]


def mpeg_qscale(crf: int) -> int:
    """The MPEG-1/2 quantiser for ``--crf``: without one the stream's encoder and a fresh one at a scene cut
    fell back to different rate controls (PyAV's bit_rate 0, FFmpeg's 200 kb/s), both far below an upscaled
    video's needs."""
    return max(2, min(31, round(crf / 6)))


def mpeg_rate(rate: Fraction | None) -> Fraction:
    """The standard MPEG frame rate for a source's ``rate``: the same one (within 0.1%), else the lowest above it
    (no two frames share a tick; the gaps stay gaps in time), else 60."""
    rate = rate or Fraction(25)
    for standard in _MPEG_RATES:
        if abs(standard - rate) <= rate / 1000 or standard > rate:
            return standard
    return _MPEG_RATES[-1]


def check_codec(codec: str) -> av.Codec:
    try:
        c = av.Codec(codec, "w")
    except (av.FFmpegError, ValueError):
        raise UsageError(f"unknown video encoder '{codec}' (try libx264, libx265, libsvtav1, libvpx-vp9)") from None
    if c.type != "video":
        raise UsageError(f"'{codec}' is a {c.type} encoder, not a video encoder")
    return c


def encoder_preset(codec: str, preset: str) -> str:
    """The preset as the encoder spells it: x264's names for SVT-AV1 become its numbers (medium -> 8)."""
    if codec != "libsvtav1" or preset.lstrip("-").isdigit():
        return preset
    if preset not in _SVT_PRESETS:
        raise UsageError(f"--preset {preset} means nothing to libsvtav1: give 0-13 (lower is slower and better) "
                         f"or one of {', '.join(_SVT_PRESETS)}")
    return str(_SVT_PRESETS[preset])


def _depth(pix_fmt: str) -> int:
    return max(c.bits for c in av.VideoFormat(pix_fmt).components)


def choose_pix_fmt(codec: str, source_pix_fmt: str, requested: str | None) -> str:
    """Keep the source's layout and depth when the encoder takes it; never lose bits silently."""
    supported = [f.name for f in (check_codec(codec).video_formats or [])]
    if requested:
        if supported and requested not in supported:
            takes = ", ".join(supported)
            raise UsageError(f"encoder {codec} does not take pixel format {requested} (it takes {takes})")
        return requested
    src = _FULL_RANGE_ALIASES.get(source_pix_fmt, source_pix_fmt)
    if not supported or src in supported:
        return src
    depth = _depth(source_pix_fmt)
    fallback = _DEPTH_FALLBACK.get(depth, "yuv420p")
    if fallback in supported:
        return fallback
    if depth > 8:
        raise UsageError(
            f"encoder {codec} cannot keep this {depth}-bit video (it takes {', '.join(supported)}); "
            "use --codec libx265 or libx264"
        )
    return supported[0]


class Remuxer:
    """The sink of the graph: ``remuxer(frames)`` writes the whole output to ``path`` and closes it."""

    def __init__(
        self,
        path: Path,
        src: Path,
        info: MediaInfo,
        encode: EncodeConfig,
        side: list[SidePlan],
        name: str | None = None,
        keep: tuple[int | None, int | None] | None = None,
        side_window: tuple[Fraction, Fraction | None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        """``side`` lists what to do with the other streams; an empty list writes the video alone (a segment
        of a scale-out job, whose audio the driver copies once when it joins the segments).

        ``keep = (start_pts, end_pts)`` (None: open) writes only the frames in that range; the others warm up
        the encoder or run out its lookahead and are dropped. The frames at ``start_pts`` and ``end_pts`` are
        forced keyframes (closed GOPs), so no kept frame references a dropped one.

        ``side_window`` (source seconds) keeps only that span of the other streams, moved back to start at 0, for
        a preview whose frames the demuxer moved back the same way (vidsr.media.window).

        ``warn`` gets the one-line notice when ``encode.max_megabytes`` lowers the encoder's settings (once per
        Remuxer; None: nothing is said, as for a chunk after the first)."""
        self.path = path
        self.name = name or path.name  # what errors call the output (the user's name, not the temporary one)
        self.src = src
        self.info = info
        self.encode = encode
        self.side = side
        self.pix_fmt = choose_pix_fmt(encode.codec, info.video.pix_fmt, encode.pix_fmt)
        self.frames_written = 0
        self.packets_copied = 0
        self.output_size: tuple[int, int] | None = None
        self.restarts = 0  # fresh encoders started at scene cuts (``EncodeConfig.restart_at_scene_cuts``)
        # the encoder memory estimate and what it lowered (``EncodeConfig.max_megabytes``); None: no cap or no model
        self.encoder_memory: MemoryPlan | None = None
        self._warn = warn
        self.keep = keep
        self.side_window = side_window
        # a frame-clock encoder (MPEG-1/2): its rate, its encoder's first frame's time, each tick's source pts
        clocked = check_codec(encode.codec).canonical_name in _FRAME_CLOCK_CODECS
        self._clock_rate = mpeg_rate(info.video.average_rate) if clocked else None
        self._origin: Fraction | None = None
        self._last: tuple[int, Fraction] | None = None  # the latest tick and its frame's time
        self._source_pts: dict[int, int] = {}
        fill_fresh_memory()  # x264 reads heap memory it never wrote: make that repeatable (vidsr.media.heap)

    def _kept(self, pts: int | None) -> bool:
        if self.keep is None or pts is None:
            return True
        start, end = self.keep
        return (start is None or pts >= start) and (end is None or pts < end)

    def _video_stream(self, out: av.container.OutputContainer, first: Frame) -> av.VideoStream:
        v = self.info.video
        stream = out.add_stream(self.encode.codec, rate=self._rate())
        if stream.codec_context.codec.canonical_name == "hevc" and out.format.name in ("mp4", "mov"):
            stream.codec_tag = "hvc1"  # what Apple players need (FFmpeg's default hev1 will not play there)
        stream.width, stream.height = first.width, first.height
        stream.pix_fmt = self.pix_fmt
        stream.time_base = v.time_base  # the source's clock, so pts are written unchanged
        self._configure(stream.codec_context, first)
        if v.rotation:
            stream.set_display_rotation(v.rotation)
        stream.metadata.update(clean_metadata(v.metadata))
        return stream

    def _rate(self) -> Fraction:
        if self._clock_rate is not None:
            return self._clock_rate
        return self.info.video.average_rate or Fraction(25)

    def _configure(self, cc: av.VideoCodecContext, first: Frame) -> None:
        """Every encoder setting, in one place: the stream's encoder and each fresh one after a scene cut
        must be set up identically (a --ray segment's encoder is the stream encoder of its own file)."""
        v = self.info.video
        cc.width, cc.height = first.width, first.height
        cc.pix_fmt = self.pix_fmt
        cc.framerate = self._rate()
        cc.time_base = v.time_base if self._clock_rate is None else 1 / self._clock_rate
        colour = output_colour(v, self.pix_fmt, first.width, first.height)  # an RGB source gets a YUV matrix
        cc.color_range, cc.colorspace = colour.color_range, colour.colorspace
        cc.color_primaries, cc.color_trc = colour.color_primaries, colour.color_trc
        if v.sample_aspect_ratio:
            cc.sample_aspect_ratio = v.sample_aspect_ratio
        if self.encode.threads:
            cc.thread_count = self.encode.threads
        if self.encode.gop_seconds:
            cc.gop_size = max(1, round(float(self._rate()) * self.encode.gop_seconds))
        options = {"crf": str(self.encode.crf), "preset": encoder_preset(self.encode.codec, self.encode.preset)}
        if self._clock_rate is not None:  # constant quality, as -q:v: --crf 18 is quantiser 3 (2 best, 31 worst)
            cc.bit_rate = 0  # no bit rate (the stream's is 0, a bare context's 200 kb/s): one sequence header
            q = str(mpeg_qscale(self.encode.crf))
            options = {"qmin": q, "qmax": q}  # (-q:v's qscale flag needs a quality on each frame, which PyAV lacks)
        given = dict(self.encode.options)
        if self.encode.codec == "libx265":
            own = ":".join(["log-level=error", *v.hdr_metadata.x265_params()])
            # the pipeline's x265-params join vidsr's (HDR metadata), after them so that a key it repeats wins
            options["x265-params"] = f"{own}:{given.pop('x265-params')}" if given.get("x265-params") else own
        options.update(given)
        cc.options = self._within_memory(cc, options, first)

    def _within_memory(self, cc: av.VideoCodecContext, options: dict[str, str], first: Frame) -> dict[str, str]:
        """``options`` with the encoder's buffers brought within ``encode.max_megabytes``: the same plan for every
        encoder of this output (the decision reads only the config, the frame size and this machine's CPUs);
        unchanged where the estimate fits or the encoder has no model."""
        gop = self.encode.gop_seconds
        plan = plan_encoder_memory(
            self.encode.codec, options.get("preset", self.encode.preset), self.encode.crf, self.encode.threads,
            options, first.width, first.height, self.pix_fmt, self.encode.max_megabytes,
            sliced=cc.thread_type == av.codec.context.ThreadType.SLICE,
            keyint=max(1, round(float(self._rate()) * gop)) if gop else None,
        )
        if plan is None:
            return options
        if plan.changes and self.encoder_memory is None and self._warn is not None:
            self._warn(plan.notice())
        self.encoder_memory = plan
        return plan.options

    def _fresh_encoder(self, stream: av.VideoStream, first: Frame) -> av.VideoCodecContext:
        """A new encoder for ``stream`` from ``first`` on: same settings and container flags (global
        headers), so its parameter sets equal the stream's and its packets join the stream as they are.

        The previous encoder is flushed by now: an MPEG frame clock starts again at 0 with the new encoder (its
        rate control counts the bits due from its pts), as a --ray segment's or a chunk's encoder starts."""
        self._origin, self._last = None, None
        self._source_pts.clear()
        cc = av.CodecContext.create(self.encode.codec, "w")
        self._configure(cc, first)
        cc.flags = stream.codec_context.flags
        cc.open()
        if cc.extradata != stream.codec_context.extradata:
            raise OutputError(f"{self.encode.codec} gave a restarted encoder other stream headers; "
                              "set encode.restart_at_scene_cuts: false")
        return cc

    def _to_av(self, frame: Frame) -> av.VideoFrame:
        v = self.info.video
        colour = output_colour(v, self.pix_fmt, frame.width, frame.height)  # the matrix the tags name
        # in bands of rows above 4K: a whole 15360x8640 conversion holds ~950 MB beside the frame
        out = to_video_frame(frame.image, self.pix_fmt, colour.matrix, colour.matrix_range, EXACT_COLOUR)
        out.pts = frame.pts
        out.time_base = frame.time_base
        if self._clock_rate is not None and frame.pts is not None:
            out.pts, out.time_base = self._tick(frame), 1 / self._clock_rate
        if self.keep is not None and frame.pts is not None and frame.pts in self.keep:
            out.pict_type = av.video.frame.PictureType.I  # an IDR where x264 keeps closed GOPs (its default)
        return out

    def _tick(self, frame: Frame) -> int:
        """A frame's tick on an MPEG frame clock: its time from the first frame's, rounded to the frame grid;
        two frames on one tick (a variable frame rate) are refused, as the codec cannot hold them."""
        assert self._clock_rate is not None and frame.pts is not None
        t = frame.pts * frame.time_base
        if self._origin is None:
            self._origin = t
        tick = round((t - self._origin) * self._clock_rate)
        if self._last is not None and tick <= self._last[0]:
            raise OutputError(
                f"{self.encode.codec} holds a constant frame rate only, and the frames at {float(self._last[1]):.3f} s "
                f"and {float(t):.3f} s fall on one frame of its {float(self._clock_rate):.3f} fps clock (a variable "
                "frame rate source): use --codec libx264, or a .mkv or .mp4 output")
        self._last = (tick, t)
        self._source_pts[tick] = frame.pts
        return tick

    def _to_source_clock(self, packet: av.Packet, reordered: bool) -> None:
        """An MPEG packet's ticks back on the source's clock: each frame's own source pts, so timestamps (and
        ``keep``) are the source's; a tick between or before frames (a dts) placed from the first frame.

        Without B-frames (``reordered`` False, the MPEG encoders' default) frames decode in presentation order,
        so dts is pts: the encoder's one-frame dts delay would put the first dts below zero, which a program
        stream cannot store, and the muxer would move the whole output (or one chunk of it) a frame late."""
        assert self._clock_rate is not None and self._origin is not None
        tb = self.info.video.time_base
        tick_s = 1 / self._clock_rate

        def back(tick: int | None) -> int | None:
            if tick is None:
                return None
            if tick in self._source_pts:
                return self._source_pts[tick]
            return round((self._origin + tick * tick_s) / tb)

        pts, dts = back(packet.pts), back(packet.dts)
        if not reordered and pts is not None:
            dts = pts
        duration = round(packet.duration * tick_s / tb) if packet.duration else 0
        if packet.dts is not None:  # later packets' pts and dts are never below this dts
            while self._source_pts and next(iter(self._source_pts)) < packet.dts:
                del self._source_pts[next(iter(self._source_pts))]
        packet.time_base = tb
        packet.pts, packet.dts, packet.duration = pts, dts, duration

    def __call__(self, frames: Iterator[Frame]) -> None:
        try:
            self._write(frames)
        except av.FFmpegError as err:
            reason = " ".join((getattr(err, "strerror", None) or str(err)).split())
            raise OutputError(f"writing {self.name} failed: {self._why(reason)}") from None
        except OSError as err:
            raise OutputError(f"writing {self.name} failed: {self._why(err.strerror or str(err))}") from None

    def _why(self, reason: str) -> str:
        """A folder removed under a running job reads as 'No such file or directory': say what happened."""
        if not self.path.parent.is_dir():
            return f"its folder {self.path.parent} was removed during the run"
        return reason

    def _restarts_at(self, frame: Frame) -> bool:
        return self.encode.restart_at_scene_cuts and frame.scene_start

    def _write(self, frames: Iterator[Frame]) -> None:
        with av.open(str(self.path), "w", options=muxer_options(self.path)) as out:
            out.metadata.update(clean_metadata(self.info.metadata))
            stream: av.VideoStream | None = None
            encoder: av.VideoCodecContext | None = None
            side: SideStreams | None = None
            try:
                for frame in frames:
                    if stream is None:
                        stream = self._video_stream(out, frame)
                        encoder = stream.codec_context
                        side = SideStreams(self.src, self.side, out, self.side_window)
                        self.output_size = (frame.width, frame.height)
                    elif self._restarts_at(frame):
                        for packet in encoder.encode(None):
                            self._mux_video(out, stream, packet, side)
                        encoder = self._fresh_encoder(stream, frame)
                        self.restarts += 1
                    for packet in encoder.encode(self._to_av(frame)):
                        self._mux_video(out, stream, packet, side)
                    self.frames_written += self._kept(frame.pts)
                if stream is None or encoder is None or side is None:
                    raise OutputError("no frames reached the encoder; nothing to write")
                for packet in encoder.encode(None):
                    self._mux_video(out, stream, packet, side)
                side.finish()
                self.packets_copied = side.packets_copied
            finally:
                if side is not None:
                    side.close()

    def _mux_video(
        self, out: av.container.OutputContainer, stream: av.VideoStream, packet: av.Packet, side: SideStreams | None
    ) -> None:
        if self._clock_rate is not None:
            self._to_source_clock(packet, stream.codec_context.max_b_frames > 0)
        if not self._kept(packet.pts):
            return
        packet.stream = stream
        if side is not None and packet.dts is not None:
            side.write_until(float(packet.dts * packet.time_base) + 0.25)
        out.mux(packet)
