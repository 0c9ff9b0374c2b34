"""Text subtitles converted into the text format the output container holds, as ffmpeg does: SubRip or ASS
into MP4/MOV become mov_text, mov_text into Matroska becomes SubRip, anything textual into WebM becomes WebVTT.

FFmpeg's own decoders and encoders do the work (through PyAV): a cue is decoded to an ASS event and encoded
again, so styling each format can carry (italics, bold) survives, and every cue keeps its start and duration.
Bitmap subtitles (DVD, PGS) have no such route and stay dropped with a warning.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
from av.subtitles.subtitle import SubtitleSet

__all__ = ["TEXT_SUBTITLES", "text_subtitle_target", "add_converted_stream", "convert_packet"]

# FFmpeg's decoders that give text (ASS events) rather than bitmaps
TEXT_SUBTITLES = frozenset({"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text", "microdvd", "subviewer",
                            "subviewer1", "sami", "realtext", "mpl2", "jacosub", "pjs", "vplayer", "stl"})
# output formats in the order they are preferred where a container takes several (Matroska takes SubRip and ASS:
# SubRip, as the issue and most players expect; ASS sources are copied there anyway)
_TARGETS = ("mov_text", "subrip", "ass", "webvtt")


def text_subtitle_target(codec: str, out_name: str) -> str | None:
    """The text subtitle format ``out_name``'s container holds, for a ``codec`` stream it refused; None when
    ``codec`` is not text or the container holds no text subtitles."""
    if codec not in TEXT_SUBTITLES:
        return None
    buf = io.BytesIO()
    buf.name = out_name
    try:
        with av.open(buf, "w") as oc:
            supported = oc.supported_codecs
    except (av.FFmpegError, ValueError):
        return None
    return next((t for t in _TARGETS if t in supported and t != codec), None)


def add_converted_stream(out: av.container.OutputContainer, source: av.stream.Stream,
                         target: str) -> av.stream.Stream:
    """A ``target`` subtitle stream in ``out`` whose encoder takes the source decoder's ASS header (styles,
    play resolution), so the converted cues are styled as the source's."""
    decoder = source.codec_context
    if not decoder.is_open:
        decoder.open()  # a text decoder makes its ASS header when opened
    stream = out.add_stream(target)
    encoder = stream.codec_context
    encoder.subtitle_header = decoder.subtitle_header or _DEFAULT_HEADER
    encoder.time_base = source.time_base or Fraction(1, 1000)
    return stream


def convert_packet(packet: av.Packet, stream: av.stream.Stream) -> list[av.Packet]:
    """``packet``'s cues encoded for ``stream``, with its own start and duration (an empty cue, a gap marker in
    mov_text, gives none: the output's muxer writes its own gaps)."""
    if not packet.size or packet.pts is None:
        return []
    duration = int(packet.duration or 0)
    out = []
    for cue in packet.stream.codec_context.decode(packet):
        event = getattr(cue, "ass", None)
        if not event:
            continue  # a bitmap rectangle: nothing to carry as text
        ms = round(duration * packet.time_base * 1000) if packet.time_base is not None else duration
        encoded = stream.codec_context.encode_subtitle(SubtitleSet.create(bytes(event), 0, int(ms), packet.pts))
        encoded.pts = encoded.dts = packet.pts
        encoded.duration = duration
        encoded.time_base = packet.time_base
        encoded.stream = stream
        out.append(encoded)
    return out


# what FFmpeg's text decoders produce when a source gives none: one default style
_DEFAULT_HEADER = (b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
                   b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
                   b"Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
                   b"Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n"
                   b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1\n\n"
                   b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")
