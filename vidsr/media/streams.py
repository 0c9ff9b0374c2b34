"""Audio, subtitle and data streams: decide per stream how the output keeps it, then copy it in time order.

Copy is packet for packet (bytes identical). When the output container refuses a stream's codec,
audio is transcoded with PyAV to one it accepts and a warning says so; a stream that can be neither
copied nor transcoded is dropped with a warning, never silently.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from vidsr.media.probe import open_input
from vidsr.media.subtitles import add_converted_stream, convert_packet, text_subtitle_target

__all__ = ["SidePlan", "plan_side_streams", "SideStreams"]

log = logging.getLogger("vidsr")

_SEEK_MARGIN_S = 2  # seconds read before a window's start and after its end (packets of other streams interleave)

# metadata that describes the old file, not the stream: rewritten by the muxer, never copied
_STALE_KEYS = {"encoder", "major_brand", "minor_version", "compatible_brands", "duration", "vendor_id"}


def clean_metadata(meta: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in meta.items() if k.lower() not in _STALE_KEYS and not k.upper().startswith("DURATION")}


@dataclass
class SidePlan:
    index: int
    type: str
    codec: str
    action: str  # "copy", "transcode" (audio), "convert" (text subtitles, vidsr.media.subtitles) or "drop"
    target_codec: str | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.action == "copy":
            return f"#{self.index} {self.type} {self.codec}: stream copy"
        if self.action == "transcode":
            return f"#{self.index} {self.type} {self.codec}: transcode to {self.target_codec} ({self.reason})"
        if self.action == "convert":
            return f"#{self.index} {self.type} {self.codec}: converted to {self.target_codec} ({self.reason})"
        return f"#{self.index} {self.type} {self.codec}: dropped ({self.reason})"


def _copy_accepted(stream: av.stream.Stream, out_name: str) -> str | None:
    """Try the stream copy into an in-memory container of the output's format; None if it works."""
    buf = io.BytesIO()
    buf.name = out_name
    try:
        with av.open(buf, "w") as oc:
            oc.add_stream_from_template(stream)
            oc.start_encoding()
    except (av.FFmpegError, ValueError, TypeError, NotImplementedError) as err:
        return " ".join(str(err).split()) or type(err).__name__
    return None


def _fallback_audio(out_name: str, preferred: str) -> str | None:
    buf = io.BytesIO()
    buf.name = out_name
    with av.open(buf, "w") as oc:
        candidates = [preferred, oc.default_audio_codec, "aac", "libopus", "flac"]
        supported = oc.supported_codecs
    for codec in candidates:
        if codec and (codec in supported or codec.removeprefix("lib") in supported):
            return codec
    return None


_DEFAULT_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


def _named_layout(stream: av.AudioStream) -> str:
    """Encoders refuse an unordered "N channels" layout; give them the usual one for that count."""
    layout = stream.codec_context.layout
    if layout is not None and not layout.name.endswith("channels"):
        return layout.name
    return _DEFAULT_LAYOUTS.get(stream.codec_context.channels, "stereo")


def plan_side_streams(src: str | Path, video_index: int, out_name: str, audio_fallback: str) -> list[SidePlan]:
    """What remux will do with every stream other than the enhanced video."""
    plans = []
    with open_input(src) as container:
        for s in container.streams:
            if s.index == video_index:
                continue
            codec = s.codec_context.name if s.codec_context else (s.type or "unknown")
            refusal = _copy_accepted(s, out_name)
            if refusal is None:
                plans.append(SidePlan(s.index, s.type, codec, "copy"))
            elif s.type == "audio" and (target := _fallback_audio(out_name, audio_fallback)):
                plans.append(SidePlan(s.index, s.type, codec, "transcode", target,
                                      f"{Path(out_name).suffix} does not accept {codec}"))
            elif s.type == "subtitle" and (target := text_subtitle_target(codec, out_name)):
                plans.append(SidePlan(s.index, s.type, codec, "convert", target,
                                      f"{Path(out_name).suffix} does not accept {codec}"))
            else:
                plans.append(SidePlan(s.index, s.type, codec, "drop",
                                      reason=f"{Path(out_name).suffix} does not accept {codec}; "
                                      f"{_where_kept(s, out_name)}"))
    return plans


# containers a dropped stream may fit in instead, in the order a user would reach for them
_ALTERNATIVES = (".mkv", ".mov", ".mp4", ".ts")


def _where_kept(stream: av.stream.Stream, out_name: str) -> str:
    """Which other output containers take ``stream`` by copy, tried as the output's own is: the advice used to
    be ".mkv" always, even on a .mkv output that had just refused a data track (MOV and MPEG-TS take it)."""
    own = Path(out_name).suffix.lower()
    fits = [ext for ext in _ALTERNATIVES if ext != own and _copy_accepted(stream, f"x{ext}") is None]
    if not fits:
        return "no container vidsr writes can hold it"
    return f"use {' or '.join(fits)} to keep it"


class SideStreams:
    """Reads the kept streams from a second handle on the input and writes them into ``out`` in time order.

    The remuxer calls :meth:`write_until` with the time of each video packet it writes, so the file
    is interleaved as it grows and nothing is buffered for long.
    """

    def __init__(self, src: str | Path, plans: list[SidePlan], out: av.container.OutputContainer,
                 window: tuple[Fraction, Fraction | None] | None = None) -> None:
        """``window = (start, end)`` (source seconds; end None: to the end) keeps only the packets in that span,
        every timestamp moved back by ``start``, as the video of a ``--start``/``--duration`` preview is; a
        subtitle already on screen at ``start`` is kept from there, shortened."""
        self.plans = {p.index: p for p in plans if p.action != "drop"}
        self._window = window
        self.packets_copied = 0
        self.frames_transcoded = 0
        self._out = out
        self._src = src
        self._in = open_input(src)
        self._map: dict[int, av.stream.Stream] = {}
        in_streams = [s for s in self._in.streams if s.index in self.plans]
        for s in in_streams:
            plan = self.plans[s.index]
            if plan.action == "copy":
                o = out.add_stream_from_template(s)
            elif plan.action == "convert":
                o = add_converted_stream(out, s, str(plan.target_codec))
            else:
                o = out.add_stream(plan.target_codec, rate=s.codec_context.sample_rate, layout=_named_layout(s))
                formats = av.Codec(plan.target_codec, "w").audio_formats or []
                if formats:  # the encoder's native sample format; PyAV resamples into it
                    o.codec_context.format = formats[0]
            o.metadata.update(clean_metadata(dict(s.metadata)))
            o.disposition = s.disposition
            self._map[s.index] = o
        if window is not None and in_streams:
            self._seek_before(window[0])
            in_streams = [s for s in self._in.streams if s.index in self.plans]  # the handle may be a new one
        self._packets: Iterator[av.Packet] | None = self._in.demux(*in_streams) if in_streams else None
        self._pending: av.Packet | None = None

    def _seek_before(self, start: Fraction) -> None:
        """Start reading a little before ``start`` (interleaving may put a packet of that time a bit earlier in
        the file); a file that cannot seek is read from its beginning, the window filter drops what is before."""
        try:
            self._in.seek(max(int((start - _SEEK_MARGIN_S) * 1_000_000), 0), backward=True, any_frame=False)
        except av.FFmpegError:
            self._in.close()
            self._in = open_input(self._src)

    def _in_window(self, packet: av.Packet) -> bool:
        """Whether ``packet`` falls in the window; if so, its timestamps are moved onto the output's clock (a
        subtitle that began before the start is cut to begin there)."""
        if self._window is None:
            return True
        start, end = self._window
        ts = packet.pts if packet.pts is not None else packet.dts
        if ts is None or packet.time_base is None:
            return False
        tb = packet.time_base
        t = ts * tb
        if end is not None and t >= end:
            return False
        if t < start:
            ends = t + (packet.duration or 0) * tb
            if packet.stream.type != "subtitle" or ends <= start:
                return False
            cut = round((start - t) / tb)  # still on screen at the start: shown from there, for what is left
            packet.pts, packet.duration = ts + cut, packet.duration - cut
            if packet.dts is not None:
                packet.dts += cut
        shift = round(start / tb)
        packet.pts = packet.pts - shift if packet.pts is not None else None
        packet.dts = packet.dts - shift if packet.dts is not None else None
        return True

    def _next(self) -> av.Packet | None:
        if self._pending is None and self._packets is not None:
            self._pending = next(self._packets, None)
            if self._pending is None:
                self._packets = None
        return self._pending

    def write_until(self, seconds: float | None) -> None:
        """Write every kept packet that starts at or before ``seconds`` (None: all that remain; output time)."""
        offset = float(self._window[0]) if self._window is not None else 0.0
        while (packet := self._next()) is not None:
            ts = packet.dts if packet.dts is not None else packet.pts
            t = float(ts * packet.time_base) - offset if ts is not None else None
            if seconds is not None and t is not None and t > seconds:
                return
            self._pending = None
            if self._window is not None and self._window[1] is not None and t is not None \
                    and t > float(self._window[1]) - offset + _SEEK_MARGIN_S:
                self._packets = None  # well past the window's end: nothing more to read
                return
            if self._in_window(packet):
                self._write(packet)

    def _write(self, packet: av.Packet) -> None:
        out_stream = self._map.get(packet.stream_index)
        if out_stream is None:
            return  # a stream not kept (the demuxer may still hand out its packets)
        plan = self.plans[packet.stream_index]
        if plan.action == "copy":
            if packet.dts is None and packet.size == 0:
                return  # the demuxer's end-of-stream marker
            packet.stream = out_stream
            self._out.mux(packet)
            self.packets_copied += 1
            return
        if plan.action == "convert":
            for converted in convert_packet(packet, out_stream):
                self._out.mux(converted)
                self.packets_copied += 1
            return
        for frame in packet.decode():
            self.frames_transcoded += 1
            self._out.mux(out_stream.encode(frame))

    def finish(self) -> None:
        """Write what remains and flush the transcoders."""
        self.write_until(None)
        for index, plan in self.plans.items():
            if plan.action == "transcode":
                self._out.mux(self._map[index].encode(None))

    def close(self) -> None:
        """Close the second input handle (safe to call twice)."""
        self._in.close()
